/**
 * The trivial baselines on the held-out set, scored as self-play's solver checks score answers
 * (azr-spec §6.2, evaluation mode: 1 or 0) by a PairRunner (harness or executor). Covers: both
 * baselines over every task type, accuracy with a 95% bootstrap interval. Not: model answers
 * (the eval command produces those; they are scored through the same `PairRunner.score`).
 */
import {
  accuracyWithInterval, baselineAnswer, constantAnswers,
  type Accuracy, type BaselineName, type HeldOutTask,
} from "../../azr/corpus/heldout.ts";
import type { ExecutedProgram } from "../../azr/corpus/format.ts";
import type { PairRunner } from "./runners.ts";

export type BaselineReport = Record<BaselineName, Record<HeldOutTask["type"], Accuracy>>;

/** Both trivial baselines on every task type; constants are learned from the pretraining programs. */
export async function scoreBaselines(
  tasks: readonly HeldOutTask[],
  heldOutPrograms: readonly ExecutedProgram[],
  train: readonly ExecutedProgram[],
  runner: Pick<PairRunner, "score">,
): Promise<BaselineReport> {
  const consts = constantAnswers(train);
  const signature = new Map(heldOutPrograms.map((p) => [p.id, p.params.join(",")]));
  const report = {} as BaselineReport;
  for (const baseline of ["constant", "copy"] as const) {
    const outcomes: Record<HeldOutTask["type"], boolean[]> = { deduction: [], abduction: [], induction: [] };
    // Scored concurrently, collected in task order so the bootstrap interval is reproducible.
    const oks = await Promise.all(tasks.map((t) => runner.score(t, baselineAnswer(t, baseline, consts, signature.get(t.programId) ?? ""))));
    tasks.forEach((t, i) => outcomes[t.type].push(oks[i]));
    report[baseline] = {
      deduction: accuracyWithInterval(outcomes.deduction),
      abduction: accuracyWithInterval(outcomes.abduction),
      induction: accuracyWithInterval(outcomes.induction),
    };
  }
  return report;
}
