/**
 * Spawn specs, cluster-wide: what each actor was spawned with (module, class, arguments,
 * resources, restart policy, owner), kept in the KV bucket `azr-<cluster>-specs` under the
 * actor's name. The spawning agent writes it; any agent reads it to start the actor again on
 * another node when the actor's own node is lost (lost-nodes.ts, as Ray restarts a dead node's
 * actors elsewhere); it is deleted when the actor is dead for good.
 *
 * Covers: put, get, delete of one revision only (a later spawn under the same name has written
 * its own spec, which must stay). Arguments of any size: the spec is codec-encoded (typed arrays
 * intact) and, when that is over the server's max_payload, uploaded through PayloadStore
 * (large-payload.ts) as a large call argument is, into the object store `azr-<cluster>-spec-args`
 * with no age limit (an actor may run for weeks); the KV value then holds the reference.
 * Not: deciding when to re-place an actor (lost-nodes.ts).
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import { decode, encode } from "./codec.ts";
import { PayloadStore } from "./large-payload.ts";
import { buckets } from "./names.ts";
import type { SpawnSpec } from "./node-agent.ts";

/** Room under max_payload for the record's wrapping and the KV message's headers. */
const HEADROOM_BYTES = 8192;
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
const RECORD_VERSION = 1;

/** The KV value: the encoded spec itself, or (large) the reference PayloadStore.pack made for it. */
interface SpecRecord {
  v: number;
  large: boolean;
  body: Uint8Array;
  /** The spec's owner, readable without fetching a large body (what a sweeping agent decides on). */
  owner?: string;
}

/** What an agent deciding whether to re-place an actor needs, without its arguments. */
export interface SpecInfo {
  owner?: string;
  revision: number;
}

export interface StoredSpec {
  spec: SpawnSpec;
  /** The KV revision it was read at: what delete() takes. */
  revision: number;
}

export class SpecStore {
  #large?: Promise<PayloadStore>;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    private readonly argsBucket: string,
    private readonly inlineLimit: number,
  ) {}

  static async open(nc: NatsConnection, cluster: string): Promise<SpecStore> {
    const kv = await new Kvm(nc).create(buckets.specs(cluster), { history: 1 });
    const inlineLimit = (nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD) - HEADROOM_BYTES;
    return new SpecStore(nc, kv, buckets.specArgs(cluster), inlineLimit);
  }

  /** Opened on first need: most runs never spawn with arguments this large, and need no bucket for them. */
  #payloads(): Promise<PayloadStore> {
    if (!this.#large) {
      this.#large = PayloadStore.open(this.nc, { bucket: this.argsBucket, thresholdBytes: this.inlineLimit, maxAgeMs: 0 });
      this.#large.catch(() => (this.#large = undefined)); // a later put retries
    }
    return this.#large;
  }

  /** Stores `spec` under its name (replacing an earlier spawn's); resolves with the revision written. */
  async put(spec: SpawnSpec): Promise<number> {
    const bytes = encode(spec);
    const { body, large } = bytes.length <= this.inlineLimit ? { body: bytes, large: false } : await (await this.#payloads()).pack(bytes);
    const record: SpecRecord = { v: RECORD_VERSION, large, body, owner: spec.owner };
    const previous = await this.#record(spec.name);
    const revision = await this.kv.put(spec.name, encode(record));
    // An earlier spawn's large arguments: nothing refers to them any more.
    if (previous?.record.large) await this.#discard(previous.record);
    return revision;
  }

  /** The owner and revision of the stored spec, without fetching large arguments. */
  async info(name: string): Promise<SpecInfo | undefined> {
    const r = await this.#record(name);
    return r && { owner: r.record.owner, revision: r.revision };
  }

  async get(name: string): Promise<StoredSpec | undefined> {
    const r = await this.#record(name);
    if (!r) return undefined;
    const bytes = r.record.large ? await (await this.#payloads()).unpack(r.record.body, true) : r.record.body;
    return { spec: decode<SpawnSpec>(bytes), revision: r.revision };
  }

  /**
   * Deletes the spec stored at `revision`, with its large arguments; a spec written since (the
   * name spawned again) is left alone. Resolves false when there was nothing of that revision.
   */
  async delete(name: string, revision: number): Promise<boolean> {
    const r = await this.#record(name);
    if (!r || r.revision !== revision) return false;
    try {
      await this.kv.delete(name, { previousSeq: revision });
    } catch {
      return false; // rewritten in between: that spec is a newer spawn's
    }
    if (r.record.large) await this.#discard(r.record);
    return true;
  }

  async #record(name: string): Promise<{ record: SpecRecord; revision: number } | undefined> {
    const e: KvEntry | null = await this.kv.get(name);
    if (!e || e.operation !== "PUT" || e.length === 0) return undefined;
    return { record: decode<SpecRecord>(e.value), revision: e.revision };
  }

  async #discard(record: SpecRecord): Promise<void> {
    await (await this.#payloads()).discard(record.body).catch(() => undefined);
  }
}
