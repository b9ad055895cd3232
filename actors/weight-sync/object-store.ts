/**
 * The `object-store` transport's storage: a JetStream object store bucket per run,
 * `azr-weights-<run id>`, one object per published version (`weights-v<N>`), read straight from
 * and into the shared-memory files (streams: a model is never held in Node memory whole).
 *
 * Covers: its own NATS connection (an actor's runtime connection is not exposed to its class):
 * NATS_URL and its credentials from the environment when set, else the servers the run passed
 * (the embedded server, no credentials); upload, download with the library's digest check,
 * deleting old versions, and the bucket removed at dispose.
 * Not: choosing the transport (publisher.ts), chunk-level tuning (the library's put/get are used
 * as they are: its SHA-256 is pure JS, the bound on throughput for multi-GB models).
 */
import { createReadStream, createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { NatsConnection } from "@nats-io/nats-core";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { StorageType } from "@nats-io/jetstream";
import { connectionSpecFromEnv } from "../../runtime/index.ts";
import { openConnection } from "../../runtime/connection.ts"; // the actor runtime's own connection options (creds, TLS)
import { safeRunId } from "./files.ts";

/** Where the run's NATS servers are; the environment's NATS_URL (with its credentials) wins. */
export interface NatsTarget {
  servers: string[];
}

export class WeightSyncError extends Error {
  override name = "WeightSyncError";
}

export const objectName = (version: number) => `weights-v${version}`;

export class WeightBucket {
  private constructor(private readonly nc: NatsConnection, private readonly os: ObjectStore, readonly bucket: string) {}

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
      const os = await new Objm(nc).create(bucket, { storage: StorageType.File });
      return new WeightBucket(nc, os, bucket);
    } catch (e) {
      await nc.close();
      throw new WeightSyncError(`cannot open object store bucket ${bucket} at ${spec.servers.join(",")} (the server needs JetStream: nats-server -js): ${(e as Error).message}`, { cause: e });
    }
  }

  /** Streams `file` into the object `name` (replacing one of that name). */
  async put(name: string, file: string): Promise<void> {
    const rs = Readable.toWeb(createReadStream(file, { highWaterMark: 1 << 20 })) as unknown as ReadableStream<Uint8Array>;
    // The library's default chunk (128 KiB, each publish awaited in turn) made a 3.7 MB put take ~0.5 s: chunks as large as the server takes.
    const chunk = Math.max(128 * 1024, (this.nc.info?.max_payload ?? 1 << 20) - 1024);
    await this.os.put({ name, options: { max_chunk_size: chunk } }, rs);
  }

  /** Streams the object `name` into `file`; the library checks its digest. Returns its size. */
  async get(name: string, file: string): Promise<number> {
    const r = await this.os.get(name);
    if (!r) throw new WeightSyncError(`object ${this.bucket}/${name} is missing: deleted after a newer version was confirmed, or the learner restarted (publish again)`);
    await pipeline(Readable.fromWeb(r.data as never), createWriteStream(file));
    const err = await r.error;
    if (err) throw new WeightSyncError(`object ${this.bucket}/${name}: ${err.message}`, { cause: err });
    return r.info.size;
  }

  /** Deletes every object except `keep` (a purge each: no tombstones pile up beyond one per name). */
  async deleteExcept(keep: string | undefined): Promise<void> {
    for (const o of await this.os.list()) if (o.name !== keep) await this.os.delete(o.name);
  }

  /** Removes the bucket and closes the connection. */
  async destroy(): Promise<void> {
    await this.os.destroy().catch(() => false);
    await this.nc.close();
  }

  async close(): Promise<void> {
    await this.nc.close();
  }
}

