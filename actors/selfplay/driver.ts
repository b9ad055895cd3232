/**
 * The self-play driver: seeds the buffers, runs the steps, publishes each new weight version to
 * the rollout engine (by handle, timed: actors/weight-sync), writes one metrics line per step, checkpoints every `trainer.saveEvery`
 * steps and at the end, and resumes from the newest complete checkpoint.
 *
 * Covers: the loop, when to checkpoint, resume and roll back. Not: starting actors (the CLI spawns
 * them and passes handles), the step itself (step.ts), the checkpoint files (run-folder.ts), the
 * seeds (seed-loading.ts).
 *
 * Departures: seeding re-validates the seed file's entries with the executor and keeps the
 * valid ones (spec §4.2); a set shorter than B is topped up with model-made seeds
 * (`seed.topUp`, seeding.ts), bounded by `seed.maxRounds` where the reference loops forever.
 */
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { TaskType } from "../../azr/index.ts";
import type { TrainSequence, TrainStats } from "../../model/engine.ts";
import type { EvalScores } from "../eval/in-training.ts";
import type { BufferPort, ExecutorPort, ReferencePort, RolloutPort } from "./ports.ts";
import { completeCheckpoints, keepMetricsThrough, readCheckpoint, RunFolderError, saveCheckpoint, type DriverState } from "./run-folder.ts";
import { loadSeeds } from "./seed-loading.ts";
import { ActorUsageTracker, type ReadActorUsage } from "./actor-usage.ts";
import { StepTelemetry } from "./step-telemetry.ts";
import type { SeedingConfig } from "./seeding.ts";
import { runStep, checkStepConfig, collectStep, finishStep, type CollectedStep, type StepCarry, type StepConfig, type StepResult } from "./step.ts";
import type { TaskBufferState } from "./task-buffer.ts";
import { LearnerLostError, recoverLearner, resilientPorts } from "./resilient.ts";
import { withStepSpan } from "../../runtime/telemetry-local.ts";
import { syncLine, syncWeights, type PublishRequest, type TransportChoice, type WeightHandle, type WeightSyncReport } from "../weight-sync/index.ts";

/** The learner's surface the driver uses (actors/learner.ts implements it). */
export interface LearnerControl {
  trainStep(batch: TrainSequence[], expectVersion?: number): Promise<TrainStats>;
  /** Current weights (merged when LoRA) with their version, for the rollout engine. */
  weights(): Promise<{ version: number; tensors: Map<string, Float32Array> }>;
  /** Publishes the current version for the rollout engine and returns its handle (actors/weight-sync); absent: weights() is pushed inline. */
  publishWeights?(req: PublishRequest): Promise<WeightHandle>;
  /** The rollout engine holds `version`: older published versions can go. */
  confirmWeights?(version: number): Promise<void>;
  save(dir: string, expectVersion?: number): Promise<void>;
  load(dir: string): Promise<void>;
}

export interface BufferControl extends BufferPort {
  snapshot(): Promise<TaskBufferState>;
  restore(s: TaskBufferState): Promise<void>;
}

export interface RolloutControl extends RolloutPort {
  setWeights(weights: Map<string, Float32Array>, version: number): Promise<void>;
  /** Installs a version the learner published (absent: setWeights with the tensors). */
  loadWeights?(handle: WeightHandle): Promise<{ version: number; loadMs: number }>;
  /** The engine's host identity, for the learner's choice of transport. */
  hostId?(): Promise<string>;
}

export interface DriverConfig extends StepConfig, SeedingConfig {
  name: string;
  selfplay: StepConfig["selfplay"] & { steps: number };
  // Both bases read these; the step's shapes are the wider ones.
  prompt: StepConfig["prompt"];
  data: StepConfig["data"];
  validation: StepConfig["validation"];
  executor: StepConfig["executor"];
  seed: SeedingConfig["seed"] & { dir: string; triplets: string | null; induction: string | null; errors: string | null; factor: number; topUp: boolean };
  trainer: StepConfig["trainer"] & { saveEvery: number; keepCheckpoints: number };
  /** Evaluate the current policy every `every` steps (0 = never) when the caller gives an evaluator. */
  eval: { every: number };
}

export interface DriverPorts {
  rollout: RolloutControl;
  executor: ExecutorPort;
  buffer: BufferControl;
  learner: LearnerControl;
  reference?: ReferencePort;
}

export interface DriverOptions {
  runDir: string;
  /** Continue from the newest checkpoint in runDir (else start fresh; an existing run is refused). */
  resume?: boolean;
  /** Stop after this step even if the recipe asks for more (tests, smoke runs). */
  stopAfter?: number;
  log?: (line: string) => void;
  onStep?: (r: StepResult) => void;
  /**
   * Scores the policy the rollout engine holds (the weights of the step just taken); called
   * every `eval.every` steps, its scores go into that step's metrics line as `eval`.
   */
  evaluate?: (step: number) => Promise<EvalScores>;
  /** Weight sync transport (the recipe's `resources.weightSync`): auto = shm on one host, the object store across hosts. */
  weightSync?: TransportChoice;
  signal?: AbortSignal;
  /** Why an actor will not be restarted (the registry says dead), or undefined: the run then stops at once instead of retrying (resilient.ts). */
  actorGone?: (actor: string) => Promise<string | undefined>;
  /** Each actor's own busy time and peak memory (runtime stats): each step's line gets its share as `actors` (actor-usage.ts). */
  actorUsage?: ReadActorUsage;
}

/**
 * One in-training evaluation, as the fields of the step's metrics line. A failing evaluation is
 * a lost measurement, not a lost run: it is logged and recorded as `evalError`, and training goes on.
 */
async function evaluateSafely(evaluate: (step: number) => Promise<EvalScores>, step: number, log: (s: string) => void): Promise<{ eval: EvalScores } | { evalError: string }> {
  try {
    const scores = await evaluate(step);
    log(`eval after step ${step}: ${Object.entries(scores.benchmarks).map(([b, s]) => `${b} ${(100 * s.accuracy).toFixed(1)}% (${s.correct}/${s.n})`).join(", ")} in ${scores.seconds.toFixed(1)} s`);
    return { eval: scores };
  } catch (e) {
    log(`eval after step ${step} failed, training continues: ${(e as Error).message}`);
    return { evalError: (e as Error).message };
  }
}

/** Runs the recipe's steps (or resumes them); resolves with the last step's result. */
export async function runSelfplay(cfg: DriverConfig, actorPorts: DriverPorts, o: DriverOptions): Promise<StepResult | undefined> {
  checkStepConfig(cfg);
  const log = o.log ?? ((s: string) => console.log(s));
  mkdirSync(o.runDir, { recursive: true });
  // An actor killed mid-run is restarted by its node agent; its calls are sent again (resilient.ts).
  const ports = resilientPorts(actorPorts, {
    log,
    weightSync: o.weightSync,
    gone: o.actorGone,
    lastCheckpoint: () => {
      const c = completeCheckpoints(o.runDir).at(-1);
      // With none, `azr selfplay --resume` refuses the folder: say so instead of sending the user there.
      return c ? `continue with --resume: it continues after step ${c.step}, checkpoint ${c.dir}` : "start it again with another --run-dir: it has no checkpoint yet for --resume to continue from";
    },
  });
  const metricsFile = join(o.runDir, "metrics.jsonl");
  let state: DriverState = { step: 0, carry: { fresh: {} } };
  /** The last weight sync, until the metrics line of its step takes it (`weightSync`). */
  let lastSync: WeightSyncReport | undefined;
  const pushWeights = async () => {
    lastSync = await syncWeights(ports.learner, ports.rollout, o.weightSync);
    log(syncLine(lastSync));
  };

  const latest = completeCheckpoints(o.runDir).at(-1);
  if (o.resume && latest) {
    const saved = readCheckpoint(o.runDir, latest.dir);
    state = saved.state;
    // The steps after the checkpoint (a run stopped between due checkpoints) are run again: their
    // lines go, or each would appear twice (and a line cut by the crash would join the next).
    keepMetricsThrough(metricsFile, state.step);
    await ports.buffer.restore(saved.buffers);
    await ports.learner.load(join(latest.dir, "learner"));
    await pushWeights();
    lastSync = undefined; // not a step's sync
    log(`resumed ${o.runDir} at step ${state.step} (checkpoint ${latest.dir})`);
  } else {
    if (existsSync(metricsFile)) throw new RunFolderError(`${o.runDir} already holds a run: pass --resume to continue it, or choose another --run-dir`);
    writeFileSync(join(o.runDir, "config.json"), JSON.stringify(cfg, null, 2) + "\n");
    const seeds = await loadSeeds(cfg, ports, o.runDir, log, o.signal);
    // The seeds are step 0's admissions: with `solveFrom: previous-step` step 1 solves them as its new tasks (§4.3: "at t = 1: the seeds").
    const fresh: StepCarry["fresh"] = {};
    for (const type of ["deduction", "abduction"] as TaskType[]) fresh[type] = await ports.buffer.admit(type, seeds.triplets, 0);
    fresh.induction = await ports.buffer.admit("induction", seeds.induction, 0);
    if (seeds.errors) fresh.error = await ports.buffer.admit("error", seeds.errors, 0);
    state = { step: 0, carry: { fresh } };
  }
  // What a learner lost before the first checkpoint rolls back to (with the new learner's own start).
  const seeded = state.step === 0 ? { buffers: await ports.buffer.snapshot(), carry: state.carry } : undefined;

  const last = Math.min(cfg.selfplay.steps, o.stopAfter ?? Infinity);
  const checkpointDue = (step: number) => step % cfg.trainer.saveEvery === 0 || step === last;
  let result: StepResult | undefined;
  const usage = o.actorUsage && new ActorUsageTracker(o.actorUsage);
  const otel = new StepTelemetry(basename(resolve(o.runDir))); // no-ops unless OTEL_* configures a metrics exporter
  await usage?.step(); // the baseline: what seeding and loading cost is not step 1's
  /**
   * A finished step: its metrics line (with `extra`), the progress callback, the checkpoint when
   * due or when the run stops after it (a stop request came and, unless `more` says another
   * collected step will complete after it, this is the last step).
   */
  const complete = async (r: StepResult, extra?: Record<string, unknown>, more = false) => {
    result = r;
    state = { step: r.step, carry: r.carry };
    const { carry: _carry, ...line } = r;
    const evaluation = o.evaluate && cfg.eval.every > 0 && r.step % cfg.eval.every === 0 ? await evaluateSafely(o.evaluate, r.step, log) : undefined;
    const weightSync = lastSync && { weightSync: lastSync };
    lastSync = undefined;
    const actors = usage && { actors: await usage.step() };
    appendFileSync(metricsFile, JSON.stringify({ time: new Date().toISOString(), ...line, ...extra, ...weightSync, ...actors, ...evaluation }) + "\n");
    otel.record({ ...line, ...actors, ...(evaluation && "eval" in evaluation ? { eval: evaluation.eval } : {}) });
    o.onStep?.(r);
    // A stop request (Ctrl-C) ends the run after this step: save it too, or the steps since the
    // last due checkpoint (up to saveEvery − 1 of them) would be lost.
    if (checkpointDue(r.step) || (!more && o.signal?.aborted)) {
      const dir = await saveCheckpoint(o.runDir, state, { saveLearner: (d) => ports.learner.save(d), buffers: () => ports.buffer.snapshot() }, cfg.trainer.keepCheckpoints); // save names the expected weight version (resilient.ts)
      log(`checkpoint ${dir}`);
    }
  };
  const synchronous = async () => {
    while (state.step < last) {
      o.signal?.throwIfAborted();
      const step = state.step + 1;
      // One trace per step (its root span carries the step number): what `azr trace <step>` shows.
      const r = await withStepSpan(step, async () => {
        const r = await runStep(step, cfg, { rollout: ports.rollout, executor: ports.executor, buffer: ports.buffer, learner: ports.learner, reference: ports.reference }, state.carry);
        await pushWeights();
        return r;
      });
      await complete(r);
    }
  };

  let rollbacks = 0;
  for (;;) {
    try {
      if (cfg.selfplay.offPolicy) await runOffPolicy({ cfg, ports, o, log, last, checkpointDue, complete, pushWeights, from: state });
      else await synchronous();
      return result;
    } catch (e) {
      if (!(e instanceof LearnerLostError)) throw e;
      if (++rollbacks > MAX_ROLLBACKS) {
        // Said as what it is: not one death the run could not ride through, but one too many.
        throw new LearnerLostError(`the learner died ${rollbacks} times in this run, more than the ${MAX_ROLLBACKS} rollbacks a run rides through (why: \`azr logs learner --run-dir ${o.runDir}\`); the last time: ${e.message}`, { cause: e.cause });
      }
      state = await rollBack(e, { runDir: o.runDir, ports, raw: actorPorts, seeded, log, gone: o.actorGone });
      await pushWeights();
    }
  }
}

/** Rollbacks after learner deaths in one invocation, at most (a learner that keeps dying is not a kill to ride through). */
const MAX_ROLLBACKS = 3;

/**
 * The learner died: its weights and optimiser state since the last checkpoint went with it.
 * The whole run goes back to that checkpoint (or, before the first one, to the seeded start):
 * the learner's new incarnation loads it, the buffers are restored, the metrics lines after it
 * are dropped, and the steps since are run again. Every draw of a step is seeded from (seed,
 * step), so the replay is the same run; the tasks the replayed steps admitted come back with it.
 */
async function rollBack(
  e: LearnerLostError,
  x: {
    runDir: string; ports: DriverPorts; raw: DriverPorts; seeded: { buffers: TaskBufferState; carry: StepCarry } | undefined; log: (s: string) => void;
    gone?: (actor: string) => Promise<string | undefined>;
  },
): Promise<DriverState> {
  const c = completeCheckpoints(x.runDir).at(-1);
  if (!c && !x.seeded) throw e;
  x.log(`${(e.cause as Error)?.message ?? e.message}: the learner's state since the last checkpoint is lost; once it is restarted, ` +
    `rolling the run back to ${c ? `checkpoint step-${c.step}` : "its seeded start"} and replaying the steps since (every step is seeded, so the replay is the same run)`);
  // Read (and checked) before the learner is asked to load it: a damaged checkpoint is named, not the learner's stack trace.
  const saved = c ? readCheckpoint(x.runDir, c.dir) : { state: { step: 0, carry: x.seeded!.carry }, buffers: x.seeded!.buffers };
  await recoverLearner(x.raw.learner, c ? join(c.dir, "learner") : null, { log: x.log, gone: x.gone });
  const state = saved.state;
  await x.ports.buffer.restore(saved.buffers);
  keepMetricsThrough(join(x.runDir, "metrics.jsonl"), state.step);
  x.log(`rolled back to step ${state.step}; the learner is back`);
  return state;
}

interface OffPolicyLoop {
  cfg: DriverConfig;
  ports: DriverPorts;
  o: DriverOptions;
  log: (s: string) => void;
  last: number;
  checkpointDue: (step: number) => boolean;
  complete: (r: StepResult, extra: Record<string, unknown>, more?: boolean) => Promise<void>;
  pushWeights: () => Promise<void>;
  from: DriverState;
}

/** An update running in the background, with the step it trains. */
interface InFlight {
  collected: CollectedStep;
  /** Its samples came from the policy before the previous update (that update was still running). */
  lagged: boolean;
  training: Promise<{ stats: TrainStats | null; start: number; end: number }>;
}

/**
 * `selfplay.offPolicy` 1 (beyond the reference, which is synchronous): step t+1's rollouts,
 * executor checks and rewards run while the learner updates on step t, so the rollout engine
 * still holds the weights before update t — one version behind the learner. The learner corrects
 * with the importance ratio ρ = exp(log π_θ − log π_behaviour) under §7.2's PPO clip, the
 * behaviour log-probs coming with each sample from the engine that drew it (step.ts).
 *
 * The pipeline drains before every checkpoint (no step is collected past a step being saved),
 * so a checkpoint holds buffers, weights and carry of one step and `--resume` stays exact; a
 * stop request drains it too. Each metrics line carries `offPolicy`: whether its samples lagged
 * and how many seconds of the next step's collection overlapped its update.
 */
async function runOffPolicy(x: OffPolicyLoop): Promise<void> {
  const { cfg, ports, o } = x;
  let carry = x.from.carry;
  let next = x.from.step + 1;
  let pending: InFlight | undefined;
  let overlapTotal = 0;
  const startTraining = (collected: CollectedStep, lagged: boolean): InFlight => {
    const start = performance.now();
    const training = (collected.batch.length ? ports.learner.trainStep(collected.batch) : Promise.resolve(null)).then((stats) => ({ stats, start, end: performance.now() }));
    training.catch(() => {}); // awaited by settle(); not an unhandled rejection while the next step is collected
    return { collected, lagged, training };
  };
  /** `more`: the step after it is already collected and will complete too (no stop checkpoint here). */
  const settle = async (p: InFlight, overlapSeconds: number, more: boolean) => {
    const t = await p.training;
    await x.pushWeights();
    overlapTotal += overlapSeconds;
    await x.complete(finishStep(p.collected, t.stats, t.end), { offPolicy: { lagged: p.lagged, overlapSeconds } }, more);
  };
  for (;;) {
    if (pending && (x.checkpointDue(pending.collected.result.step) || next > x.last || o.signal?.aborted)) {
      await settle(pending, 0, false);
      pending = undefined;
    }
    if (!pending && next > x.last) break;
    o.signal?.throwIfAborted();
    const step = next++;
    const c0 = performance.now();
    const collected = await withStepSpan(step, () => collectStep(step, cfg, { rollout: ports.rollout, executor: ports.executor, buffer: ports.buffer, reference: ports.reference }, carry));
    const c1 = performance.now();
    carry = collected.result.carry;
    const lagged = pending !== undefined;
    if (pending) {
      const t = await pending.training;
      await settle(pending, Math.max(0, Math.min(c1, t.end) - Math.max(c0, t.start)) / 1000, true);
    }
    pending = startTraining(collected, lagged);
  }
  x.log(`off-policy: rollouts of the next step overlapped the update for ${overlapTotal.toFixed(1)} s in all`);
}
