/**
 * The bench convention: every benchmark prints our figure beside the peer's and writes
 * bench/out/<name>.json as {name, rows:[{metric, unit, ours, peer, ratio}]}, ratio = ours ÷ peer.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface BenchRow {
  metric: string;
  unit: string;
  ours: number;
  peer: number | null;
  ratio?: number | null;
}

export interface BenchReport {
  name: string;
  peer: string;
  rows: BenchRow[];
  notes?: string[];
}

const OUT_DIR = join(dirname(fileURLToPath(import.meta.url)), "out");

function fmt(x: number | null | undefined): string {
  if (x === null || x === undefined || Number.isNaN(x)) return "—";
  const a = Math.abs(x);
  return a >= 1000 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : a >= 0.01 ? x.toFixed(3) : x.toExponential(2);
}

/** Prints the table and writes the JSON file; returns the rows with ratios filled in. */
export function report(r: BenchReport): BenchRow[] {
  const rows = r.rows.map((row) => ({
    ...row,
    ratio: row.ratio ?? (row.peer ? row.ours / row.peer : null),
  }));
  const header = ["metric", "unit", "ours", `peer (${r.peer})`, "ours/peer"];
  const table = [header, ...rows.map((x) => [x.metric, x.unit, fmt(x.ours), fmt(x.peer), fmt(x.ratio)])];
  const widths = header.map((_, i) => Math.max(...table.map((t) => t[i].length)));
  const line = (t: string[]) => t.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log(`\n## ${r.name}`);
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const t of table.slice(1)) console.log(line(t));
  for (const n of r.notes ?? []) console.log(`note: ${n}`);
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(join(OUT_DIR, `${r.name}.json`), JSON.stringify({ name: r.name, peer: r.peer, rows, notes: r.notes ?? [] }, null, 2) + "\n");
  return rows;
}
