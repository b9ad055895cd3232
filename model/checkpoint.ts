/**
 * A Hugging Face model directory ↔ (ArchConfig, named fp32 weights). Loading checks every
 * expected tensor is present with the right shape and reads them one at a time (no second copy),
 * each file through one open descriptor.
 * Covers: config.json + model.safetensors[.index.json]. Not: tokenizer files (./tokenizer.ts).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { syncParentSync, syncTreeSync } from "./durable.ts";
import { readConfig, toHfConfig, weightShapes, type ArchConfig } from "./config.ts";
import { modelFiles, SafetensorsReader, writeSafetensors, writeSharded, type StDtype } from "./safetensors.ts";

export type Weights = Map<string, Float32Array>;

export class CheckpointError extends Error {
  override name = "CheckpointError";
}

export interface LoadedModel {
  config: ArchConfig;
  weights: Weights;
}

export function loadModel(dir: string): LoadedModel {
  const config = readConfig(dir);
  return { config, weights: loadWeights(dir, config) };
}

export function loadWeights(dir: string, config: ArchConfig): Weights {
  return new Map(iterWeights(dir, config));
}

/**
 * The weights of `dir`, one tensor at a time, each file's header and tensors read through one open
 * file (a version renamed over a file mid-load cannot give a mix of two). Every file is opened and
 * every expected tensor checked (present, shape) before the first is read; the files are closed
 * when the iteration ends, also when it is left early.
 */
export function* iterWeights(dir: string, config: ArchConfig): Generator<[string, Float32Array]> {
  const expected = weightShapes(config);
  const readers: SafetensorsReader[] = [];
  try {
    for (const f of modelFiles(dir)) readers.push(new SafetensorsReader(f));
    const found = new Map(readers.flatMap((r) => r.tensors.map((t) => [t.name, { r, t }] as const)));
    const missing = [...expected.keys()].filter((k) => !found.has(k));
    if (missing.length)
      throw new CheckpointError(`${dir}: ${missing.length} weight(s) missing, e.g. ${missing.slice(0, 3).join(", ")} (does config.json match the checkpoint?)`);
    for (const [name, shape] of expected) {
      const t = found.get(name)!.t;
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
        throw new CheckpointError(`${dir}: tensor ${name} has shape [${t.shape}], config.json implies [${shape}] (use the config.json that came with these weights)`);
    }
    for (const name of expected.keys()) {
      const { r, t } = found.get(name)!;
      yield [name, r.read(t)];
    }
  } finally {
    for (const r of readers) r.close();
  }
}

export interface SaveOptions {
  dtype?: StDtype;
  /** Split into shards of this many bytes with an index file (default: one file). */
  maxShardBytes?: number;
}

export function saveModel(dir: string, config: ArchConfig, weights: Weights, opts: SaveOptions = {}): void {
  mkdirSync(dir, { recursive: true });
  const tensors = [...weightShapes(config)].map(([name, shape]) => {
    const data = weights.get(name);
    if (!data) throw new CheckpointError(`cannot save ${dir}: weight ${name} is missing`);
    return { name, shape, data };
  });
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...toHfConfig(config), torch_dtype: dtypeName(opts.dtype ?? "F32") }, null, 2) + "\n");
  if (opts.maxShardBytes) writeSharded(dir, tensors, opts.maxShardBytes, opts.dtype);
  else writeSafetensors(join(dir, "model.safetensors"), tensors, opts.dtype);
}

/**
 * Writes the new folder `dir` through `fill(tmp)`: into a sibling temp folder, renamed to `dir`
 * once complete, so a failure (a missing tokenizer, a full disk) leaves no half-written model. A
 * `dir` that already holds files is refused before anything is written: mixed with the new files,
 * an earlier export's shards and index would be what loaders read (the index wins over
 * model.safetensors), and replacing it could delete a model the user still needs.
 *
 * The temp folder's name carries this host and process id (see partialFolders), so a partial folder
 * left by a process that was killed mid-write (SIGKILL, a crash, a power cut: no catch runs) is
 * known to be dead and removed by the next write to the same `dir`. `alive` says whether a pid of this
 * host runs (the caller passes runtime's processAlive: model/ does not import runtime/).
 */
export function writeNewFolder(dir: string, fill: (tmp: string) => void, alive: (pid: number) => boolean): void {
  const target = resolve(dir);
  if (existsSync(target) && (!statSync(target).isDirectory() || readdirSync(target).length > 0))
    throw new CheckpointError(`${dir} already exists and is not an empty folder: give a new folder (or delete it first); nothing was written`);
  mkdirSync(dirname(target), { recursive: true });
  clearStalePartials(target, alive);
  const tmp = mkdtempSync(join(dirname(target), `${partialPrefix(target)}${HOST}-${process.pid}-`));
  try {
    fill(tmp);
    syncTreeSync(tmp); // whole on the disk before the rename says so (durable.ts)
    testPause();
    if (existsSync(target)) rmdirSync(target); // empty (checked above)
    renameSync(tmp, target);
    syncParentSync(target);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Test hook: AZR_TEST_EXPORT_PAUSE_MS holds a complete partial folder that long before its rename,
 * so a test can interrupt an export mid-write without a multi-GB model. Unset, it costs nothing.
 */
function testPause(): void {
  const ms = Number(process.env.AZR_TEST_EXPORT_PAUSE_MS ?? 0);
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** This host's name as a partial folder carries it: no '-' (the separator before the pid) and nothing a shell would mind. */
const HOST = hostname().replace(/[^A-Za-z0-9.]/g, "_");

const partialPrefix = (target: string) => `.${basename(target)}.partial-`;

/** A temp folder of writeNewFolder for `dir`; host and pid when it was made by a version that names them (older ones did not). */
export interface PartialFolder {
  path: string;
  host?: string;
  pid?: number;
}

/** The temp folders of writes to `dir` (`.<name>.partial-*` beside it): finished or failed writes leave none. */
export function partialFolders(dir: string): PartialFolder[] {
  const target = resolve(dir);
  const parent = dirname(target);
  if (!existsSync(parent) || !statSync(parent).isDirectory()) return [];
  const prefix = partialPrefix(target);
  return readdirSync(parent)
    .filter((f) => f.startsWith(prefix))
    .map((f) => {
      const m = /^([A-Za-z0-9._]+)-(\d+)-[^-]+$/.exec(f.slice(prefix.length));
      return m ? { path: join(parent, f), host: m[1], pid: Number(m[2]) } : { path: join(parent, f) };
    });
}

/** Removes the partial folders of writes to `dir` by process `pid` on this host (after that process's write was stopped); returns them. */
export function removePartials(dir: string, pid: number): string[] {
  const mine = partialFolders(dir).filter((p) => p.host === HOST && p.pid === pid);
  for (const p of mine) rmSync(p.path, { recursive: true, force: true });
  return mine.map((p) => p.path);
}

/**
 * Removes the partial folders of writes to `dir` whose process is gone (this host, pid not running):
 * what an export killed mid-write leaves, possibly many GB, hidden by its leading dot. Kept, with
 * why: those of a live process (a write still running) and those it cannot prove dead (another
 * host, a name without a pid) — for the caller to report. `alive`: as for writeNewFolder.
 */
export function clearStalePartials(dir: string, alive: (pid: number) => boolean): { removed: string[]; kept: { path: string; owner: string }[] } {
  const removed: string[] = [], kept: { path: string; owner: string }[] = [];
  for (const p of partialFolders(dir)) {
    if (p.pid === undefined) kept.push({ path: p.path, owner: "an export of unknown process" });
    else if (p.host !== HOST) kept.push({ path: p.path, owner: `process ${p.pid} on host ${p.host}` });
    else if (alive(p.pid)) kept.push({ path: p.path, owner: `running process ${p.pid}` });
    else {
      rmSync(p.path, { recursive: true, force: true });
      removed.push(p.path);
    }
  }
  return { removed, kept };
}

const dtypeName = (d: StDtype) => ({ F32: "float32", F16: "float16", BF16: "bfloat16" })[d];

/** Deterministic random weights (HF-like init: normal(0, 0.02) matrices, ones for norms). */
export function randomWeights(config: ArchConfig, seed = 0, std = 0.02): Weights {
  let s = seed >>> 0 || 1;
  const uniform = () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; // xorshift32
    return (s + 0.5) / 4294967296;
  };
  const w: Weights = new Map();
  for (const [name, shape] of weightShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (name.endsWith("norm.weight")) for (let i = 0; i < n; i++) data[i] = 1 + 0.1 * (uniform() - 0.5);
    else
      for (let i = 0; i < n; i += 2) {
        const r = Math.sqrt(-2 * Math.log(uniform())), th = 2 * Math.PI * uniform(); // Box–Muller
        data[i] = std * r * Math.cos(th);
        if (i + 1 < n) data[i + 1] = std * r * Math.sin(th);
      }
    w.set(name, data);
  }
  return w;
}
