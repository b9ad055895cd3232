/** Plain-text formatting shared by the ops commands: aligned tables, ages, byte sizes, rates. */

/** Columns padded to the widest cell; numbers right-aligned. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => String(c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  // A column is numeric when every cell is a number, a figure with units (12MiB, 0/3, 1m05s) or "-" (no value), so it right-aligns.
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === "number" || /^(-?([\d.]+[a-zA-Z/%]*)+|-)$/.test(String(r[i]))));
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

export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n < 10 && i > 0 ? n.toFixed(1) : Math.round(n)}${units[i]}`;
}

export function rate(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n >= 10 ? n.toFixed(0) : n.toFixed(1);
}

export function ms(n: number | null | undefined): string {
  return n === null || n === undefined ? "-" : n >= 100 ? n.toFixed(0) : n.toFixed(1);
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
