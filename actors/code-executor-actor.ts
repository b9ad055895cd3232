/**
 * The `code-executor` actor: the executor library (actors/code-executor/) behind the runtime.
 * Verdicts stream back as they finish; `stats()` reports totals, isolation and replaced workers.
 * Covers: the actor surface only; every rule and the sandbox live in the library.
 */
import { defineActor } from "../runtime/index.ts";
import {
  CodeExecutor, type AnswerCheck, type ExecutionMode, type ExecutorLimits, type ExecutorStats, type IndexedAnswerVerdict, type ProposalCheck, type ProposalVerdict,
} from "./code-executor/index.ts";
import type { ExecutorPort } from "./selfplay/ports.ts";

/** The serialisable part of the executor's options (what a recipe sets). */
export interface CodeExecutorActorOptions {
  mode?: ExecutionMode;
  workers?: number;
  limits?: Partial<ExecutorLimits>;
  bannedWords?: string[];
  determinismRuns?: number;
  hashSeed?: number;
  hashSeedCheck?: boolean;
}

export class CodeExecutorActor implements ExecutorPort {
  private readonly ready: Promise<CodeExecutor>;

  constructor(opts: CodeExecutorActorOptions = {}) {
    const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
    this.ready = CodeExecutor.start({ ...defined, warn: (m) => console.warn(`[code-executor] ${m}`) });
    this.ready.catch(() => {}); // surfaced by the first call
  }

  async *validateProposals(checks: ProposalCheck[]): AsyncGenerator<ProposalVerdict> {
    yield* (await this.ready).validateProposals(checks);
  }

  async *checkAnswers(checks: AnswerCheck[]): AsyncGenerator<IndexedAnswerVerdict> {
    yield* (await this.ready).checkAnswers(checks);
  }

  async stats(): Promise<ExecutorStats> {
    return (await this.ready).stats();
  }

  async close(): Promise<void> {
    await (await this.ready).close();
  }
}
defineActor(import.meta.url, CodeExecutorActor);
