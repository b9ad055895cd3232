/**
 * The `code-executor` actor: the executor library behind the runtime's actor interface, so the
 * self-play driver and the evaluator call it by name from any process. (The only actor wrapper of
 * the executor: recipes and `azr selfplay` spawn this class.)
 *
 * Covers: starting the executor on the actor's node with a recipe's serialisable options, the
 * two batch methods as streams of events (each verdict as it finishes, then the call's
 * statistics), cumulative statistics and the isolation report, honouring the caller's
 * AbortSignal, and `verdictStreams()` — the same streams as plain verdicts for consumers that
 * only want verdicts (the self-play driver's ExecutorPort). Not: anything about execution
 * itself (executor.ts and below).
 *
 * ```ts
 * const ex = await cluster.spawn(CodeExecutorActor, [{ mode: "pooled" }], { name: "code-executor" });
 * for await (const e of ex.validateProposals(batch)) if (e.type === "verdict") use(e.verdict);
 * runSelfplay(cfg, { executor: verdictStreams(ex), … });
 * ```
 */
import { callContext, defineActor } from "../../runtime/index.ts";
import {
  CodeExecutor, type AnswerCheck, type CallStats, type ExecutorOptions, type ExecutorStats, type IndexedAnswerVerdict,
  type ProposalCheck, type ProposalVerdict, type VerdictStream,
} from "./executor.ts";
import type { IsolationReport } from "./sandbox.ts";
import type { InductionMode } from "./verdicts.ts";

/** What the actor can be configured with (plain data: it crosses the wire at spawn; an undefined key keeps the default). */
export type CodeExecutorConfig = Partial<Pick<ExecutorOptions, "mode" | "workers" | "limits" | "bannedWords" | "determinismRuns" | "hashSeed" | "hashSeedCheck" | "inflightPerWorker">>;

/** One item of a batch stream: a verdict as it finishes, and last the call's statistics. */
export type ExecutorEvent<V> = { type: "verdict"; verdict: V } | { type: "done"; stats: CallStats };

export class CodeExecutorActor {
  readonly #executor: Promise<CodeExecutor>;

  constructor(config: CodeExecutorConfig = {}) {
    // A recipe may leave a key undefined (e.g. workers: one per core); spreading it would erase the default.
    const defined = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)) as CodeExecutorConfig;
    this.#executor = CodeExecutor.start({ ...defined, warn: (m) => console.warn(`[code-executor] ${m}`) });
    this.#executor.catch(() => { /* reported to the first caller */ });
  }

  /** azr-spec §5.3 for each proposal; verdicts stream in completion order (`index` says which). */
  async *validateProposals(batch: ProposalCheck[]): AsyncGenerator<ExecutorEvent<ProposalVerdict>> {
    const ex = await this.#executor;
    yield* relay(ex.validateProposals(batch));
  }

  /** azr-spec §6.2 for each answer; verdicts stream in completion order. */
  async *checkAnswers(batch: AnswerCheck[], opts: { inductionMode?: InductionMode } = {}): AsyncGenerator<ExecutorEvent<IndexedAnswerVerdict>> {
    const ex = await this.#executor;
    yield* relay(ex.checkAnswers(batch, opts));
  }

  async stats(): Promise<ExecutorStats> {
    return (await this.#executor).stats();
  }

  async isolation(): Promise<IsolationReport> {
    return (await this.#executor).isolation;
  }

  async close(): Promise<void> {
    await (await this.#executor).close();
  }
}

async function* relay<V>(stream: VerdictStream<V>): AsyncGenerator<ExecutorEvent<V>> {
  const { signal } = callContext();
  for await (const verdict of stream) {
    // The pool finishes what it started; a caller that went away just stops receiving.
    if (signal.aborted) return;
    yield { type: "verdict", verdict };
  }
  yield { type: "done", stats: stream.stats() };
}

/** Anything with the actor's batch methods: its handle, or the actor object itself. */
export interface ExecutorEventSource {
  validateProposals(batch: ProposalCheck[]): AsyncIterable<ExecutorEvent<ProposalVerdict>>;
  checkAnswers(batch: AnswerCheck[], opts?: { inductionMode?: InductionMode }): AsyncIterable<ExecutorEvent<IndexedAnswerVerdict>>;
}

/**
 * The actor's event streams as plain verdict streams (what the self-play driver consumes); each
 * call's statistics go to `onStats` when its stream ends.
 */
export function verdictStreams(source: ExecutorEventSource, onStats: (method: "validateProposals" | "checkAnswers", stats: CallStats) => void = () => {}): {
  validateProposals(batch: ProposalCheck[]): AsyncIterable<ProposalVerdict>;
  checkAnswers(batch: AnswerCheck[], opts?: { inductionMode?: InductionMode }): AsyncIterable<IndexedAnswerVerdict>;
} {
  async function* verdicts<V>(method: "validateProposals" | "checkAnswers", events: AsyncIterable<ExecutorEvent<V>>): AsyncGenerator<V> {
    for await (const e of events) {
      if (e.type === "verdict") yield e.verdict;
      else onStats(method, e.stats);
    }
  }
  return {
    validateProposals: (batch) => verdicts("validateProposals", source.validateProposals(batch)),
    checkAnswers: (batch, opts) => verdicts("checkAnswers", opts ? source.checkAnswers(batch, opts) : source.checkAnswers(batch)),
  };
}

defineActor(import.meta.url, CodeExecutorActor, { concurrent: ["validateProposals", "checkAnswers", "stats", "isolation"] });
