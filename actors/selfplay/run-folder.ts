/**
 * A self-play run folder's checkpoints and metrics file: which checkpoints are complete, reading one
 * back (checked, so a damaged file is named before any actor starts), writing one whole or not at
 * all (temp folder, flush, rename, flush: model/durable.ts), and cutting metrics.jsonl back to a
 * checkpoint's step when the steps after it are run again.
 *
 *   <run>/checkpoints/step-N/{learner/, buffers.json, driver.json, complete}
 *   <run>/metrics.jsonl
 *
 * Covers: the files. Not: when to checkpoint or resume (driver.ts).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { syncFile, syncFileSync, syncParent, syncParentSync, syncTree } from "../../model/durable.ts";
import { readHeader } from "../../model/safetensors.ts";
import type { StepCarry } from "./step.ts";
import type { TaskBufferState } from "./task-buffer.ts";

/** Where the driver is: the last finished step and what the next step carries over from it. */
export interface DriverState {
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

export const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null;

/** What a checkpoint holds besides the driver state, asked for as it is written. */
export interface CheckpointParts {
  /** Writes the learner's state into `dir` (weights, optimiser, schedule). */
  saveLearner(dir: string): Promise<unknown>;
  /** The task buffers as they stand. */
  buffers(): Promise<TaskBufferState>;
}

/** Writes checkpoints/step-<state.step> whole, then keeps the newest `keep` complete ones. */
export async function saveCheckpoint(runDir: string, state: DriverState, parts: CheckpointParts, keep: number): Promise<string> {
  const root = join(runDir, CHECKPOINTS);
  const dir = join(root, `step-${state.step}`);
  const tmp = `${dir}.partial`;
  // Every half-written checkpoint goes, not only this step's: one cut off by a kill during a stop's
  // save (step 7, saveEvery 5) is never written again after the resume, and holds a learner's state.
  if (existsSync(root)) for (const name of readdirSync(root).filter((n) => n.endsWith(".partial"))) rmSync(join(root, name), { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await parts.saveLearner(join(tmp, "learner"));
  writeFileSync(join(tmp, "buffers.json"), JSON.stringify(await parts.buffers()));
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
 * Drops the metrics lines of steps after `step` (they are run again), and a last line a crash cut
 * short (not JSON). Written beside and renamed over, so a crash here leaves the old file or the new one.
 */
export function keepMetricsThrough(metricsFile: string, step: number): void {
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
