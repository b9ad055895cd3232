/**
 * The two ways the corpus builder can run programs, behind one interface:
 *   harness   our own unsandboxed pool (harness.py) — fast; for the project's own generated
 *             programs and the baselines' fixed answers only;
 *   executor  azr's sandboxed code executor (actors/code-executor) — self-play's exact verdicts
 *             (ban list included), much slower per task.
 * test/corpus/runners.test.ts checks the two agree on generated programs, which is what makes
 * the fast path trustworthy for the corpus. Covers: running pairs, scoring held-out answers.
 * Not: choosing inputs (execute.ts) or what a held-out task is (azr/corpus/heldout.ts).
 */
import type { HeldOutTask } from "../../azr/corpus/heldout.ts";
import { literalTextsEqual } from "../../azr/literal.ts";
import { CodeExecutor, type SolverTask } from "../code-executor/index.ts";
import { ProgramRunner, type RunResult, type TraceLimits } from "./harness.ts";

export interface PairRunner {
  /** Runs `f` of `program` on each input: one verdict per input, in order. */
  run(program: string, inputs: readonly string[]): Promise<RunResult[]>;
  /** Scores a held-out answer 1/0 as self-play's solver check does (azr-spec §6.2). */
  score(task: HeldOutTask, answer: string): Promise<boolean>;
  /** Execution traces of `f` on each input (null: over the limits or not passing); only the harness traces. */
  trace?(program: string, inputs: readonly string[], limits: TraceLimits): Promise<(string | null)[]>;
  close(): Promise<void>;
}

export type RunnerKind = "harness" | "executor";

export interface PairRunnerOptions {
  workers?: number;
  /** Per-task limit; generated programs finish in microseconds. */
  timeoutMs?: number;
}

export class HarnessRunner implements PairRunner {
  private constructor(private readonly runner: ProgramRunner) {}

  static start(o: PairRunnerOptions = {}): HarnessRunner {
    return new HarnessRunner(ProgramRunner.start({ workers: o.workers, timeoutS: (o.timeoutMs ?? 2000) / 1000 }));
  }

  run(program: string, inputs: readonly string[]): Promise<RunResult[]> {
    return this.runner.run(program, inputs);
  }

  async trace(program: string, inputs: readonly string[], limits: TraceLimits): Promise<(string | null)[]> {
    return (await this.runner.run(program, inputs, limits)).map((r) => (r.ok ? r.trace ?? null : null));
  }

  async score(task: HeldOutTask, answer: string): Promise<boolean> {
    switch (task.type) {
      case "deduction":
        return literalTextsEqual(answer, task.output);
      case "abduction": {
        const [r] = await this.runner.run(task.program, [answer]);
        return r.ok && literalTextsEqual(r.output, task.output);
      }
      case "induction": {
        const rs = await this.runner.run(answer, task.hidden.map((p) => p.input));
        return rs.every((r, i) => r.ok && literalTextsEqual(r.output, task.hidden[i].output));
      }
    }
  }

  close(): Promise<void> {
    return this.runner.close();
  }
}

export class ExecutorRunner implements PairRunner {
  private constructor(private readonly executor: CodeExecutor) {}

  static async start(o: PairRunnerOptions = {}): Promise<ExecutorRunner> {
    return new ExecutorRunner(await CodeExecutor.start({ workers: o.workers ?? 2, limits: { timeoutMs: o.timeoutMs ?? 2000 } }));
  }

  /** One deduction-proposal validation per input: checks 1–7 of §5.3, the ban list included. */
  async run(program: string, inputs: readonly string[]): Promise<RunResult[]> {
    const out: RunResult[] = new Array(inputs.length);
    for await (const v of this.executor.validateProposals(inputs.map((input) => ({ type: "deduction" as const, program, input })))) {
      out[v.index] = v.ok && v.outputs ? { ok: true, output: v.outputs[0] } : { ok: false, reason: v.reason, detail: v.message };
    }
    return out;
  }

  async score(task: HeldOutTask, answer: string): Promise<boolean> {
    const solverTask: SolverTask = task.type === "induction"
      ? { type: "induction", program: task.program, message: task.message, imports: [], shown: task.shown, hidden: task.hidden }
      : { type: task.type, program: task.program, input: task.input, output: task.output };
    for await (const v of this.executor.checkAnswers([{ task: solverTask, answer }])) return v.score === 1;
    return false;
  }

  close(): Promise<void> {
    return this.executor.close();
  }
}

export async function startPairRunner(kind: RunnerKind, o: PairRunnerOptions = {}): Promise<PairRunner> {
  return kind === "executor" ? ExecutorRunner.start(o) : HarnessRunner.start(o);
}
