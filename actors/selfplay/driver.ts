/**
 * The self-play driver: seeds the buffers, runs the steps, publishes each new weight version to
 * the rollout engine, writes one metrics line per step, checkpoints every `trainer.saveEvery`
 * steps and at the end, and resumes from the newest complete checkpoint.
 *
 * Covers: the loop and the run folder (config.json, metrics.jsonl, checkpoints/step-N/).
 * Not: starting actors (the CLI spawns them and passes handles), the step itself (step.ts).
 *
 * Departures: seeding re-validates the seed file's entries with the executor and keeps the
 * valid ones (spec §4.2); topping up a short seed set with model-made seeds (`seed.topUp`) is
 * not built yet — a short set is used as it is and the log says so.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, appendFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  identityInductionEntry, identityTriplet, parseInductionSeedLine, parseSeedFile, parseTripletSeedLine,
  type InductionEntry, type TaskType, type Triplet,
} from "../../azr/index.ts";
import type { TrainSequence, TrainStats } from "../../model/engine.ts";
import type { BufferPort, ExecutorPort, ReferencePort, RolloutPort } from "./ports.ts";
import { runStep, checkStepConfig, type StepCarry, type StepConfig, type StepResult } from "./step.ts";
import type { TaskBufferState } from "./task-buffer.ts";

/** The learner's surface the driver uses (actors/learner.ts implements it). */
export interface LearnerControl {
  trainStep(batch: TrainSequence[]): Promise<TrainStats>;
  /** Current weights (merged when LoRA) with their version, for the rollout engine. */
  weights(): Promise<{ version: number; tensors: Map<string, Float32Array> }>;
  save(dir: string): Promise<void>;
  load(dir: string): Promise<void>;
}

export interface BufferControl extends BufferPort {
  snapshot(): Promise<TaskBufferState>;
  restore(s: TaskBufferState): Promise<void>;
}

export interface RolloutControl extends RolloutPort {
  setWeights(weights: Map<string, Float32Array>, version: number): Promise<void>;
}

export interface DriverConfig extends StepConfig {
  name: string;
  selfplay: StepConfig["selfplay"] & { steps: number };
  seed: { dir: string; triplets: string | null; induction: string | null; factor: number };
  trainer: StepConfig["trainer"] & { saveEvery: number; keepCheckpoints: number };
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
  signal?: AbortSignal;
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

async function loadSeeds(cfg: DriverConfig, executor: ExecutorPort, log: (s: string) => void): Promise<{ triplets: Triplet[]; induction: InductionEntry[] }> {
  const limit = cfg.seed.factor * cfg.selfplay.batchSize;
  const read = <T>(file: string | null, parse: (l: string, w: string) => T): T[] | undefined => {
    if (!file) return undefined;
    const path = resolve(cfg.seed.dir, file);
    if (!existsSync(path)) throw new RunFolderError(`seed file ${path} not found: fix seed.${parse === parseTripletSeedLine ? "triplets" : "induction"} in the recipe (or set it to null to start from the identity seed)`);
    return parseSeedFile(readFileSync(path, "utf8"), path, limit, parse);
  };
  const triplets = read(cfg.seed.triplets, parseTripletSeedLine) ?? [identityTriplet()];
  const induction = read(cfg.seed.induction, parseInductionSeedLine) ?? [identityInductionEntry()];
  // Re-validate every seed with our executor and keep the recomputed outputs (§4.2).
  const keptT: Triplet[] = [];
  const reasons = new Map<string, number>();
  for await (const v of executor.validateProposals(triplets.map((t) => ({ type: "deduction" as const, program: t.program, input: t.input })))) {
    if (v.ok && v.outputs) keptT[v.index] = { ...triplets[v.index], output: v.outputs[0], step: 0 };
    else reasons.set(v.reason, (reasons.get(v.reason) ?? 0) + 1);
  }
  const keptI: InductionEntry[] = [];
  for await (const v of executor.validateProposals(induction.map((e) => ({ type: "induction" as const, program: e.program, inputs: e.inputs })))) {
    if (v.ok && v.outputs) keptI[v.index] = { ...induction[v.index], outputs: v.outputs, step: 0 };
    else reasons.set(v.reason, (reasons.get(v.reason) ?? 0) + 1);
  }
  const t = keptT.filter(Boolean), i = keptI.filter(Boolean);
  log(`seeds: ${t.length}/${triplets.length} triplets and ${i.length}/${induction.length} induction entries re-validated` +
    (reasons.size ? ` (dropped: ${[...reasons].map(([r, n]) => `${r} ×${n}`).join(", ")})` : ""));
  if (t.length === 0) throw new RunFolderError("no seed triplet survived re-validation: check the seed file or the executor (`azr doctor`)");
  if (t.length < cfg.selfplay.batchSize && cfg.seed.triplets) log(`seeds: fewer than B = ${cfg.selfplay.batchSize} triplets remain; model-made top-up is not built yet, continuing with ${t.length}`);
  return { triplets: t, induction: i };
}

async function saveCheckpoint(runDir: string, state: DriverState, ports: DriverPorts, keep: number): Promise<string> {
  const root = join(runDir, CHECKPOINTS);
  const dir = join(root, `step-${state.step}`);
  const tmp = `${dir}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await ports.learner.save(join(tmp, "learner"));
  writeFileSync(join(tmp, "buffers.json"), JSON.stringify(await ports.buffer.snapshot()));
  writeFileSync(join(tmp, "driver.json"), JSON.stringify(state));
  writeFileSync(join(tmp, "complete"), new Date().toISOString() + "\n");
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir); // a checkpoint is either whole or absent
  const all = completeCheckpoints(runDir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) rmSync(old.dir, { recursive: true, force: true });
  return dir;
}

/** Runs the recipe's steps (or resumes them); resolves with the last step's result. */
export async function runSelfplay(cfg: DriverConfig, ports: DriverPorts, o: DriverOptions): Promise<StepResult | undefined> {
  checkStepConfig(cfg);
  const log = o.log ?? ((s: string) => console.log(s));
  mkdirSync(o.runDir, { recursive: true });
  const metricsFile = join(o.runDir, "metrics.jsonl");
  let state: DriverState = { step: 0, carry: { fresh: {} } };

  const latest = completeCheckpoints(o.runDir).at(-1);
  if (o.resume && latest) {
    state = JSON.parse(readFileSync(join(latest.dir, "driver.json"), "utf8")) as DriverState;
    await ports.buffer.restore(JSON.parse(readFileSync(join(latest.dir, "buffers.json"), "utf8")) as TaskBufferState);
    await ports.learner.load(join(latest.dir, "learner"));
    const w = await ports.learner.weights();
    await ports.rollout.setWeights(w.tensors, w.version);
    log(`resumed ${o.runDir} at step ${state.step} (checkpoint ${latest.dir})`);
  } else {
    if (existsSync(metricsFile)) throw new RunFolderError(`${o.runDir} already holds a run: pass --resume to continue it, or choose another --run-dir`);
    writeFileSync(join(o.runDir, "config.json"), JSON.stringify(cfg, null, 2) + "\n");
    const seeds = await loadSeeds(cfg, ports.executor, log);
    for (const type of ["deduction", "abduction"] as TaskType[]) await ports.buffer.admit(type, seeds.triplets, 0);
    await ports.buffer.admit("induction", seeds.induction, 0);
  }

  const last = Math.min(cfg.selfplay.steps, o.stopAfter ?? Infinity);
  let result: StepResult | undefined;
  while (state.step < last) {
    o.signal?.throwIfAborted();
    const step = state.step + 1;
    result = await runStep(step, cfg, { rollout: ports.rollout, executor: ports.executor, buffer: ports.buffer, learner: ports.learner, reference: ports.reference }, state.carry);
    const w = await ports.learner.weights();
    await ports.rollout.setWeights(w.tensors, w.version);
    state = { step, carry: result.carry };
    const { carry: _carry, ...line } = result;
    appendFileSync(metricsFile, JSON.stringify({ time: new Date().toISOString(), ...line }) + "\n");
    o.onStep?.(result);
    if (step % cfg.trainer.saveEvery === 0 || step === last) {
      const dir = await saveCheckpoint(o.runDir, state, ports, cfg.trainer.keepCheckpoints);
      log(`checkpoint ${dir}`);
    }
  }
  return result;
}
