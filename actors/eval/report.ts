/**
 * The results table: per benchmark accuracy, Code Avg, Math Avg and Total Avg as spec §10
 * defines them, and the published numbers beside ours when the model is one the paper reports.
 *
 * Covers: averages, the published table (reference README, spec §10), text and JSON forms.
 * Not: running anything.
 */
import type { Tally } from "./runner.ts";

export const CODE_BENCHMARKS = ["humaneval+", "mbpp+", "lcb"] as const;
export const MATH_SET = ["aime24", "aime25", "amc23", "math500", "minerva", "olympiadbench"] as const;
/** Problems in each benchmark as the paper scored it (spec §10; LCB: release v5). */
export const FULL_SIZE: Record<string, number> = { "humaneval+": 164, "mbpp+": 378, lcb: 880, aime24: 30, aime25: 30, amc23: 40, math500: 500, minerva: 272, olympiadbench: 675 };

export interface Published {
  model: string;
  codeAvg: [number, number];
  mathAvg: [number, number];
  totalAvg: [number, number];
  note?: string;
}

/** Base → AZR, from the reference's README (spec §10). */
export const PUBLISHED: Published[] = [
  { model: "Qwen2.5-7B", codeAvg: [52.0, 55.2], mathAvg: [27.5, 38.4], totalAvg: [39.8, 46.8] },
  { model: "Qwen2.5-Coder-3B", codeAvg: [51.2, 54.9], mathAvg: [18.8, 26.5], totalAvg: [35.0, 40.7] },
  { model: "Qwen2.5-Coder-7B", codeAvg: [56.6, 61.6], mathAvg: [23.9, 39.1], totalAvg: [40.2, 50.4], note: "AZR: HE+ 83.5, MBPP+ 69.6, LCB 31.7 (paper Table 1 via a secondary source, unverified)" },
  { model: "Qwen2.5-Coder-14B", codeAvg: [60.0, 63.6], mathAvg: [20.2, 43.0], totalAvg: [40.1, 53.3] },
  { model: "Llama-3.1-8B", codeAvg: [28.5, 31.6], mathAvg: [3.4, 6.8], totalAvg: [16.0, 19.2] },
];

/** The published row for a model name or path (`Qwen/Qwen2.5-7B`, `/models/qwen2.5-coder-7b`), if any. */
export function publishedFor(name: string): Published | undefined {
  const n = name.toLowerCase().replace(/\/+$/, "");
  const last = n.split("/").at(-1) ?? n;
  if (/instruct|chat/.test(last)) return undefined;
  // Longest names first, so "Qwen2.5-Coder-7B" is not read as "Qwen2.5-7B".
  return [...PUBLISHED].sort((a, b) => b.model.length - a.model.length).find((p) => last.includes(p.model.toLowerCase()));
}

export interface Results {
  model: string;
  suite: string;
  codePrompt: string;
  benchmarks: Record<string, { n: number; correct: number; accuracy: number }>;
  codeAvg?: number;
  mathAvg?: number;
  totalAvg?: number;
  /** The benchmarks each average is the mean of; fewer than the spec's (3 code, 6 math) means
   * the average is partial and not comparable with the published one. */
  codeAvgOf: string[];
  mathAvgOf: string[];
  published?: Published;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined);

export function summarise(model: string, suite: string, codePrompt: string, tallies: Map<string, Tally>, modelName = model): Results {
  const benchmarks: Results["benchmarks"] = {};
  for (const [b, t] of tallies) benchmarks[b] = { n: t.n, correct: t.correct, accuracy: t.n ? (100 * t.correct) / t.n : 0 };
  const present = (names: readonly string[]) => names.filter((b) => benchmarks[b]);
  const codeAvgOf = present(CODE_BENCHMARKS);
  const mathAvgOf = present(MATH_SET);
  const codeAvg = mean(codeAvgOf.map((b) => benchmarks[b].accuracy));
  const mathAvg = mean(mathAvgOf.map((b) => benchmarks[b].accuracy));
  const totalAvg = codeAvg !== undefined && mathAvg !== undefined ? (codeAvg + mathAvg) / 2 : undefined;
  return { model, suite, codePrompt, benchmarks, codeAvg, mathAvg, totalAvg, codeAvgOf, mathAvgOf, published: publishedFor(modelName) };
}

export function formatResults(r: Results): string {
  const f = (x: number | undefined) => (x === undefined ? "—" : x.toFixed(1));
  const lines = [`model ${r.model}   suite ${r.suite}   code prompt ${r.codePrompt}   (greedy, pass@1)`, ""];
  lines.push(`${"benchmark".padEnd(16)} ${"n".padStart(5)} ${"pass@1".padStart(7)}`);
  for (const [b, v] of Object.entries(r.benchmarks)) lines.push(`${b.padEnd(16)} ${String(v.n).padStart(5)} ${f(v.accuracy).padStart(7)}`);
  lines.push("");
  const pub = r.published;
  const head = pub ? `${"".padEnd(16)} ${"ours".padStart(7)}   paper ${pub.model}: base → AZR` : `${"".padEnd(16)} ${"ours".padStart(7)}`;
  lines.push(head);
  const row = (name: string, ours: number | undefined, p?: [number, number]) => `${name.padEnd(16)} ${f(ours).padStart(7)}${p ? `   ${p[0].toFixed(1)} → ${p[1].toFixed(1)}` : ""}`;
  // An average over fewer benchmarks than the spec's, or over some benchmark's first N problems
  // (--limit), is marked: it is not the paper's average.
  const subset = [...r.codeAvgOf, ...r.mathAvgOf].filter((b) => r.benchmarks[b].n < FULL_SIZE[b]);
  const codePartial = r.codeAvg !== undefined && (r.codeAvgOf.length < CODE_BENCHMARKS.length || r.codeAvgOf.some((b) => subset.includes(b)));
  const mathPartial = r.mathAvg !== undefined && (r.mathAvgOf.length < MATH_SET.length || r.mathAvgOf.some((b) => subset.includes(b)));
  const totalPartial = r.totalAvg !== undefined && (codePartial || mathPartial);
  lines.push(row(codePartial ? "Code Avg *" : "Code Avg", r.codeAvg, pub?.codeAvg));
  lines.push(row(mathPartial ? "Math Avg *" : "Math Avg", r.mathAvg, pub?.mathAvg));
  lines.push(row(totalPartial ? "Total Avg *" : "Total Avg", r.totalAvg, pub?.totalAvg));
  if (pub?.note) lines.push(`(${pub.note})`);
  lines.push("Code Avg = mean(HumanEval+, MBPP+, LCB); Math Avg = mean of the six; Total = (Code Avg + Math Avg) / 2 (spec §10).");
  if (codePartial || mathPartial) {
    const missing = [...CODE_BENCHMARKS.filter((b) => codePartial && !r.codeAvgOf.includes(b)), ...MATH_SET.filter((b) => mathPartial && !r.mathAvgOf.includes(b))];
    const why = [
      ...(missing.length ? [`without ${missing.join(", ")}`] : []),
      ...(subset.length ? [`on ${subset.map((b) => `${r.benchmarks[b].n}/${FULL_SIZE[b]} of ${b}`).join(", ")}`] : []),
    ];
    lines.push(`* partial: ${why.join("; ")}, so not comparable with the paper's average.`);
  }
  return lines.join("\n");
}
