/**
 * The learner's side of weight sync: publishes a weight version over the chosen transport and
 * returns its handle; removes older versions once the driver says the rollout engine holds a
 * newer one; removes everything on dispose.
 *
 * Covers: shm (the engine writes the safetensors file itself: the torch worker in Python, the ORT
 * trainer in TypeScript), object-store (the same file, uploaded in parts into the run's bucket,
 * then removed locally; each part is consumed by its download, so every load takes a publish —
 * except an upload for several readers, a rollout pool's replicas, deleted by a later confirm),
 * inline (the tensors in the handle), handing out an already published shm version again (a
 * restarted rollout engine's re-push) without rewriting it; a LoRA learner's versions carry only
 * its adapters (handle kind `lora-adapters`, lora.ts). Not: the choice of transport
 * (handle.ts), reading (loader.ts).
 */
import { rmSync, statSync } from "node:fs";
import { checkTransportChoice, chooseTransport, type LoraInfo, type PublishRequest, type WeightHandle, type WeightSyncOptions } from "./handle.ts";
import { WeightFiles } from "./files.ts";
import { hostIdentity } from "./host.ts";
import { WeightBucket } from "./object-store.ts";

/** How the learner's engine gives up its weights. */
export interface WeightSource {
  /** Writes the current weights (LoRA: the adapters, PEFT names, fp32) as one safetensors file at `path`. */
  writeFile(path: string): Promise<void>;
  /** The current weights as fp32 tensors (inline; LoRA: the adapters, PEFT names). */
  tensors(): Promise<Map<string, Float32Array>>;
  /** Set when the learner trains LoRA adapters: the two calls above give only those (kind `lora-adapters`). */
  lora?: LoraInfo;
}

export class WeightPublisher {
  #files?: WeightFiles;
  #bucket?: Promise<WeightBucket>;
  /** shm handles of versions still published, by version. */
  readonly #live = new Map<number, WeightHandle>();
  /** Object-store parts uploaded and not yet known consumed, by version. */
  readonly #uploaded = new Map<number, Uint8Array[]>();
  /** Versions uploaded for several readers: their loads leave the parts, so confirm() keeps them until a newer version is confirmed. */
  readonly #shared = new Set<number>();
  /** Parts of versions forgotten (a checkpoint loaded): nobody will load them; the next confirm deletes them. */
  readonly #orphans: Uint8Array[] = [];
  readonly runId: string;

  constructor(private readonly o: WeightSyncOptions & { log?: (line: string) => void } = {}) {
    this.runId = o.runId ?? `pid-${process.pid}`;
  }

  /** Opens the run's shm folder now, removing what a crashed start of the same run left there (the learner does at start). */
  files(): WeightFiles {
    return (this.#files ??= new WeightFiles(this.runId, "", this.o.log));
  }

  private bucket(): Promise<WeightBucket> {
    if (!this.#bucket) {
      // This process's first open: the learner is the bucket's only writer, so anything in it came
      // from an earlier incarnation of the run's learner (a crash skips dispose, which removes the bucket).
      this.#bucket = WeightBucket.open(this.runId, this.o.nats).then(async (b) => {
        const n = await b.clearLeftovers().catch((e: Error) => (this.o.log?.(`weight sync: could not clear bucket ${b.bucket} of a previous start's objects: ${e.message}`), 0));
        if (n) this.o.log?.(`weight sync: removed ${n} object(s) a previous start of this run left in object store bucket ${b.bucket}`);
        return b;
      });
      this.#bucket.catch(() => (this.#bucket = undefined)); // a later publish tries again
    }
    return this.#bucket;
  }

  async publish(version: number, source: WeightSource, req: PublishRequest = {}): Promise<WeightHandle> {
    const host = hostIdentity();
    const transport = chooseTransport(req.transport === undefined ? undefined : checkTransportChoice(req.transport, "publishWeights"), host, req.readerHost);
    const again = transport === "shm" ? this.#live.get(version) : undefined;
    // Only while its file is still there, whole: the loader's "missing: publish the version again"
    // would otherwise get the same dead handle back for ever (/dev/shm cleared, systemd's RemoveIPC).
    if (again && sizeOf(again.location) === again.bytes) return { ...again, publishMs: 0 };
    if (again) this.#live.delete(version);
    const t0 = performance.now();
    const kind = source.lora ? { kind: "lora-adapters" as const, lora: source.lora } : { kind: "full" as const };
    let handle: WeightHandle;
    if (transport === "inline") {
      const tensors = await source.tensors();
      const bytes = [...tensors.values()].reduce((a, t) => a + t.byteLength, 0);
      handle = { version, transport, ...kind, location: "", bytes, host, publishMs: 0, tensors };
    } else {
      // The bucket first: opened after the write, a NATS server out of reach left the upload file
      // (the model's size, in shared memory) behind on every retry.
      const bucket = transport === "object-store" ? await this.bucket() : undefined;
      const { path, bytes } = await this.files().write(version, (tmp) => source.writeFile(tmp), transport === "object-store");
      if (bucket) {
        let parts: Uint8Array[];
        try {
          parts = await bucket.put(path, bytes);
        } finally {
          rmSync(path, { force: true }); // the bucket holds it now; the file was only the engine's way out
        }
        this.#uploaded.set(version, [...(this.#uploaded.get(version) ?? []), ...parts]);
        const readers = Math.max(1, req.readers ?? 1);
        if (readers > 1) this.#shared.add(version);
        handle = { version, transport, ...kind, location: `${bucket.bucket}/weights-v${version}`, bytes, host, publishMs: 0, parts, ...(readers > 1 ? { readers } : {}) };
      } else {
        handle = { version, transport, ...kind, location: path, bytes, host, publishMs: 0 };
        this.#live.set(version, { ...handle }); // handed out again until superseded
      }
    }
    handle.publishMs = performance.now() - t0;
    return handle;
  }

  /**
   * The reader holds `version`: older versions' files and objects go. Newer ones stay: they were
   * published after it and their loads may still be on the way.
   */
  async confirm(version: number): Promise<void> {
    for (const v of this.#live.keys()) if (v < version) this.#live.delete(v);
    this.#files?.removeVersions((v) => this.#live.has(v));
    // The confirmed version's parts were consumed by its load (deleting them again is a no-op), and
    // any earlier upload of it was abandoned (a reader that died mid-load); older versions' may never
    // have been loaded. A version several replicas loaded is the exception: its parts stay until a
    // newer one is confirmed, since a replica's restart re-sync (resilient.ts) confirms it while the
    // others may still be reading them; every reader holds the newer version by then.
    const stale = this.#orphans.splice(0);
    for (const [v, parts] of [...this.#uploaded]) {
      if (v > version || (v === version && this.#shared.has(v))) continue;
      stale.push(...parts);
      this.#uploaded.delete(v);
      this.#shared.delete(v);
    }
    if (stale.length && this.#bucket) await (await this.#bucket).delete(stale);
  }

  /** The learner's weights were replaced (a checkpoint loaded): no published version may be handed out again. */
  forget(): void {
    this.#live.clear();
    for (const parts of this.#uploaded.values()) this.#orphans.push(...parts);
    this.#uploaded.clear();
    this.#shared.clear();
  }

  async dispose(): Promise<void> {
    this.#live.clear();
    this.#orphans.length = 0;
    this.#uploaded.clear();
    this.#shared.clear();
    this.#files?.dispose();
    const bucket = this.#bucket;
    this.#bucket = undefined;
    const left = bucket && (await (await bucket.catch(() => undefined))?.destroy());
    if (left) this.o.log?.(left);
  }
}

function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}
