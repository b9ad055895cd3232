/**
 * Generated programs → true input/output pairs: draws candidate inputs for each program, runs
 * them (harness or executor: runners.ts) and keeps the program only if enough pairs pass self-play's rules.
 * Covers: candidate inputs, the keep/drop decision, survival statistics and throughput.
 * Not: generating programs (azr/corpus/programs.ts) or formatting them (azr/corpus/format.ts).
 */
import type { ExecutedProgram } from "../../azr/corpus/format.ts";
import type { GeneratedProgram } from "../../azr/corpus/programs.ts";
import { Rng } from "../../azr/corpus/rng.ts";
import { distinctInputs } from "../../azr/corpus/values.ts";
import type { PairRunner } from "./runners.ts";

export interface ExecuteOptions {
  /** Seed for the candidate inputs (with the program id). */
  seed: number;
  /** Pairs kept per program at most (the first passing ones). */
  pairsPerProgram?: number;
  /** Candidate inputs tried per program (some fail: empty lists, long outputs, ...). */
  candidates?: number;
  /** A program with fewer passing pairs is dropped (induction needs N = 6). */
  minPairs?: number;
  /**
   * A program whose kept outputs are all equal is dropped (default 2 distinct outputs): it is
   * valid for self-play, but as pretraining data it only teaches "answer the constant" and
   * inflates the constant baseline. Set 1 to keep them.
   */
  minDistinctOutputs?: number;
  /** Programs in flight at once (spread over the runner's workers). */
  concurrency?: number;
  onProgress?: (done: number, total: number, kept: number) => void;
}

export const DEFAULT_EXECUTE = { pairsPerProgram: 8, candidates: 12, minPairs: 6, minDistinctOutputs: 2, concurrency: 32 };

export interface ExecutionStats {
  programs: number;
  kept: number;
  survivalRate: number;
  /** Candidate (program, input) runs and how many passed. */
  runs: number;
  runsPassed: number;
  /** Why runs failed, by the harness's reason. */
  failures: Record<string, number>;
  /** Programs dropped for too few passing pairs / for constant outputs. */
  droppedFewPairs: number;
  droppedConstant: number;
  /** Survival per level: [kept, generated]. */
  byLevel: Record<number, [number, number]>;
  seconds: number;
  programsPerSecond: number;
  runsPerSecond: number;
}

/**
 * Up to `n` pairs, preferring distinct outputs: first one pair per distinct output (in candidate
 * order), then the rest. A counting program returns 0 on most random inputs; keeping all of those
 * would make "always answer 0" look smart and show the induction solver little of the function.
 */
export function diversePairs<T extends { output: string }>(passing: readonly T[], n: number): T[] {
  const seen = new Set<string>();
  const first: T[] = [], rest: T[] = [];
  for (const p of passing) (seen.has(p.output) ? rest : first).push(p), seen.add(p.output);
  return [...first, ...rest].slice(0, n);
}

export async function executePrograms(
  programs: readonly GeneratedProgram[],
  runner: Pick<PairRunner, "run">,
  opts: ExecuteOptions,
): Promise<{ executed: ExecutedProgram[]; stats: ExecutionStats }> {
  const o = { ...DEFAULT_EXECUTE, ...opts };
  const t0 = performance.now();
  const results: (ExecutedProgram | undefined)[] = new Array(programs.length);
  const failures: Record<string, number> = {};
  const byLevel: Record<number, [number, number]> = {};
  let runs = 0, runsPassed = 0, droppedFewPairs = 0, droppedConstant = 0, done = 0, kept = 0;

  async function one(i: number): Promise<void> {
    const p = programs[i];
    const inputs = distinctInputs(p.params, Rng.derive(o.seed, "inputs", p.id), o.candidates);
    const res = await runner.run(p.source, inputs);
    const passing: { input: string; output: string }[] = [];
    res.forEach((r, k) => {
      runs++;
      if (r.ok) {
        runsPassed++;
        passing.push({ input: inputs[k], output: r.output });
      } else failures[r.reason] = (failures[r.reason] ?? 0) + 1;
    });
    const pairs = diversePairs(passing, o.pairsPerProgram);
    const level = (byLevel[p.level] ??= [0, 0]);
    level[1]++;
    if (pairs.length < o.minPairs) droppedFewPairs++;
    else if (new Set(pairs.map((x) => x.output)).size < o.minDistinctOutputs) droppedConstant++;
    else {
      results[i] = { id: p.id, level: p.level, template: p.template, params: p.params, source: p.source, message: p.message, pairs };
      level[0]++;
      kept++;
    }
    done++;
    o.onProgress?.(done, programs.length, kept);
  }

  let next = 0;
  const lanes = Array.from({ length: Math.min(o.concurrency, programs.length) }, async () => {
    while (next < programs.length) await one(next++);
  });
  await Promise.all(lanes);
  const seconds = (performance.now() - t0) / 1000;
  const executed = results.filter((x): x is ExecutedProgram => x !== undefined);
  return {
    executed,
    stats: {
      programs: programs.length, kept, survivalRate: programs.length ? kept / programs.length : 0,
      runs, runsPassed, failures, droppedFewPairs, droppedConstant, byLevel, seconds,
      programsPerSecond: programs.length / seconds, runsPerSecond: runs / seconds,
    },
  };
}
