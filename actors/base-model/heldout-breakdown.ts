/**
 * `node --import tsx actors/base-model/heldout-breakdown.ts [--type deduction] [--by template|level] <base.problems.jsonl> <run.problems.jsonl ...>`
 *
 * Where self-play's change on the tiny held-out set lands: `azr eval --suite tiny` records split by
 * the generator's template or difficulty level of each task's program (heldout-programs.jsonl),
 * with the base model's accuracy and each run's change against it per group, and the mean change
 * over the runs; for deduction, how many of the base model's wrong answers are an integer for an
 * integer (mostly arithmetic). Groups are small: read a change of a few points on a few dozen tasks
 * as noise.
 * Covers: the report. Not: scoring (azr eval), intervals (azr eval --compare).
 */
import { readJsonl } from "../eval/code-bench.ts";
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { readRecords, type ProblemRecord } from "../eval/runner.ts";
import { recordProgramId, recordType, TINY_TYPES } from "../eval/tiny-suite.ts";

interface HeldOutProgram { id: string; level: number; template: string }

function main(): void {
  const a = yargs(hideBin(process.argv))
    .usage("$0 [options] <base.problems.jsonl> <run.problems.jsonl ...>")
    .option("type", { choices: TINY_TYPES, default: "deduction" as const, describe: "the task type to break down" })
    .option("by", { choices: ["template", "level"] as const, default: "template" as const, describe: "group tasks by the program's generator template or difficulty level" })
    .option("heldout", { type: "string", default: "data/tiny/heldout-programs.jsonl", describe: "the held-out programs (make-heldout's heldout-programs.jsonl)" })
    .demandCommand(2, "name the base model's records file, then one or more runs' (<out>.problems.jsonl)")
    .strict()
    .parseSync();
  const programs = new Map(readJsonl<HeldOutProgram>(a.heldout).map(({ row }) => [row.id, row] as const));
  const files = a._.map(String);
  const [base, ...runs] = files.map((f) => {
    const records = [...readRecords(f).values()].filter((r) => recordType(r) === a.type);
    if (!records.length) throw new Error(`${f}: no ${a.type} records (is it an azr eval --suite tiny <out>.problems.jsonl?)`);
    return new Map(records.map((r) => [r.id, r] as const));
  });
  // a task a run has no record of would count as a wrong answer: an unfinished run's change is not one
  runs.forEach((run, i) => {
    const missing = [...base.keys()].filter((id) => !run.has(id));
    if (missing.length) {
      throw new Error(`${files[i + 1]}: no record of ${missing.length} of the base's ${base.size} ${a.type} tasks (e.g. ${missing[0]}): an unfinished azr eval? Finish it (it resumes its records file) or leave it out`);
    }
  });
  const group = (r: ProblemRecord): string => {
    const p = programs.get(recordProgramId(r));
    if (!p) throw new Error(`record ${r.id} names a program not in ${a.heldout}: records of another held-out set?`);
    return String(a.by === "level" ? p.level : p.template);
  };
  const rows = new Map<string, { n: number; base: number; runs: number[] }>();
  for (const [id, r] of base) {
    const row = rows.get(group(r)) ?? { n: 0, base: 0, runs: runs.map(() => 0) };
    row.n++;
    row.base += r.correct ? 1 : 0;
    runs.forEach((run, i) => { row.runs[i] += run.get(id)?.correct ? 1 : 0; });
    rows.set(group(r), row);
  }
  const pts = (x: number, n: number) => (100 * x / n).toFixed(1);
  const signed = (x: number, n: number) => `${x >= 0 ? "+" : ""}${pts(x, n)}`;
  console.log(`${a.type} by ${a.by}: tasks, base accuracy %, change of each run (points), mean change`);
  for (const [k, r] of [...rows].sort((x, y) => y[1].n - x[1].n || (x[0] < y[0] ? -1 : 1))) {
    const changes = r.runs.map((c) => c - r.base);
    const mean = changes.reduce((s, c) => s + c, 0) / Math.max(1, changes.length);
    console.log(`  ${k.padEnd(20)} ${String(r.n).padStart(5)}  ${pts(r.base, r.n).padStart(5)}  ${changes.map((c) => signed(c, r.n).padStart(6)).join(" ")}   mean ${signed(mean, r.n)}`);
  }
  if (a.type !== "deduction") return; // abduction and induction answers are inputs and programs: no value to compare
  const wrong = [...base.values()].filter((r) => !r.correct);
  const intForInt = wrong.filter((r) => /^mismatch: -?\d+ ≠ gold -?\d+$/.test(r.detail ?? "")).length;
  console.log(`base model's wrong ${a.type} answers: ${wrong.length}, of which an integer for an integer: ${intForInt} (${pts(intForInt, wrong.length)}%)`);
}

main();
