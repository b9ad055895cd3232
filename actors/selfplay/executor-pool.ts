/**
 * Several code executors (a recipe's `actors.code-executor.replicas`) as the one executor port the
 * driver, the step and the in-training evaluation use, so validation and answer checks spread over
 * machines (each replica brings its own sandboxed workers).
 *
 * Covers: a call's checks dealt round-robin over the replicas (check i to replica i mod R, so a run
 * of heavy checks, as the learnability samples of one program are, is shared), each replica's
 * verdicts streamed back with the caller's indices as they come. A verdict does not depend on the
 * replica that gives it (the executor is deterministic), so the split changes no result. A replica's
 * failure ends the call naming it; retrying after a restart is the per-replica wrapper's job
 * (resilient.ts maps it over the replicas with `map`). Not: spawning the replicas (cli/commands/selfplay.ts).
 */
import type { AnswerCheck, IndexedAnswerVerdict, InductionMode, ProposalCheck, ProposalVerdict } from "../code-executor/index.ts";
import { mergeStreams } from "./merge-streams.ts";
import type { ExecutorPort } from "./ports.ts";

export interface ExecutorReplica {
  /** The actor's name (code-executor, code-executor-1, …): errors name it. */
  name: string;
  port: ExecutorPort;
}

/** The name of executor replica `i`: the first keeps the single executor's name. */
export const executorName = (i: number): string => (i === 0 ? "code-executor" : `code-executor-${i}`);

export class ExecutorReplicaError extends Error {
  override name = "ExecutorReplicaError";
  constructor(readonly replica: string, call: string, cause: unknown) {
    super(`${replica}.${call} failed: ${(cause as Error)?.message ?? String(cause)} (one of the run's code executor replicas; see \`azr actors\` and its log)`, { cause });
  }
}

export class ExecutorPool implements ExecutorPort {
  constructor(readonly replicas: readonly ExecutorReplica[]) {
    if (replicas.length === 0) throw new Error("an executor pool needs at least one replica: set actors.code-executor.replicas ≥ 1");
  }

  /** The same replicas with each port wrapped, e.g. to retry after a restart. */
  map(wrap: (r: ExecutorReplica) => ExecutorPort): ExecutorPool {
    return new ExecutorPool(this.replicas.map((r) => ({ name: r.name, port: wrap(r) })));
  }

  validateProposals(checks: ProposalCheck[]): AsyncIterable<ProposalVerdict> {
    return this.#dealt("validateProposals()", checks, (p, part) => p.validateProposals(part));
  }

  checkAnswers(checks: AnswerCheck[], opts?: { inductionMode?: InductionMode }): AsyncIterable<IndexedAnswerVerdict> {
    return this.#dealt("checkAnswers()", checks, (p, part) => (opts ? p.checkAnswers(part, opts) : p.checkAnswers(part)));
  }

  /** Check i goes to replica i mod R; each replica's verdict j is the caller's check owned[j]. */
  async *#dealt<C, V extends { index: number }>(call: string, checks: C[], run: (p: ExecutorPort, part: C[]) => AsyncIterable<V>): AsyncGenerator<V> {
    const R = this.replicas.length;
    const owned = this.replicas.map((_, r) => checks.flatMap((_c, i) => (i % R === r ? [i] : [])));
    const parts = this.replicas.flatMap((rep, r) => (owned[r].length === 0 ? [] : [{
      stream: run(rep.port, owned[r].map((i) => checks[i])),
      map: (v: V) => ({ ...v, index: owned[r][v.index] }),
      failure: (e: unknown) => new ExecutorReplicaError(rep.name, call, e),
    }]));
    yield* mergeStreams(parts);
  }
}

/** The executor port for `replicas` executors: the executor itself when there is one (unchanged behaviour), else a pool. */
export function executorPort(replicas: ExecutorReplica[]): ExecutorPort {
  return replicas.length === 1 ? replicas[0].port : new ExecutorPool(replicas);
}
