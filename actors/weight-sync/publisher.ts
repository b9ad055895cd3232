/**
 * The learner's side of weight sync: publishes a weight version over the chosen transport and
 * returns its handle; removes older versions once the driver says the rollout engine holds a
 * newer one; removes everything on dispose.
 *
 * Covers: shm (the engine writes the safetensors file itself: the torch worker in Python, the ORT
 * trainer in TypeScript), object-store (the same file, streamed into the run's bucket, then
 * removed locally), inline (the tensors in the handle), handing out an already published version
 * again (a restarted rollout engine's re-push) without rewriting it. Not: the choice of transport
 * (handle.ts), reading (loader.ts).
 */
import { rmSync } from "node:fs";
import { checkTransportChoice, chooseTransport, type PublishRequest, type WeightHandle, type WeightSyncOptions } from "./handle.ts";
import { WeightFiles } from "./files.ts";
import { hostIdentity } from "./host.ts";
import { objectName, WeightBucket } from "./object-store.ts";

/** How the learner's engine gives up its weights. */
export interface WeightSource {
  /** Writes the current weights as one safetensors file at `path`. */
  writeFile(path: string): Promise<void>;
  /** The current weights as fp32 tensors (inline). */
  tensors(): Promise<Map<string, Float32Array>>;
}

export class WeightPublisher {
  #files?: WeightFiles;
  #bucket?: Promise<WeightBucket>;
  /** Handles of versions still published, by transport. */
  readonly #live = new Map<string, WeightHandle>();
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
      this.#bucket = WeightBucket.open(this.runId, this.o.nats);
      this.#bucket.catch(() => (this.#bucket = undefined)); // a later publish tries again
    }
    return this.#bucket;
  }

  async publish(version: number, source: WeightSource, req: PublishRequest = {}): Promise<WeightHandle> {
    const host = hostIdentity();
    const transport = chooseTransport(req.transport === undefined ? undefined : checkTransportChoice(req.transport, "publishWeights"), host, req.readerHost);
    const key = `${transport}:${version}`;
    const again = this.#live.get(key);
    if (again) return { ...again, publishMs: 0 };
    const t0 = performance.now();
    let handle: WeightHandle;
    if (transport === "inline") {
      const tensors = await source.tensors();
      const bytes = [...tensors.values()].reduce((a, t) => a + t.byteLength, 0);
      handle = { version, transport, location: "", bytes, host, publishMs: 0, tensors };
    } else {
      const { path, bytes } = await this.files().write(version, (tmp) => source.writeFile(tmp));
      let location = path;
      if (transport === "object-store") {
        const bucket = await this.bucket();
        try {
          await bucket.put(objectName(version), path);
        } finally {
          rmSync(path, { force: true }); // the bucket holds it now; the file was only the engine's way out
        }
        location = `${bucket.bucket}/${objectName(version)}`;
      }
      handle = { version, transport, location, bytes, host, publishMs: 0 };
    }
    handle.publishMs = performance.now() - t0;
    // inline handles are not kept (they hold the tensors); the others are handed out again until superseded.
    if (transport !== "inline") this.#live.set(key, { ...handle });
    return handle;
  }

  /** The reader holds `version`: every other version's file and object goes. */
  async confirm(version: number): Promise<void> {
    for (const [key, h] of this.#live) if (h.version !== version) this.#live.delete(key);
    const hasShm = [...this.#live.values()].some((h) => h.transport === "shm");
    this.#files?.removeExcept(hasShm ? version : undefined);
    if (this.#bucket) {
      const hasObject = [...this.#live.values()].some((h) => h.transport === "object-store");
      await (await this.#bucket).deleteExcept(hasObject ? objectName(version) : undefined);
    }
  }

  /** The learner's weights were replaced (a checkpoint loaded): no published version may be handed out again. */
  forget(): void {
    this.#live.clear();
  }

  async dispose(): Promise<void> {
    this.#live.clear();
    this.#files?.dispose();
    const bucket = this.#bucket;
    this.#bucket = undefined;
    if (bucket) await (await bucket.catch(() => undefined))?.destroy();
  }
}
