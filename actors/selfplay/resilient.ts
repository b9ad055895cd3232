/**
 * The driver's ports made to ride through an actor's death (SIGKILL, OOM, a crash): the node
 * agent restarts the actor (up to its `maxRestarts`, with its saved state when it has one), and
 * the call that hit the dead incarnation is sent again once the new one answers, with one log line.
 *
 * What is repeated, and why that keeps a step exact:
 * - task-buffer: every method is a read with a seeded RNG, or `admit`, which the buffer makes
 *   idempotent (the same entries at the same step return the first call's answer, see
 *   task-buffer.ts); its state is persisted before each reply, so an answered call is never lost.
 * - code-executor and rollout-engine streams: re-opened whole, and the items whose index was
 *   already delivered are dropped. Verdicts are deterministic; sequence i samples from (seed, i)
 *   over the same prompt list, so the rerun draws the same tokens.
 * - rollout-engine: a restarted engine holds the base weights, so the version it held is loaded
 *   again before the retry (the same handle or tensors; the learner's current version only when
 *   that cannot be reloaded, see resilientRollout); each generate names the weight version it expects, so an
 *   engine that died and restarted between two calls (no call saw it) is caught as well.
 * - reference-model: frozen weights, `score` is a pure function.
 * - learner: not repeated. Its weights and optimiser state since the last checkpoint live only in
 *   its process, so a restarted learner cannot continue the same step: its calls fail with
 *   LearnerLostError, and the driver rolls the whole run back to the last checkpoint and replays
 *   the steps since (driver.ts). trainStep and save name the weight version the learner should
 *   hold, so a restart no call saw is caught before it trains or saves the wrong state.
 *
 * A rollout pool (rollout-pool.ts) is wrapped replica by replica: a restarted replica is re-synced
 * and retried alone, its log lines and errors naming it; so is an executor pool (executor-pool.ts).
 *
 * Covers: retry policy and the rollout weight re-sync. Not: restarting (runtime/node-agent.ts).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { ActorDiedError, type ActorEntry } from "../../runtime/index.ts";
import type { TrainSequence } from "../../model/engine.ts";
import type { BufferControl, DriverPorts, LearnerControl, RolloutControl } from "./driver.ts";
import { syncWeights, type TransportChoice, type WeightHandle } from "../weight-sync/index.ts";
import { RolloutPool } from "./rollout-pool.ts";
import { ExecutorPool } from "./executor-pool.ts";
import { LEARNER_VERSION_MISMATCH, WEIGHTS_VERSION_MISMATCH, type ExecutorPort, type ReferencePort, type RolloutOptions } from "./ports.ts";

export interface ResilienceOptions {
  log: (line: string) => void;
  /** Give up when an actor has not answered for this long after dying (its restarts are exhausted, say). */
  budgetMs?: number;
  /** The transport a re-push after a rollout engine's restart uses (the run's weight sync setting). */
  weightSync?: TransportChoice;
  /**
   * Why an actor will not come back (the registry says dead: killed with `azr kill`, restarts
   * exhausted, its node lost), or undefined while it may. Asked at each retry, so a run whose
   * actor is gone for good stops at once instead of retrying for the whole budget.
   */
  gone?: (actor: string) => Promise<string | undefined>;
}

/**
 * ResilienceOptions.gone read from the cluster's registry: an entry in state dead is final (the
 * agent writes "restarting" while a restart is due), its reason says why.
 */
export function goneFromRegistry(registry: { get(name: string): Promise<ActorEntry | undefined> }): (actor: string) => Promise<string | undefined> {
  return async (actor) => {
    const e = await registry.get(actor);
    return e?.state === "dead" ? (e.reason ?? "dead") : undefined;
  };
}

/** An actor the run needs is dead and will not be restarted. */
export class ActorGoneError extends Error {
  override name = "ActorGoneError";
}

/** The actor a call description names: `what` is always `<actor>.<method>()`. */
function actorOf(what: string): string {
  const dot = what.indexOf(".");
  return dot < 0 ? what : what.slice(0, dot);
}

export class LearnerLostError extends Error {
  override name = "LearnerLostError";
}

const FIRST_WAIT_MS = 200;
const MAX_WAIT_MS = 2000;
const DEFAULT_BUDGET_MS = 300_000;

/** A dead incarnation, or (rollout only) an engine whose weights are not the ones the driver set. */
const retryable = (e: unknown): boolean => e instanceof ActorDiedError || (e as Error)?.name === WEIGHTS_VERSION_MISMATCH;

class Retrier {
  constructor(private readonly o: ResilienceOptions) {}

  /** Waits before attempt `attempt` (≥ 1), or rethrows once the budget is spent; `died`: when the actor stopped answering. */
  async backoff(what: string, e: unknown, attempt: number, died: number): Promise<void> {
    const budget = this.o.budgetMs ?? DEFAULT_BUDGET_MS;
    const gone = await this.o.gone?.(actorOf(what)).catch(() => undefined); // unknown (registry unreachable): keep retrying
    if (gone !== undefined) {
      throw new ActorGoneError(`${what}: actor '${actorOf(what)}' is dead and will not be restarted (${gone}); the run cannot go on without it`, { cause: e });
    }
    if (Date.now() - died > budget) {
      throw new Error(`${what}: no answer for ${Math.round(budget / 1000)} s after its actor died (restarts exhausted? see \`azr actors\` and the actor's log)`, { cause: e });
    }
    if (attempt === 1) this.o.log(`${what} failed: ${(e as Error).message}; retrying once the actor is back`);
    await sleep(Math.min(FIRST_WAIT_MS * 2 ** (attempt - 1), MAX_WAIT_MS));
  }

  async unary<T>(what: string, call: () => Promise<T>, before?: () => Promise<void>): Promise<T> {
    // The budget runs from the first failure, not from the call: a call that ran long before its actor died is still retried.
    let died: number | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        if (attempt > 0 && before) await before();
        const r = await call();
        if (attempt > 0) this.o.log(`${what} succeeded on retry ${attempt}`);
        return r;
      } catch (e) {
        if (!retryable(e)) throw e;
        died ??= Date.now();
        await this.backoff(what, e, attempt + 1, died);
      }
    }
  }

  /** Re-opens the stream after a death and yields each index once. */
  async *stream<T extends { index: number }>(what: string, open: () => AsyncIterable<T>, before?: () => Promise<void>): AsyncGenerator<T> {
    const seen = new Set<number>();
    // When the actor died, until an item (even one already delivered) shows it answers again: a
    // long stream (a big model's generate) that dies minutes after it opened is re-opened, not given
    // up on as if it had been silent all that time; a death after a re-open answered starts afresh.
    let died: number | undefined;
    let failures = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        if (attempt > 0 && before) await before();
        for await (const x of open()) {
          died = undefined;
          failures = 0;
          if (seen.has(x.index)) continue;
          seen.add(x.index);
          yield x;
        }
        if (attempt > 0) this.o.log(`${what} completed on retry ${attempt} (${seen.size} items in all)`);
        return;
      } catch (e) {
        if (!retryable(e)) throw e;
        died ??= Date.now();
        await this.backoff(what, e, ++failures, died);
      }
    }
  }
}

function resilientBuffer(b: BufferControl, r: Retrier): BufferControl {
  return {
    drawReferences: (...a) => r.unary("task-buffer.drawReferences()", () => b.drawReferences(...a)),
    drawInductionPrograms: (...a) => r.unary("task-buffer.drawInductionPrograms()", () => b.drawInductionPrograms(...a)),
    admit: (...a) => r.unary("task-buffer.admit()", () => b.admit(...a)),
    solverTasks: (...a) => r.unary("task-buffer.solverTasks()", () => b.solverTasks(...a)),
    sizes: () => r.unary("task-buffer.sizes()", () => b.sizes()),
    valueCounters: (...a) => r.unary("task-buffer.valueCounters()", () => b.valueCounters(...a)),
    valueStats: () => r.unary("task-buffer.valueStats()", () => b.valueStats()),
    snapshot: () => r.unary("task-buffer.snapshot()", () => b.snapshot()),
    restore: (s) => r.unary("task-buffer.restore()", () => b.restore(s)),
  };
}

function resilientExecutor(x: ExecutorPort, r: Retrier, name = "code-executor"): ExecutorPort {
  return {
    validateProposals: (checks) => r.stream(`${name}.validateProposals()`, () => x.validateProposals(checks)),
    checkAnswers: (checks, opts) => r.stream(`${name}.checkAnswers()`, () => x.checkAnswers(checks, opts)),
  };
}

/**
 * The learner, with the weight version it should hold tracked here: each trainStep and save
 * names it, and weights() is checked against it, so a learner that died and came back between
 * two calls (no call saw it die) is caught too. Any of these becomes LearnerLostError.
 */
function resilientLearner(l: LearnerControl, lastCheckpoint: () => string): LearnerControl {
  // A fresh run's learner starts at version 0; load() leaves it unknown until the next weights().
  let version: number | undefined = 0;
  const checked = <W extends { version: number }>(w: W): W => {
    if (version !== undefined && w.version !== version) {
      throw Object.assign(new Error(`learner holds weights version ${w.version}, expected ${version}: it restarted since`), { name: LEARNER_VERSION_MISMATCH });
    }
    version = w.version;
    return w;
  };
  const guard = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (e) {
      if (!(e instanceof ActorDiedError) && (e as Error)?.name !== LEARNER_VERSION_MISMATCH) throw e;
      version = undefined;
      throw new LearnerLostError(
        `the learner died during ${what} (${e instanceof ActorDiedError ? e.reason : (e as Error).message}); its weights and optimiser state since the last checkpoint were in that process ` +
          `(if the run cannot roll back, ${lastCheckpoint()})`,
        { cause: e },
      );
    }
  };
  return {
    trainStep: (batch: TrainSequence[]) => guard("trainStep()", async () => {
      const stats = await l.trainStep(batch, version);
      if (version !== undefined) version++;
      return stats;
    }),
    weights: () => guard("weights()", async () => checked(await l.weights())),
    publishWeights: l?.publishWeights && ((req) => guard("publishWeights()", async () => checked(await l.publishWeights!(req)))),
    confirmWeights: l?.confirmWeights && ((v) => guard("confirmWeights()", () => l.confirmWeights!(v))),
    save: (dir) => guard("save()", () => l.save(dir, version)),
    load: (dir) => guard("load()", async () => {
      version = undefined;
      await l.load(dir);
    }),
  };
}

/**
 * Waits for the learner's next incarnation and loads the checkpoint at `dir` into it; with `dir`
 * null the new incarnation's own start (the base model, a fresh optimiser) is the state wanted.
 */
export async function recoverLearner(raw: LearnerControl, dir: string | null, o: ResilienceOptions): Promise<void> {
  await new Retrier(o).unary(dir ? "learner.load()" : "learner.weights()", async () => {
    if (dir) await raw.load(dir);
    else await raw.weights();
  });
}

/**
 * The rollout engine with the version it should hold tracked here, and how to give it that
 * version again. A retry reloads the version the engine held before it died — not the learner's
 * newest: off-policy (`selfplay.offPolicy`) the next step is collected while the learner updates,
 * so the newest is v+1 while the collection samples from v; pushing v+1 mid-collection would
 * leave the step's samples from two policies and the rerun's tokens unlike the ones `(seed, i)`
 * draws from v (and would wait behind the learner's update to get v+1). The learner is only asked
 * when nothing can reload the held version: an object-store upload with a single reader (its load
 * consumed it), or a reload that fails; then the log says so and each sample's `weightsVersion`
 * and log-probs are those of the engine that drew it.
 */
function resilientRollout(x: RolloutControl, learner: LearnerControl, r: Retrier, log: (s: string) => void, transport: TransportChoice | undefined, name = "rollout-engine"): RolloutControl {
  let version: number | undefined;
  /** Loads the held version into a restarted engine again; undefined when it cannot (see above). */
  let reload: (() => Promise<void>) | undefined;
  const resync = async () => {
    if (reload && version !== undefined) {
      try {
        const t0 = performance.now();
        await reload();
        log(`${name}: weights version ${version} pushed again to the restarted engine (the version it held, load ${(performance.now() - t0).toFixed(0)} ms)`);
        return;
      } catch (e) {
        if (retryable(e)) throw e; // the engine died again: the retry loop waits and comes back here
        log(`${name}: reloading weights version ${version} failed (${(e as Error).message}); pushing the learner's current version instead`);
      }
    }
    // The same path as every step's sync (by handle); the learner hands out the version it already published.
    const held = version;
    const s = await syncWeights(learner, x, transport);
    version = s.version;
    log(`${name}: weights version ${s.version} pushed again to the restarted engine (${s.transport}, load ${s.loadMs.toFixed(0)} ms)` +
      (held !== undefined && held !== s.version ? `; it held version ${held}, which could not be reloaded: samples from here on come from version ${s.version} (each sample's weightsVersion says which)` : ""));
  };
  const opts = (o: RolloutOptions): RolloutOptions => (version === undefined ? o : { ...o, weightsVersion: version });
  const reloadable = (h: WeightHandle) => h.transport !== "object-store" || (h.readers ?? 1) > 1;
  return {
    generate: (prompts, o) => r.stream(`${name}.generate()`, () => x.generate(prompts, opts(o)), resync),
    countTokens: (prompts) => r.unary(`${name}.countTokens()`, () => x.countTokens(prompts), resync),
    setWeights: async (tensors, v) => {
      await r.unary(`${name}.setWeights()`, () => x.setWeights(tensors, v));
      version = v;
      // Kept until the next version replaces them: the in-process / inline path, whose tensors the driver holds anyway.
      reload = () => x.setWeights(tensors, v);
    },
    // Absent when the port lacks them (in-process doubles: sync falls back to setWeights). A retry
    // (the engine died mid-load) syncs afresh: an object-store version is consumed by its load.
    loadWeights: x?.loadWeights && (async (h: WeightHandle) => {
      let attempt = 0;
      const out = await r.unary(`${name}.loadWeights()`, async () => {
        if (attempt++ === 0) return x.loadWeights!(h);
        const s = await syncWeights(learner, x, transport);
        return { version: s.version, loadMs: s.loadMs };
      });
      version = h.version;
      // shm files and inline tensors stay loadable until a newer version is confirmed; a shared object-store upload too.
      reload = attempt === 1 && reloadable(h) ? async () => void (await x.loadWeights!(h)) : undefined;
      return out;
    }),
    hostId: x?.hostId && (() => r.unary(`${name}.hostId()`, () => x.hostId!())),
  };
}

function resilientReference(x: ReferencePort, r: Retrier): ReferencePort {
  // (typeof: an actor handle answers every property name with a method stub)
  const what = typeof x.servedBy === "string" && x.servedBy !== "reference-model" ? `${x.servedBy}.scoreReference()` : "reference-model.score()";
  return { score: (p, resp) => r.unary(what, () => x.score(p, resp)) };
}

/** The driver's ports with the retry policy above; `lastCheckpoint` says how to go on after a lost learner (`--resume` from which checkpoint, or none to resume). */
export function resilientPorts(p: DriverPorts, o: ResilienceOptions & { lastCheckpoint: () => string }): DriverPorts {
  const r = new Retrier(o);
  const learner = resilientLearner(p.learner, o.lastCheckpoint);
  return {
    // A pool of replicas: each retried on its own (a restarted replica is re-synced alone), the split kept.
    rollout: p.rollout instanceof RolloutPool
      ? p.rollout.map((x) => resilientRollout(x.port, learner, r, o.log, o.weightSync, x.name))
      : resilientRollout(p.rollout, learner, r, o.log, o.weightSync),
    executor: p.executor instanceof ExecutorPool ? p.executor.map((x) => resilientExecutor(x.port, r, x.name)) : resilientExecutor(p.executor, r),
    buffer: resilientBuffer(p.buffer, r),
    learner,
    reference: p.reference && resilientReference(p.reference, r),
  };
}
