/**
 * The code executor: sandboxed, batched Python execution with Absolute Zero's rules.
 *
 *   const ex = await CodeExecutor.start({ mode: "pooled", workers: 2, limits: { timeoutMs: 10_000 } });
 *   for await (const v of ex.validateProposals([{ type: "deduction", program, input }])) use(v);
 *   for await (const v of ex.checkAnswers([{ task: deductionTask(triplet), answer }])) use(v);
 *   await ex.close();
 *
 * The actor wrapper (`CodeExecutorActor`, streams of verdict events for the runtime) lives in
 * ./actor.ts, so that using the library does not load the actor runtime.
 */
export {
  CodeExecutor, probeIsolation, DEFAULT_BANNED_WORDS, DEFAULT_LIMITS,
  type ExecutorOptions, type ExecutorLimits, type ExecutionMode, type ProposalCheck, type ProposalVerdict,
  type AnswerCheck, type IndexedAnswerVerdict, type CallStats, type VerdictStream, type ExecutorStats,
} from "./executor.ts";
export {
  deductionTask, abductionTask, inductionTask,
  type Reason, type Verdict, type AnswerVerdict, type InductionMode, type SolverTask,
  type DeductionTask, type AbductionTask, type InductionTask,
} from "./verdicts.ts";
export { IsolationError, describeIsolation, type IsolationReport } from "./sandbox.ts";
