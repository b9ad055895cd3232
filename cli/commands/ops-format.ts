/** Plain-text formatting shared by the ops commands: aligned tables, ages, byte sizes, rates. */

/**
 * A figure: digits or a dot first, then digits, dots, letters, `/`, `%`. Written without nested
 * repetition: `([\d.]+[a-zA-Z/%]*)+` said the same but backtracked exponentially on a long run
 * of digits followed by another character (a 30-digit name froze `azr top` for seconds).
 */
const NUMERIC_CELL = /^(-?[\d.][\d.a-zA-Z/%]*|-)$/;

/** Columns padded to the widest cell; numbers right-aligned. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => String(c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  // A column is numeric when every cell is a number, a figure with units (12MiB, 0/3, 1m05s) or "-" (no value), so it right-aligns.
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === "number" || NUMERIC_CELL.test(String(r[i]))));
  return cells
    .map((r) => r.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd())
    .join("\n");
}

export function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

/**
 * Sizes in binary units. The unit is chosen on the value as printed, so 1023.7 bytes is 1.0KiB,
 * not 1024B, and 9.97KiB is 10KiB, not 10.0KiB.
 */
export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1023.5 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n < 9.95 && i > 0 ? n.toFixed(1) : Math.round(n)}${units[i]}`;
}

/** Per-second rates: one decimal below 10, whole numbers to 999, thousands as `1.2k` (as printed: 999.7 is 1.0k). */
export function rate(n: number): string {
  return n >= 999.5 ? `${(n / 1000).toFixed(1)}k` : n >= 9.95 ? n.toFixed(0) : n.toFixed(1);
}

/** Milliseconds: one decimal below 100, whole above (as printed: 99.97 is 100, not 100.0). */
export function ms(n: number | null | undefined): string {
  return n === null || n === undefined ? "-" : n >= 99.95 ? n.toFixed(0) : n.toFixed(1);
}

/** `10m`, `2h`, `30s`, `1d` ago, or an ISO date/time → epoch ms. */
export function parseSince(s: string, now = Date.now()): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(s.trim());
  if (m) {
    const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "ms" | "s" | "m" | "h" | "d"];
    return now - Number(m[1]) * mult;
  }
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new Error(`--since '${s}': give a duration like 30s, 10m, 2h, 1d, or a date/time like 2026-11-26T10:00:00Z`);
  return t;
}
