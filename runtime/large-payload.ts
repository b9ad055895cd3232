/**
 * Large payloads: bodies over the server's max_payload travel through a JetStream object
 * store bucket and the message carries a small reference (bucket, name, SHA-256, size)
 * instead; the caller flags such messages with the `azr-large: 1` header.
 *
 * Covers: the inline/large decision, upload under a unique name, fetch with digest and size
 * checks, deletion once consumed, and collection of objects and chunks left behind by a
 * sender or receiver killed mid-way. Not: headers (the caller sets them), retries, streaming
 * a body without holding it in memory.
 *
 * One object is written once and consumed once: a reference delivered twice finds its
 * object gone, and says so.
 */
import { createHash, randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager, StorageType, type JetStreamManager } from "@nats-io/jetstream";
import { Base64UrlPaddedCodec, Objm, type ObjectStore } from "@nats-io/obj";
import { decode, encode } from "./codec.ts";

export const DEFAULT_PAYLOAD_BUCKET = "azr-payloads";
/** Room left under max_payload for the headers a message carries (trace context, flags). */
export const DEFAULT_HEADER_HEADROOM_BYTES = 4096;
/** A bucket-level age limit: the backstop if nobody runs collectOrphans for a day. */
const BUCKET_MAX_AGE_NS = 24 * 3600 * 1e9;
const REFERENCE_VERSION = 1;

/** What a large message's body holds instead of the bytes. */
export interface PayloadReference {
  v: number;
  bucket: string;
  name: string;
  /** SHA-256 of the bytes, lower-case hex. */
  digest: string;
  size: number;
}

/** A large payload that cannot be delivered as sent; the message names the object. */
export class LargePayloadError extends Error {
  override name = "LargePayloadError";
  constructor(
    message: string,
    readonly object?: { bucket: string; name: string },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface PayloadStoreOptions {
  /** Object store bucket; created when missing. Default `azr-payloads`. */
  bucket?: string;
  /** Bodies longer than this go through the bucket. Default: max_payload − 4 KiB. */
  thresholdBytes?: number;
}

export interface OrphanReport {
  /** Objects stored completely but never consumed (receiver gone). */
  objects: string[];
  /** Chunk subjects with no object (sender killed mid-upload). */
  chunkSets: number;
}

const sha256Hex = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

export class PayloadStore {
  private readonly stores = new Map<string, Promise<ObjectStore>>();

  private constructor(
    private readonly objm: Objm,
    private readonly jsm: JetStreamManager,
    readonly bucket: string,
    readonly thresholdBytes: number,
    private readonly chunkBytes: number,
  ) {}

  /** Opens (creating when missing) the bucket on `nc`'s server. */
  static async open(nc: NatsConnection, opts: PayloadStoreOptions = {}): Promise<PayloadStore> {
    const maxPayload = nc.info?.max_payload;
    if (!maxPayload) throw new LargePayloadError("PayloadStore.open: the connection has no server info yet (not connected?)");
    const threshold = opts.thresholdBytes ?? maxPayload - DEFAULT_HEADER_HEADROOM_BYTES;
    if (!(threshold > 0)) {
      throw new LargePayloadError(`PayloadStore.open: thresholdBytes must be > 0 (got ${threshold}; server max_payload ${maxPayload})`);
    }
    const bucket = opts.bucket ?? DEFAULT_PAYLOAD_BUCKET;
    const jsm = await jetstreamManager(nc).catch((e: unknown) => {
      throw new LargePayloadError(
        `payloads over ${threshold} bytes need JetStream, which the server at ${nc.getServer()} does not offer: start it with -js`,
        undefined,
        { cause: e },
      );
    });
    const store = new PayloadStore(new Objm(nc), jsm, bucket, threshold, maxPayload - DEFAULT_HEADER_HEADROOM_BYTES);
    await store.storeFor(bucket);
    return store;
  }

  private storeFor(bucket: string): Promise<ObjectStore> {
    let s = this.stores.get(bucket);
    if (!s) {
      s = this.objm.create(bucket, { storage: StorageType.File, ttl: BUCKET_MAX_AGE_NS });
      s.catch(() => this.stores.delete(bucket)); // let a later call retry
      this.stores.set(bucket, s);
    }
    return s;
  }

  /** Inline when `bytes` fit the threshold; otherwise uploaded, and the body is its reference. */
  async pack(bytes: Uint8Array): Promise<{ body: Uint8Array; large: boolean }> {
    if (bytes.length <= this.thresholdBytes) return { body: bytes, large: false };
    const name = `p-${Date.now()}-${randomBytes(8).toString("hex")}`;
    const ref: PayloadReference = { v: REFERENCE_VERSION, bucket: this.bucket, name, digest: sha256Hex(bytes), size: bytes.length };
    const os = await this.storeFor(this.bucket);
    try {
      await os.putBlob({ name, options: { max_chunk_size: this.chunkBytes } }, bytes);
    } catch (e) {
      throw new LargePayloadError(`uploading ${bytes.length} bytes to object ${this.bucket}/${name} failed: ${String(e)}`, ref, { cause: e });
    }
    return { body: encode(ref), large: true };
  }

  /** The bytes a body stands for: itself when inline, else fetched, verified and deleted. */
  async unpack(body: Uint8Array, large: boolean): Promise<Uint8Array> {
    if (!large) return body;
    const ref = parseReference(body);
    const where = `${ref.bucket}/${ref.name}`;
    const os = await this.storeFor(ref.bucket);
    let bytes: Uint8Array | null;
    let nuid: string;
    try {
      const result = await os.get(ref.name);
      if (result === null) {
        throw new LargePayloadError(
          `large payload ${where} (${ref.size} bytes) is missing: already consumed (message delivered twice?) or collected as an orphan`,
          ref,
        );
      }
      nuid = result.info.nuid;
      bytes = await readAll(result.data, result.info.size);
      const storeError = await result.error; // the object store's own chunk digest check
      if (storeError) throw storeError;
    } catch (e) {
      if (e instanceof LargePayloadError) throw e;
      throw new LargePayloadError(`fetching large payload ${where} failed: ${String(e)}`, ref, { cause: e });
    }
    if (bytes.length !== ref.size) {
      throw new LargePayloadError(`large payload ${where} has ${bytes.length} bytes, the reference says ${ref.size}: object replaced or corrupt`, ref);
    }
    const digest = sha256Hex(bytes);
    if (digest !== ref.digest) {
      throw new LargePayloadError(
        `large payload ${where} fails its digest check (sha-256 ${digest}, reference ${ref.digest}): object replaced or corrupt; ` +
          `it is left in the bucket for inspection, collectOrphans removes it`,
        ref,
      );
    }
    await this.remove(ref.bucket, ref.name, nuid);
    return bytes;
  }

  /**
   * Removes an object without a trace: the object store's own delete keeps a tombstone per
   * object, which would pile up one per large message. Metadata first, so readers stop
   * finding the object before its chunks go.
   */
  private async remove(bucket: string, name: string, nuid: string): Promise<void> {
    const stream = `OBJ_${bucket}`;
    await this.jsm.streams.purge(stream, { filter: `$O.${bucket}.M.${Base64UrlPaddedCodec.encode(name)}` });
    await this.jsm.streams.purge(stream, { filter: `$O.${bucket}.C.${nuid}` });
  }

  /**
   * Deletes what senders or receivers killed mid-way left in this store's bucket: complete
   * objects stored more than `olderThanMs` ago, and chunks with no object whose last write is
   * older than that. Choose `olderThanMs` above the longest transfer, or a live one goes too.
   */
  async collectOrphans(olderThanMs: number): Promise<OrphanReport> {
    const cutoff = Date.now() - olderThanMs;
    const os = await this.storeFor(this.bucket);
    const objects = await os.list();
    const report: OrphanReport = { objects: [], chunkSets: 0 };
    const live = new Set<string>();
    for (const o of objects) {
      if (Date.parse(o.mtime) <= cutoff) {
        await this.remove(this.bucket, o.name, o.nuid);
        report.objects.push(o.name);
      } else {
        live.add(o.nuid);
      }
    }
    // Chunks are written to $O.<bucket>.C.<nuid> before the object's metadata: an upload cut
    // short leaves chunks whose nuid no object names.
    const stream = `OBJ_${this.bucket}`;
    const chunkPrefix = `$O.${this.bucket}.C.`;
    const si = await this.jsm.streams.info(stream, { subjects_filter: `${chunkPrefix}>` });
    for (const subject of Object.keys(si.state.subjects ?? {})) {
      if (live.has(subject.slice(chunkPrefix.length))) continue;
      const last = await this.jsm.streams.getMessage(stream, { last_by_subj: subject });
      if (last === null || last.time.getTime() > cutoff) continue;
      await this.jsm.streams.purge(stream, { filter: subject });
      report.chunkSets++;
    }
    return report;
  }
}

/** Reads a stream of chunks into one buffer of the announced size (no intermediate copies). */
async function readAll(stream: ReadableStream<Uint8Array>, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let at = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at + value.length > size) {
      await reader.cancel();
      return new Uint8Array(at + value.length); // longer than announced: the size check reports it
    }
    out.set(value, at);
    at += value.length;
  }
  return at === size ? out : out.subarray(0, at);
}

function parseReference(body: Uint8Array): PayloadReference {
  let ref: unknown;
  try {
    ref = decode(body);
  } catch (e) {
    throw new LargePayloadError(`a message flagged azr-large does not hold a payload reference: ${String(e)}`, undefined, { cause: e });
  }
  const r = ref as Partial<PayloadReference> | null;
  if (
    r === null ||
    typeof r !== "object" ||
    r.v !== REFERENCE_VERSION ||
    typeof r.bucket !== "string" ||
    typeof r.name !== "string" ||
    typeof r.digest !== "string" ||
    typeof r.size !== "number"
  ) {
    const shown = typeof ref === "object" && ref !== null ? `keys [${Object.keys(ref).join(", ")}]` : String(ref);
    throw new LargePayloadError(`a message flagged azr-large holds ${shown.slice(0, 200)}, not a version-${REFERENCE_VERSION} payload reference`);
  }
  return r as PayloadReference;
}
