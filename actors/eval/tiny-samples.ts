/**
 * How much room a model leaves for self-play on the tiny held-out set (`azr eval --suite tiny
 * --samples k`): k sampled answers per task at the recipe's solver sampling, scored with the
 * executor, beside the greedy answer `azr eval` scored:
 *  - pass@1:  mean accuracy of one sample;
 *  - maj@k:   the most frequent of the k answers is right (a tie goes to the lower sample slot);
 *  - pass@k:  any of the k answers is right.
 * RL with an accuracy reward mostly sharpens a model's sampling distribution toward answers it can
 * already sample: maj@k is the usual estimate of how far that sharpening takes greedy accuracy, pass@k
 * its upper bound. A gap of a point or two between greedy and maj@k means a large gain from self-play
 * must come from answers the model cannot yet produce. Majority voting means something only where the
 * right answer is unique (deduction: one output); abduction's and induction's right answers differ in
 * text, so their maj@k understates what the samples hold.
 * Covers: sampling, the tally, its table. Not: the greedy answers (azr eval's records), intervals.
 */
import type { Prompt } from "../../azr/prompts.ts";
import type { ExecProblem } from "./file-bench.ts";
import { TINY_TYPES, type TinyType } from "./tiny-suite.ts";

/** One task's answers: the greedy one's verdict, then each sample's extracted answer (undefined: none) and verdict. */
export interface TaskSamples { answers: (string | undefined)[]; correct: boolean[]; greedy?: boolean }

/** Task counts (pass@1 a sum of per-task fractions), and the mean number of distinct answers a task. */
export interface SampleTally { tasks: number; greedy: number; pass1: number; majK: number; passK: number; rescuable: number; distinct: number }

export function tallySamples(tasks: readonly TaskSamples[]): SampleTally {
  const majorityRight = (t: TaskSamples): boolean => {
    const counts = new Map<string, { n: number; correct: boolean }>();
    t.answers.forEach((ans, i) => {
      if (ans === undefined) return; // no answer is no vote
      const c = counts.get(ans) ?? { n: 0, correct: t.correct[i] };
      c.n++;
      counts.set(ans, c);
    });
    let best: { n: number; correct: boolean } | undefined;
    for (const c of counts.values()) if (!best || c.n > best.n) best = c; // a tie goes to the answer seen first
    return best?.correct ?? false;
  };
  return {
    tasks: tasks.length,
    greedy: tasks.filter((t) => t.greedy).length,
    pass1: tasks.reduce((s, t) => s + (t.correct.length ? t.correct.filter(Boolean).length / t.correct.length : 0), 0),
    majK: tasks.filter(majorityRight).length,
    passK: tasks.filter((t) => t.correct.some(Boolean)).length,
    // greedy wrong, some sample right: what sharpening toward right answers could still flip
    rescuable: tasks.filter((t) => !t.greedy && t.correct.some(Boolean)).length,
    distinct: tasks.length ? tasks.reduce((s, t) => s + new Set(t.answers.filter((x) => x !== undefined)).size, 0) / tasks.length : 0,
  };
}

export interface SampleSettings { k: number; maxNewTokens: number; temperature: number; topP: number; seed: number }

export interface SampleGenerator {
  generate(prompts: Prompt[], o: { maxNewTokens: number; temperature: number; topP: number; seed: number; firstIndex: number }): AsyncIterable<{ index: number; text: string }>;
}

/**
 * k samples of each task, scored by `check`, in chunks of 256 tasks (`onChunk` after each, for
 * progress). Sample j of task i draws from the stream (seed, i·k + j), so a rerun gives the same samples.
 */
export async function sampleTasks(
  problems: readonly ExecProblem[], prompt: (p: ExecProblem) => Prompt, check: (p: ExecProblem, response: string) => Promise<{ answer?: string; correct: boolean }>,
  gen: SampleGenerator, s: SampleSettings, onChunk?: (done: number) => void,
): Promise<TaskSamples[]> {
  const tasks: TaskSamples[] = problems.map(() => ({ answers: new Array<string | undefined>(s.k), correct: new Array<boolean>(s.k).fill(false) }));
  const chunk = 256;
  for (let from = 0; from < problems.length; from += chunk) {
    const prompts = problems.slice(from, from + chunk).flatMap((p) => Array.from({ length: s.k }, () => prompt(p)));
    const pending: Promise<void>[] = [];
    for await (const g of gen.generate(prompts, { maxNewTokens: s.maxNewTokens, temperature: s.temperature, topP: s.topP, seed: s.seed, firstIndex: from * s.k })) {
      const t = from + Math.floor(g.index / s.k), slot = g.index % s.k; // by slot: the order samples finish in varies
      pending.push(check(problems[t], g.text).then((v) => { tasks[t].answers[slot] = v.answer; tasks[t].correct[slot] = v.correct; }));
    }
    await Promise.all(pending);
    onChunk?.(Math.min(from + chunk, problems.length));
  }
  return tasks;
}

export interface SamplesReport { k: number; temperature: number; topP: number; byType: Partial<Record<TinyType, SampleTally>> }

/** One row per task type: greedy, pass@1, maj@k, pass@k, greedy wrong but a sample right, distinct answers. */
export function formatSamples(r: SamplesReport): string {
  const pct = (n: number, of: number) => (of ? `${((100 * n) / of).toFixed(1)}` : "—");
  const lines = [
    `${r.k} samples a task at temperature ${r.temperature} (top-p ${r.topP}), %  (maj@k is meaningful for deduction only: one right answer)`,
    `  task type   greedy  pass@1  maj@${r.k}  pass@${r.k}  greedy wrong, a sample right  distinct answers`,
  ];
  for (const t of TINY_TYPES) {
    const x = r.byType[t];
    if (!x) continue;
    lines.push(`  ${t.padEnd(10)} ${pct(x.greedy, x.tasks).padStart(7)} ${pct(x.pass1, x.tasks).padStart(7)} ${pct(x.majK, x.tasks).padStart(6)} ${pct(x.passK, x.tasks).padStart(7)} ${pct(x.rescuable, x.tasks).padStart(29)} ${x.distinct.toFixed(2).padStart(17)}`);
  }
  return lines.join("\n");
}
