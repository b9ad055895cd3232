/**
 * The six math benchmarks of spec §10 as problems: question, gold answer, and the reference
 * text used by the self-check (the benchmark's own solution when it has a `\boxed{}`, else
 * its answer written as `\boxed{…}`).
 *
 * Covers: the per-file field names (they differ: `problem`/`question`, `answer`/`final_answer`,
 * Minerva's gold only inside its solution). Not: scoring (math-equiv.ts).
 */
import { join } from "node:path";
import { readJsonl } from "./code-bench.ts";
import { boxedContents } from "./math-answer.ts";
import { BenchmarkDataError } from "./paths.ts";

export const MATH_BENCHMARKS = ["aime24", "aime25", "amc23", "math500", "minerva", "olympiadbench"] as const;
export type MathBenchmark = (typeof MATH_BENCHMARKS)[number];

const FOLDERS: Record<MathBenchmark, string> = {
  aime24: "aime24", aime25: "aime25", amc23: "amc23", math500: "math500", minerva: "minerva_math", olympiadbench: "olympiadbench",
};

export interface MathProblem {
  id: string;
  benchmark: MathBenchmark;
  question: string;
  gold: string;
  /** What the self-check submits as a model's answer. */
  reference: string;
  /** Units are stripped in normalisation except for Minerva (its answers carry them). */
  units: boolean;
}

interface MathRow {
  id?: string | number;
  idx?: number;
  unique_id?: string;
  problem?: string;
  question?: string;
  context?: string | null;
  solution?: string | string[];
  answer?: string | number;
  final_answer?: string[];
}

function goldOf(row: MathRow, benchmark: MathBenchmark, where: string, path: string): string {
  if (row.final_answer) return row.final_answer.join(", ");
  if (row.answer !== undefined) return String(row.answer);
  const boxed = boxedContents(typeof row.solution === "string" ? row.solution : "").at(-1);
  if (boxed === undefined) throw new BenchmarkDataError(`${where}: no answer field and no \\boxed{} in the solution (${benchmark})`, path);
  return boxed;
}

export function loadMathBenchmark(benchmarksDir: string, benchmark: MathBenchmark): MathProblem[] {
  const path = join(benchmarksDir, "math", FOLDERS[benchmark], "test.jsonl");
  return readJsonl<MathRow>(path).map(({ row }, i) => {
    const where = `${path}:${i + 1}`;
    const gold = goldOf(row, benchmark, where, path);
    const solution = typeof row.solution === "string" ? row.solution : "";
    const question = [row.context, row.problem ?? row.question].filter(Boolean).join("\n\n");
    if (!question) throw new BenchmarkDataError(`${where}: no problem/question text`, path);
    return {
      id: String(row.unique_id ?? row.id ?? row.idx ?? i),
      benchmark,
      question,
      gold,
      reference: boxedContents(solution).length > 0 ? solution : `\\boxed{${gold}}`,
      units: benchmark !== "minerva",
    };
  });
}
