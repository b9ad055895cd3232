/**
 * Several rollout engines (a recipe's `actors.rollout-engine.replicas`) as the one rollout port
 * the driver, the step and the in-training evaluation use.
 *
 * Covers:
 * - generate: the prompts are split into one contiguous part per replica, sized so that each
 *   replica's outstanding prompts (those of calls still streaming, this one included) come out
 *   as even as possible: a replica still busy with an earlier call gets less. Each part samples
 *   from the streams the whole request would (`firstIndex`), so the tokens do not depend on the
 *   split (as long as no prompt is over the engine's prompt limit: the engine numbers streams by
 *   the prompts it runs). Samples stream back as any replica finishes them, with the caller's
 *   indices.
 * - weights: every replica loads each version (the same handle: an object-store upload is marked
 *   for all of them, weight-sync/handle.ts `readers`); the call returns once all hold it, so the
 *   next generation never mixes versions. The version the pool set is named in each generate, so
 *   a replica that restarted with the base weights refuses instead of sampling another policy.
 * - a replica's failure: an error naming the replica and the call. Retrying after a restart is
 *   the per-replica wrapper's job (resilient.ts maps it over the replicas with `map`).
 * Not: spawning the replicas (cli/commands/selfplay.ts), the engines themselves.
 */
import type { Prompt } from "../../azr/prompts.ts";
import type { WeightHandle } from "../weight-sync/index.ts";
import type { RolloutControl } from "./driver.ts";
import type { RolloutOptions, RolloutSample } from "./ports.ts";
import { mergeStreams, type StreamPart } from "./merge-streams.ts";

export interface RolloutReplica {
  /** The actor's name (rollout-engine, rollout-engine-1, …): errors and logs name it. */
  name: string;
  port: RolloutControl;
}

/** A replica's call failed (after its own retries, where the port has them). */
export class RolloutReplicaError extends Error {
  override name = "RolloutReplicaError";
  constructor(readonly replica: string, call: string, cause: unknown) {
    super(`${replica}.${call} failed: ${(cause as Error)?.message ?? String(cause)} (one of the run's rollout engine replicas; see \`azr actors\` and its log)`, { cause });
  }
}

/** The name of replica `i`: the first keeps the single engine's name. */
export const replicaName = (i: number): string => (i === 0 ? "rollout-engine" : `rollout-engine-${i}`);

/** Prompts per replica for `n` new ones: each goes to the replica with the fewest outstanding (ties: the lower index). */
export function splitByLoad(n: number, outstanding: readonly number[]): number[] {
  const load = [...outstanding];
  const out = load.map(() => 0);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < load.length; j++) if (load[j] < load[best]) best = j;
    load[best]++;
    out[best]++;
  }
  return out;
}

export class RolloutPool implements RolloutControl {
  readonly readers: number;
  /** The version every replica holds (set by setWeights / loadWeights), named in each generate. */
  #version: number | undefined;
  readonly loadWeights?: (h: WeightHandle) => Promise<{ version: number; loadMs: number }>;
  readonly hostId?: () => Promise<string>;

  /** `outstanding`: prompts in flight per replica, shared by the pools `map` makes (one set of engines). */
  constructor(readonly replicas: readonly RolloutReplica[], private readonly outstanding: number[] = replicas.map(() => 0)) {
    if (replicas.length === 0) throw new Error("a rollout pool needs at least one replica: set actors.rollout-engine.replicas ≥ 1");
    this.readers = replicas.length;
    if (replicas.every((r) => r.port.loadWeights)) {
      this.loadWeights = async (h) => {
        const done = await this.all("loadWeights()", (p) => p.loadWeights!(h));
        this.#version = h.version;
        return { version: h.version, loadMs: Math.max(...done.map((d) => d.loadMs)) };
      };
    }
    if (replicas.every((r) => r.port.hostId)) {
      // One host for all: that one (shm works for every replica there); else a name no publisher has, so `auto` picks the object store.
      this.hostId = async () => {
        const ids = [...new Set(await this.all("hostId()", (p) => p.hostId!()))];
        return ids.length === 1 ? ids[0] : `several hosts: ${ids.join(", ")}`;
      };
    }
  }

  /** The same replicas (and outstanding counts) with each port wrapped, e.g. to retry after a restart. */
  map(wrap: (r: RolloutReplica) => RolloutControl): RolloutPool {
    return new RolloutPool(this.replicas.map((r) => ({ name: r.name, port: wrap(r) })), this.outstanding);
  }

  /** Runs `call` on every replica; any failure is thrown naming its replica once all have settled. */
  private async all<T>(what: string, call: (p: RolloutControl) => Promise<T>): Promise<T[]> {
    const settled = await Promise.allSettled(this.replicas.map((r) => call(r.port)));
    const failed = settled.findIndex((s) => s.status === "rejected");
    if (failed >= 0) {
      this.#version = undefined; // the replicas may now hold different versions
      throw new RolloutReplicaError(this.replicas[failed].name, what, (settled[failed] as PromiseRejectedResult).reason);
    }
    return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
  }

  async setWeights(weights: Map<string, Float32Array>, version: number): Promise<void> {
    await this.all("setWeights()", (p) => p.setWeights(weights, version));
    this.#version = version;
  }

  async countTokens(prompts: Prompt[]): Promise<number[]> {
    // Every replica has the same tokenizer: the least busy one counts.
    const i = splitByLoad(1, this.outstanding).indexOf(1);
    try {
      return await this.replicas[i].port.countTokens(prompts);
    } catch (e) {
      throw new RolloutReplicaError(this.replicas[i].name, "countTokens()", e);
    }
  }

  async *generate(prompts: Prompt[], options: RolloutOptions): AsyncGenerator<RolloutSample> {
    // Split when the caller starts reading (a generator's body), as the counts of outstanding prompts are then.
    const shares = splitByLoad(prompts.length, this.outstanding);
    const base = options.firstIndex ?? 0;
    const opts = this.#version === undefined || options.weightsVersion !== undefined ? options : { ...options, weightsVersion: this.#version };
    const parts: StreamPart<RolloutSample>[] = [];
    let start = 0;
    for (const [j, n] of shares.entries()) {
      if (n === 0) continue;
      const from = start;
      start += n;
      this.outstanding[j] += n;
      let left = n;
      parts.push({
        stream: this.replicas[j].port.generate(prompts.slice(from, from + n), { ...opts, firstIndex: base + from }),
        map: (s) => {
          left--;
          this.outstanding[j]--;
          return { ...s, index: from + s.index };
        },
        ended: () => (this.outstanding[j] -= left),
        failure: (e) => new RolloutReplicaError(this.replicas[j].name, "generate()", e),
      });
    }
    yield* mergeStreams(parts);
  }
}

/** The rollout port for `replicas` engines: the engine itself when there is one (unchanged behaviour), else a pool. */
export function rolloutPort(replicas: RolloutReplica[]): RolloutControl {
  return replicas.length === 1 ? replicas[0].port : new RolloutPool(replicas);
}
