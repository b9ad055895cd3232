/**
 * The rollout engine's side of weight sync: installs the version a handle names into its engine.
 *
 * Covers: the handle's fields checked on receipt (handle.ts checkHandle); shm (checks the handle
 * comes from this host and names this run's file in this host's weights folder, there and whole, then the
 * engine reads it: the torch worker in Python, the ORT engine in TypeScript), object-store
 * (downloaded part by part into this side's own shm folder, read the same way, then removed;
 * the parts are consumed unless the handle has several readers), inline; for each, a full version
 * or a LoRA adapter version (the sink merges the adapters into the model it started with, lora.ts).
 * Errors name the file or object and the fix. Not: publishing (publisher.ts).
 */
import { existsSync, lstatSync, rmSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join, normalize } from "node:path";
import { checkHandle, type LoraInfo, type WeightHandle, type WeightSyncOptions } from "./handle.ts";
import { outOfRoom, safeRunId, WeightFiles } from "./files.ts";
import { hostIdentity, shmRoot } from "./host.ts";
import { WeightBucket, WeightSyncError } from "./object-store.ts";

/** How the rollout engine takes weights in. */
export interface WeightSink {
  /** Reads a safetensors file into the live weights and sets the version. */
  loadFile(path: string, version: number): Promise<void>;
  setTensors(tensors: Map<string, Float32Array>, version: number): Promise<void>;
  /**
   * lora-adapters versions: W = W_base + scale·B·A for each adapted weight, W_base being the model
   * the engine started with (never the previous version), then sets the version.
   */
  loadAdaptersFile?(path: string, lora: LoraInfo, version: number): Promise<void>;
  setAdapters?(adapters: Map<string, Float32Array>, lora: LoraInfo, version: number): Promise<void>;
}

/** The sink's calls for the handle's kind: full weights as they are, adapters merged. */
function install(h: WeightHandle, sink: WeightSink): { file(path: string): Promise<void>; tensors(t: Map<string, Float32Array>): Promise<void> } {
  if ((h.kind ?? "full") === "full") return { file: (p) => sink.loadFile(p, h.version), tensors: (t) => sink.setTensors(t, h.version) };
  if (h.kind !== "lora-adapters") throw new WeightSyncError(`weight handle for version ${h.version} has unknown kind ${JSON.stringify(h.kind)} (full or lora-adapters)`);
  const lora = h.lora;
  if (!lora) throw new WeightSyncError(`lora-adapters weight handle for version ${h.version} has no lora settings (r, alpha, scale): publish it again`);
  const { loadAdaptersFile, setAdapters } = sink;
  if (!loadAdaptersFile || !setAdapters) {
    throw new WeightSyncError(`weights version ${h.version} holds LoRA adapters only, and this engine cannot merge adapters: sync full weights (a learner without trainer.lora)`);
  }
  return { file: (p) => loadAdaptersFile.call(sink, p, lora, h.version), tensors: (t) => setAdapters.call(sink, t, lora, h.version) };
}

export class WeightLoader {
  #files?: WeightFiles;
  #bucket?: Promise<WeightBucket>;
  readonly runId: string;

  constructor(private readonly o: WeightSyncOptions & { log?: (line: string) => void } = {}) {
    this.runId = o.runId ?? `pid-${process.pid}`;
  }

  /** Installs the handle's version; returns how long that took. */
  async load(received: WeightHandle, sink: WeightSink): Promise<{ loadMs: number }> {
    const t0 = performance.now();
    const h = checkHandle(received);
    const put = install(h, sink);
    if (h.transport === "inline") {
      if (!h.tensors) throw new WeightSyncError(`inline weight handle for version ${h.version} carries no tensors`);
      await put.tensors(h.tensors);
    } else if (h.transport === "shm") {
      await put.file(checkedFile(h, this.o.runId));
    } else if (h.transport === "object-store") {
      // A folder per loader: several rollout replicas of one run may download on this host at once.
      const files = (this.#files ??= new WeightFiles(this.runId, "reader", this.o.log, true));
      if (!this.#bucket) {
        this.#bucket = WeightBucket.open(this.runId, this.o.nats);
        this.#bucket.catch(() => (this.#bucket = undefined));
      }
      const bucket = await this.#bucket;
      const file = files.scratch(h.version);
      try {
        if (!h.parts?.length) throw new WeightSyncError(`object-store weight handle for version ${h.version} (${h.location}) names no parts`);
        // Several readers of one upload leave its parts to the publisher (handle.ts `readers`).
        const size = await bucket.get(h.parts, file, `weights version ${h.version} (${h.location})`, (h.readers ?? 1) > 1).catch((e: unknown) => {
          // this side's folder full: a bare ENOSPC named neither the folder nor what to change
          throw outOfRoom(e, files.dir, h.version, existsSync(file) ? statSync(file).size : 0) ?? e;
        });
        if (size !== h.bytes) throw new WeightSyncError(`weights version ${h.version} (${h.location}) came to ${size} bytes, its handle says ${h.bytes}: corrupt; publish the version again`);
        await put.file(file);
      } finally {
        rmSync(file, { force: true });
      }
    } else {
      throw new WeightSyncError(`weight handle with unknown transport ${JSON.stringify((h as { transport: unknown }).transport)}`);
    }
    return { loadMs: performance.now() - t0 };
  }

  async dispose(): Promise<void> {
    this.#files?.dispose();
    const bucket = this.#bucket;
    this.#bucket = undefined;
    if (bucket) await (await bucket.catch(() => undefined))?.close();
  }
}

/**
 * The shm handle's file, after checking it can be this file: same host; `weights-v<version>.safetensors`
 * directly in the run's folder under this host's weights folder (with no run id given, any run's),
 * a plain file of this user's, not a link: the engine reads whatever path it is given, and a stale or
 * forged handle must not make it read another file of the machine; present, whole.
 */
function checkedFile(h: WeightHandle, runId: string | undefined): string {
  const here = hostIdentity();
  if (h.host !== here) {
    throw new WeightSyncError(
      `weights version ${h.version} were published to shared memory on host ${h.host}, and this rollout engine runs on ${here}: ` +
        `the file ${h.location} is not visible here. Use the object-store transport (resources.weightSync = auto or object-store)`,
    );
  }
  const root = shmRoot();
  const folder = dirname(h.location);
  const inFolder = isAbsolute(h.location) && normalize(h.location) === h.location && dirname(folder) === root &&
    basename(h.location) === `weights-v${h.version}.safetensors` &&
    (runId === undefined ? basename(folder).startsWith("azr-weights-") : basename(folder) === `azr-weights-${safeRunId(runId)}`);
  if (!inFolder) {
    const expected = join(root, runId === undefined ? "azr-weights-<run id>" : `azr-weights-${safeRunId(runId)}`, `weights-v${h.version}.safetensors`);
    throw new WeightSyncError(
      `weights file ${h.location} (version ${h.version}) is not where this rollout engine reads weights (${expected}): refused, a stale or forged handle. ` +
        `If the learner published it, the two see different weight folders or run ids: give every actor of the host the same AZR_WEIGHTS_DIR (or none) and weightSync.runId`,
    );
  }
  if (!existsSync(h.location)) {
    throw new WeightSyncError(
      `weights file ${h.location} (version ${h.version}) is missing: the learner removed it (a newer version was confirmed, or it was disposed or restarted) ` +
        `or /dev/shm was cleared; publish the version again (learner.publishWeights) and load the new handle`,
    );
  }
  // lstat: a link or device planted under the right name is not followed
  const uid = process.getuid?.();
  for (const [path, isKind, what] of [[folder, "isDirectory", "folder"], [h.location, "isFile", "file"]] as const) {
    const st = lstatSync(path);
    if (!st[isKind]() || (uid !== undefined && st.uid !== uid)) {
      throw new WeightSyncError(
        `weights ${what} ${path} (version ${h.version}) is ${st[isKind]() ? `owned by uid ${st.uid}, not this process's ${uid}` : `not a plain ${what} (a link or device?)`}: refused. ` +
          `The learner writes it as the user the rollout engine runs as: run both as one user, and remove what else is there`,
      );
    }
  }
  const size = statSync(h.location).size;
  if (size !== h.bytes) {
    throw new WeightSyncError(`weights file ${h.location} has ${size} bytes, its handle says ${h.bytes}: it was replaced or truncated; publish the version again`);
  }
  return h.location;
}
