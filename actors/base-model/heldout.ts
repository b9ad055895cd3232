/**
 * Scores answers to held-out tasks by execution, as self-play's solver checks do (azr-spec §6.2,
 * evaluation mode: 1 or 0): deduction compares literals; abduction runs the program on the
 * answered input; induction runs the answered program on the hidden inputs (all must match).
 * Used here for the trivial baselines; a model's answers are scored the same way.
 * Covers: scoring one answer, scoring the two baselines over a task set. Not: producing model
 * answers (the eval command does that), sandboxing (the harness runs trusted text only:
 * TODO(executor) score model answers through actors/code-executor once its API exists).
 */
import {
  accuracyWithInterval, baselineAnswer, constantAnswers,
  type Accuracy, type BaselineName, type HeldOutTask,
} from "../../azr/corpus/heldout.ts";
import type { ExecutedProgram } from "../../azr/corpus/format.ts";
import { literalTextsEqual } from "../../azr/literal.ts";
import type { ProgramRunner } from "./harness.ts";

export async function scoreAnswer(task: HeldOutTask, answer: string, runner: ProgramRunner): Promise<boolean> {
  switch (task.type) {
    case "deduction":
      return literalTextsEqual(answer, task.output);
    case "abduction": {
      const [r] = await runner.run(task.program, [answer]);
      return r.ok && literalTextsEqual(r.output, task.output);
    }
    case "induction": {
      const rs = await runner.run(answer, task.hidden.map((p) => p.input));
      return rs.every((r, i) => r.ok && literalTextsEqual(r.output, task.hidden[i].output));
    }
  }
}

export type BaselineReport = Record<BaselineName, Record<HeldOutTask["type"], Accuracy>>;

/** Both trivial baselines on every task type; constants are learned from the pretraining programs. */
export async function scoreBaselines(
  tasks: readonly HeldOutTask[],
  heldOutPrograms: readonly ExecutedProgram[],
  train: readonly ExecutedProgram[],
  runner: ProgramRunner,
): Promise<BaselineReport> {
  const consts = constantAnswers(train);
  const signature = new Map(heldOutPrograms.map((p) => [p.id, p.params.join(",")]));
  const report = {} as BaselineReport;
  for (const baseline of ["constant", "copy"] as const) {
    const outcomes: Record<HeldOutTask["type"], boolean[]> = { deduction: [], abduction: [], induction: [] };
    // Scored concurrently, collected in task order so the bootstrap interval is reproducible.
    const oks = await Promise.all(tasks.map((t) => scoreAnswer(t, baselineAnswer(t, baseline, consts, signature.get(t.programId) ?? ""), runner)));
    tasks.forEach((t, i) => outcomes[t.type].push(oks[i]));
    report[baseline] = {
      deduction: accuracyWithInterval(outcomes.deduction),
      abduction: accuracyWithInterval(outcomes.abduction),
      induction: accuracyWithInterval(outcomes.induction),
    };
  }
  return report;
}
