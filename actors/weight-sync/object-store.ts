/**
 * The `object-store` transport's storage: a JetStream object store bucket per run,
 * `azr-weights-<run id>`, holding a published version as parts of at most 256 MiB read from
 * (and written back into) the shared-memory file, so a model is never held in Node memory whole.
 *
 * Covers: its own NATS connection (an actor's runtime connection is not exposed to its class):
 * NATS_URL and its credentials from the environment when set, else the servers the run passed
 * (the embedded server, no credentials); upload and download through the actor wire's own
 * PayloadStore (runtime/large-payload.ts: node:crypto digests, a window of chunk publishes; the
 * @nats-io/obj put/get it replaced took 25 s for a 400 MB version on 2 busy cores), deleting
 * versions nobody consumed, what a killed learner left (at the next incarnation's first open), and
 * the bucket removed at dispose.
 * Not: choosing the transport (publisher.ts).
 *
 * A part is consumed by its download (PayloadStore deletes it once read and verified): a version
 * loads once; loading it again (a restarted rollout engine) takes a new publish. Except when
 * several replicas load one upload (`keep`): then the publisher deletes the parts (publisher.ts).
 */
import { closeSync, openSync, readSync } from "node:fs";
import type { NatsConnection } from "@nats-io/nats-core";
import { Objm } from "@nats-io/obj";
import { connectionSpecFromEnv } from "../../runtime/index.ts";
import { openConnection } from "../../runtime/connection.ts"; // the actor runtime's own connection options (creds, TLS)
import { LargePayloadError, PayloadStore } from "../../runtime/large-payload.ts";
import { decode } from "../../runtime/codec.ts";
import { safeRunId } from "./files.ts";
import { writeFully } from "../../model/safetensors.ts";

/** Where the run's NATS servers are; the environment's NATS_URL (with its credentials) wins. */
export interface NatsTarget {
  servers: string[];
}

export class WeightSyncError extends Error {
  override name = "WeightSyncError";
}

const PART_BYTES = 256 * 1024 * 1024;

export class WeightBucket {
  private constructor(private readonly nc: NatsConnection, private readonly store: PayloadStore, readonly bucket: string) {}

  static async open(runId: string, nats: NatsTarget | undefined): Promise<WeightBucket> {
    const spec = connectionSpecFromEnv() ?? (nats?.servers.length ? { servers: nats.servers } : undefined);
    if (!spec) {
      throw new WeightSyncError(
        "weight sync over the object store needs the run's NATS servers: set NATS_URL, or pass weightSync.nats.servers to the learner and rollout engine (azr selfplay does)",
      );
    }
    const nc = await openConnection(spec, `azr-weight-sync-${process.pid}`);
    const bucket = `azr-weights-${safeRunId(runId)}`;
    try {
      return new WeightBucket(nc, await PayloadStore.open(nc, { bucket, thresholdBytes: 1 }), bucket);
    } catch (e) {
      await nc.close();
      throw new WeightSyncError(`cannot open object store bucket ${bucket} at ${spec.servers.join(",")}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Uploads `file` in parts; returns their references, in order. */
  async put(file: string, bytes: number): Promise<Uint8Array[]> {
    const refs: Uint8Array[] = [];
    const fd = openSync(file, "r");
    try {
      const buf = Buffer.allocUnsafe(Math.min(PART_BYTES, Math.max(1, bytes)));
      for (let at = 0; at < bytes; ) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, bytes - at), at);
        if (n === 0) throw new WeightSyncError(`${file} ended at byte ${at} of ${bytes} while uploading it`);
        refs.push((await this.store.pack(buf.subarray(0, n))).body);
        at += n;
      }
    } catch (e) {
      await this.delete(refs);
      throw e;
    } finally {
      closeSync(fd);
    }
    return refs;
  }

  /** Downloads the parts into `file` (each verified by its digest, then deleted unless `keep`); returns the size. */
  async get(refs: Uint8Array[], file: string, where: string, keep = false): Promise<number> {
    const fd = openSync(file, "w");
    let size = 0;
    try {
      for (const ref of refs) {
        let bytes: Uint8Array;
        try {
          bytes = await this.store.unpack(ref, true, keep);
        } catch (e) {
          if (!(e instanceof LargePayloadError)) throw e;
          throw new WeightSyncError(`${where}: ${e.message}. A version loads once; the learner publishes it again for a second load (learner.publishWeights)`, { cause: e });
        }
        // writeSync may write less than asked (a full disk writes short before it fails with ENOSPC):
        // counted as written, the rest of the part was missing from a file the size check passed
        writeFully(fd, bytes);
        size += bytes.length;
      }
    } finally {
      closeSync(fd);
    }
    return size;
  }

  /** Deletes parts nobody consumed (a reader that never came); parts already consumed are skipped. */
  async delete(refs: Uint8Array[]): Promise<void> {
    if (refs.length === 0) return;
    const os = await new Objm(this.nc).open(this.bucket);
    for (const ref of refs) await os.delete((decode(ref) as { name: string }).name).catch(() => undefined);
  }

  /**
   * Removes what an earlier incarnation of the run's learner left in the bucket (killed before its
   * readers consumed an upload, or with a pool's kept version): nobody loads those, and nothing
   * else would remove them before the bucket's age limit. Returns how many objects went.
   */
  async clearLeftovers(): Promise<number> {
    return (await this.store.collectOrphans(0)).objects.length;
  }

  /**
   * Removes the bucket and closes the connection; the connection is closed even when the removal
   * fails (the server gone first), else it reconnects forever and keeps the process alive.
   * Returns why the bucket stayed, or undefined.
   */
  async destroy(): Promise<string | undefined> {
    try {
      await (await new Objm(this.nc).open(this.bucket)).destroy();
      return undefined;
    } catch (e) {
      return `weight sync: could not remove object store bucket ${this.bucket} (${(e as Error).message}); its 24 h age limit removes what it holds`;
    } finally {
      await this.nc.close();
    }
  }

  async close(): Promise<void> {
    await this.nc.close();
  }
}
