/**
 * The self-play driver: seeds the buffers, runs the steps, publishes each new weight version to
 * the rollout engine (by handle, timed: actors/weight-sync), writes one metrics line per step, checkpoints every `trainer.saveEvery`
 * steps and at the end, and resumes from the newest complete checkpoint.
 *
 * Covers: the loop and the run folder (config.json, metrics.jsonl, checkpoints/step-N/).
 * Not: starting actors (the CLI spawns them and passes handles), the step itself (step.ts).
 *
 * Departures: seeding re-validates the seed file's entries with the executor and keeps the
 * valid ones (spec §4.2); a set shorter than B is topped up with model-made seeds
 * (`seed.topUp`, seeding.ts), bounded by `seed.maxRounds` where the reference loops forever.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, appendFileSync } from "node:fs";
import { syncFile, syncFileSync, syncParent, syncParentSync, syncTree } from "../../model/durable.ts";
import { join, resolve } from "node:path";
import {
  admitEntries, errorGold, identityInductionEntry, identityTriplet, inductionSeedLine, NO_ERROR, parseInductionSeedLine, parseSeedFile, parseTripletSeedLine, seedTopUp, SeedShortfallError, tripletSeedLine,
  type InductionEntry, type TaskType, type Triplet,
} from "../../azr/index.ts";
import type { ProposalCheck, ProposalVerdict } from "../code-executor/index.ts";
import type { TrainSequence, TrainStats } from "../../model/engine.ts";
import type { EvalScores } from "../eval/in-training.ts";
import type { BufferPort, ExecutorPort, ReferencePort, RolloutPort } from "./ports.ts";
import { makeInductionSeeds, makeTripletSeeds, type MadeSeeds, type SeedingConfig } from "./seeding.ts";
import { runStep, checkStepConfig, collectStep, finishStep, type CollectedStep, type StepCarry, type StepConfig, type StepResult } from "./step.ts";
import type { TaskBufferState } from "./task-buffer.ts";
import { LearnerLostError, recoverLearner, resilientPorts } from "./resilient.ts";
import { withStepSpan } from "../../runtime/telemetry-local.ts";
import { readHeader } from "../../model/safetensors.ts";
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
}

interface DriverState {
  step: number;
  carry: StepCarry;
}

const CHECKPOINTS = "checkpoints";

export class RunFolderError extends Error {
  override name = "RunFolderError";
}

/** Checkpoint folders step-N that finished writing (a `complete` marker), oldest first. */
export function completeCheckpoints(runDir: string): { step: number; dir: string }[] {
  const root = join(runDir, CHECKPOINTS);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((name) => ({ name, m: /^step-(\d+)$/.exec(name) }))
    .filter((x) => x.m && existsSync(join(root, x.name, "complete")))
    .map((x) => ({ step: Number(x.m![1]), dir: join(root, x.name) }))
    .sort((a, b) => a.step - b.step);
}

/** A checkpoint's driver state and buffers: what a resume or a rollback continues from. */
export interface CheckpointState {
  state: DriverState;
  buffers: TaskBufferState;
}

/**
 * Reads the driver state and buffers of the checkpoint at `dir`, and checks that its learner's
 * files are whole (each .json parses, each .safetensors holds the bytes its header names). The
 * rename makes a checkpoint whole or absent for a killed process, and the flush before it for an OS
 * crash (saveCheckpoint), but not for a full disk, a disk that lies about its flushes or a hand edit:
 * a damaged file is a RunFolderError naming it and the
 * older checkpoint to go back to, not a SyntaxError's (or the learner's) stack trace after every
 * actor has started.
 */
export function readCheckpoint(runDir: string, dir: string): CheckpointState {
  const damaged = (what: string) => {
    const older = completeCheckpoints(runDir).filter((c) => resolve(c.dir) !== resolve(dir)).at(-1);
    return new RunFolderError(`checkpoint ${dir} is damaged: ${what}; ` + (older
      ? `remove ${dir} and resume again to continue from the checkpoint of step ${older.step} (the steps after it are run again)`
      : "it is the run's only checkpoint: start the run again with another --run-dir"));
  };
  const parse = (path: string): unknown => {
    try {
      return JSON.parse(readFileSync(path, "utf8"));
    } catch (e) {
      throw damaged(`${path} is not valid JSON (${(e as Error).message})`);
    }
  };
  const read = <T>(file: string, ok: (x: Record<string, unknown>) => boolean): T => {
    const x = parse(join(dir, file));
    if (!isObject(x) || !ok(x)) throw damaged(`${join(dir, file)} does not hold what the driver saves there`);
    return x as T;
  };
  const checked = {
    state: read<DriverState>("driver.json", (x) => Number.isInteger(x.step) && isObject(x.carry)),
    buffers: read<TaskBufferState>("buffers.json", (x) => isObject(x.buffers)),
  };
  const learner = join(dir, "learner");
  if (!existsSync(learner)) throw damaged(`its learner folder ${learner} is missing`);
  for (const f of readdirSync(learner, { recursive: true, encoding: "utf8" }).map((f) => join(learner, f))) {
    if (f.endsWith(".json")) parse(f);
    else if (f.endsWith(".safetensors")) {
      try {
        readHeader(f);
      } catch (e) {
        throw damaged((e as Error).message.replace(/; the file is damaged or incomplete.*$/, ""));
      }
    }
  }
  return checked;
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null;

type Entry = Triplet | InductionEntry;
type Judged<E> = { ok: true; entry: E } | { ok: false; reason: string };

/**
 * Re-validate seed entries with our executor (§4.2): `judge` turns each verdict into the entry
 * to keep (outputs recomputed) or the reason it is dropped; exact duplicates are dropped too;
 * reasons are counted into `dropped`.
 */
async function revalidate<E extends Entry>(
  executor: ExecutorPort, entries: E[], check: (e: E) => ProposalCheck, judge: (e: E, v: ProposalVerdict) => Judged<E>, dropped: Map<string, number>,
): Promise<E[]> {
  const kept: E[] = [];
  const drop = (reason: string, n = 1) => dropped.set(reason, (dropped.get(reason) ?? 0) + n);
  for await (const v of executor.validateProposals(entries.map(check))) {
    const j = judge(entries[v.index], v);
    if (j.ok) kept[v.index] = j.entry;
    else drop(j.reason);
  }
  // De-duplication is part of re-validation (§4.2): the count that decides the top-up is of distinct entries.
  const distinct = admitEntries([], kept.filter(Boolean), { dedupe: "exact", maxEntries: Number.MAX_SAFE_INTEGER, capPolicy: "keep-first" });
  if (distinct.rejected.length) drop("duplicate", distinct.rejected.length);
  return distinct.entries;
}

const tripletCheck = (t: Triplet): ProposalCheck => ({ type: "deduction", program: t.program, input: t.input });
const judgeTriplet = (t: Triplet, v: ProposalVerdict): Judged<Triplet> => (v.ok && v.outputs ? { ok: true, entry: { ...t, output: v.outputs[0], step: 0 } } : { ok: false, reason: v.reason });
const judgeInduction = (e: InductionEntry, v: ProposalVerdict): Judged<InductionEntry> => (v.ok && v.outputs ? { ok: true, entry: { ...e, outputs: v.outputs, step: 0 } } : { ok: false, reason: v.reason });
const judgeError = (t: Triplet, v: ProposalVerdict): Judged<Triplet> => {
  const g = errorGold(v);
  return g.ok ? { ok: true, entry: { ...t, output: g.gold, step: 0 } } : { ok: false, reason: g.reason };
};

interface Seeds {
  triplets: Triplet[];
  induction: InductionEntry[];
  /** Only when `error` is a task type. */
  errors?: Triplet[];
}

/**
 * The seed buffers: the recipe's seed files (or the identity seeds), re-validated, then topped
 * up with model-made seeds when fewer than B survive (`seed.topUp`, §4.2) — the model-made ones
 * are written to the run folder beside the config. With no seed file and `seed.topUp` off the
 * run starts from the identity seeds alone.
 */
async function loadSeeds(cfg: DriverConfig, ports: DriverPorts, runDir: string, log: (s: string) => void, signal?: AbortSignal): Promise<Seeds> {
  const limit = cfg.seed.factor * cfg.selfplay.batchSize;
  const read = <T>(file: string | null, key: string, parse: (l: string, w: string) => T): T[] | undefined => {
    if (!file) return undefined;
    const path = resolve(cfg.seed.dir, file);
    if (!existsSync(path)) throw new RunFolderError(`seed file ${path} not found: fix seed.${key} in the recipe (or set it to null to start from the identity seed)`);
    return parseSeedFile(readFileSync(path, "utf8"), path, limit, parse);
  };
  const dropped = new Map<string, number>();
  const triplets = read(cfg.seed.triplets, "triplets", parseTripletSeedLine) ?? [identityTriplet()];
  const induction = read(cfg.seed.induction, "induction", parseInductionSeedLine) ?? [identityInductionEntry()];
  let t = await revalidate(ports.executor, triplets, tripletCheck, judgeTriplet, dropped);
  // checkBans: a seed file's induction programs come from no triplet buffer, so nothing has applied
  // the ban list to them yet; §4.2 re-validates seeds with §5.3 checks 1–7, check 2 included.
  let i = await revalidate(ports.executor, induction, (e) => ({ type: "induction", program: e.program, inputs: e.inputs, checkBans: true }), judgeInduction, dropped);
  log(`seeds: ${t.length}/${triplets.length} triplets and ${i.length}/${induction.length} induction entries re-validated` +
    (dropped.size ? ` (dropped: ${[...dropped].map(([r, n]) => `${r} ×${n}`).join(", ")})` : ""));
  if (t.length === 0) throw new RunFolderError("no seed triplet survived re-validation: check the seed file or the executor (`azr doctor`)");

  const fileName = (f: string | null) => f ?? "(no seed file: the identity seed)";
  const topUp = (kept: number, file: string | null) => {
    if (file === null && !cfg.seed.topUp) return 0;
    try {
      return seedTopUp(kept, { batchSize: cfg.selfplay.batchSize, factor: cfg.seed.factor, topUp: cfg.seed.topUp, file: fileName(file) });
    } catch (e) {
      // a short seed file with the top-up off is a setting to fix, reported like the other run-folder problems
      if (e instanceof SeedShortfallError) throw new RunFolderError(e.message, { cause: e });
      throw e;
    }
  };
  const moreT = topUp(t.length, cfg.seed.triplets);
  if (moreT > 0) {
    log(`seeds: ${t.length} triplets < B = ${cfg.selfplay.batchSize}; topping up to ${t.length + moreT} with model-made seeds (seed.topUp)`);
    const made = await makeTripletSeeds(cfg, ports, t, t.length + moreT, log, signal);
    logMade("triplet", made, t.length + moreT, log);
    writeFileSync(join(runDir, "seed-triplets.jsonl"), made.entries.map((x) => tripletSeedLine(x, made.originals.get(x))).join("\n") + "\n");
    t = made.entries;
  }
  const moreI = topUp(i.length, cfg.seed.induction);
  if (moreI > 0) {
    log(`seeds: ${i.length} induction entries < B = ${cfg.selfplay.batchSize}; topping up to ${i.length + moreI} with model-made seeds (seed.topUp)`);
    const made = await makeInductionSeeds(cfg, ports, t, i, i.length + moreI, log, signal);
    logMade("induction", made, i.length + moreI, log);
    writeFileSync(join(runDir, "seed-induction.jsonl"), made.entries.map((x) => inductionSeedLine(x)).join("\n") + "\n");
    i = made.entries;
  }
  if (!cfg.selfplay.taskTypes.includes("error")) return { triplets: t, induction: i };
  // The error buffer: the seed.errors file (triplet lines whose output is the exception name), else the identity program (NoError).
  const errors = read(cfg.seed.errors, "errors", parseTripletSeedLine) ?? [{ ...identityTriplet(), output: NO_ERROR }];
  const e = await revalidate(ports.executor, errors, tripletCheck, judgeError, dropped);
  log(`seeds: ${e.length}/${errors.length} error-type entries re-validated`);
  if (e.length === 0) throw new RunFolderError(`no error-type seed survived re-validation${cfg.seed.errors ? `: check ${cfg.seed.errors}` : ""}`);
  return { triplets: t, induction: i, errors: e };
}

function logMade(what: string, m: MadeSeeds<unknown>, target: number, log: (s: string) => void): void {
  const why = Object.entries(m.rejected).map(([r, n]) => `${r} ×${n}`).join(", ");
  log(`seeds: the model made ${m.made} ${what} seeds in ${m.rounds} round(s)${why ? ` (rejected: ${why})` : ""}` +
    (m.entries.length < target ? `; stopped at seed.maxRounds = ${m.rounds} with ${m.entries.length}/${target}, continuing with those` : ""));
}

async function saveCheckpoint(runDir: string, state: DriverState, ports: DriverPorts, keep: number): Promise<string> {
  const root = join(runDir, CHECKPOINTS);
  const dir = join(root, `step-${state.step}`);
  const tmp = `${dir}.partial`;
  // Every half-written checkpoint goes, not only this step's: one cut off by a kill during a stop's
  // save (step 7, saveEvery 5) is never written again after the resume, and holds a learner's state.
  if (existsSync(root)) for (const name of readdirSync(root).filter((n) => n.endsWith(".partial"))) rmSync(join(root, name), { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await ports.learner.save(join(tmp, "learner")); // names the expected weight version (resilient.ts)
  writeFileSync(join(tmp, "buffers.json"), JSON.stringify(await ports.buffer.snapshot()));
  writeFileSync(join(tmp, "driver.json"), JSON.stringify(state));
  writeFileSync(join(tmp, "complete"), new Date().toISOString() + "\n");
  // On the disk before the rename makes it "complete", and the metrics of the steps it covers with it:
  // an OS crash must not leave a complete checkpoint of zeros (model/durable.ts).
  await syncTree(tmp);
  const metrics = join(runDir, "metrics.jsonl");
  if (existsSync(metrics)) await syncFile(metrics);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir); // a checkpoint is either whole or absent
  await syncParent(dir);
  const all = completeCheckpoints(runDir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) rmSync(old.dir, { recursive: true, force: true });
  return dir;
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
    appendFileSync(metricsFile, JSON.stringify({ time: new Date().toISOString(), ...line, ...extra, ...weightSync, ...evaluation }) + "\n");
    o.onStep?.(r);
    // A stop request (Ctrl-C) ends the run after this step: save it too, or the steps since the
    // last due checkpoint (up to saveEvery − 1 of them) would be lost.
    if (checkpointDue(r.step) || (!more && o.signal?.aborted)) {
      const dir = await saveCheckpoint(o.runDir, state, ports, cfg.trainer.keepCheckpoints);
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

/**
 * Drops the metrics lines of steps after `step` (they are run again), and a last line a crash cut
 * short (not JSON). Written beside and renamed over, so a crash here leaves the old file or the new one.
 */
function keepMetricsThrough(metricsFile: string, step: number): void {
  if (!existsSync(metricsFile)) return;
  const parsed = (l: string): { step: number } | undefined => {
    try {
      return JSON.parse(l) as { step: number };
    } catch {
      return undefined;
    }
  };
  const kept = readFileSync(metricsFile, "utf8").split("\n").filter((l) => l.trim() && (parsed(l)?.step ?? Infinity) <= step);
  const tmp = `${metricsFile}.partial`;
  writeFileSync(tmp, kept.map((l) => l + "\n").join(""));
  syncFileSync(tmp);
  renameSync(tmp, metricsFile);
  syncParentSync(metricsFile);
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
