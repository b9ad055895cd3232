/**
 * Actor checkpoints: what an actor's `saveState()` returns, encoded with the codec and kept in
 * the JetStream object store `azr-<cluster>-state` under the actor's name (any size: the object
 * store chunks it). A restarted actor's `loadState()` receives it. Covers: save, load, delete;
 * a saved state that cannot be decoded is a StateCorruptError (the agent does not restart into
 * it). Not: when to save (host.ts, by the actor's checkpoint policy).
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { decode, encode } from "./codec.ts";
import { buckets } from "./names.ts";

/**
 * The saved state is there but cannot be decoded (a partial write, another codec version, bytes
 * put there by hand). Every restart would read the same bytes, so it is not retried.
 */
export class StateCorruptError extends Error {
  override name = "StateCorruptError";
  constructor(readonly actor: string, bucket: string, cause: Error) {
    super(
      `the saved state of actor '${actor}' (object '${actor}' in bucket ${bucket}) cannot be decoded: ${cause.message}. ` +
        `Spawn it with freshState: true to discard it, or restore a good copy into that object`,
      { cause },
    );
  }
}

export class StateStore {
  /**
   * The bytes this process last saved per actor. A call that changed nothing (a read: sizes,
   * stats, a draw that moves no counter) leaves saveState()'s bytes as they were, and writing them
   * again cost a chunked object-store put (~30 ms on the task buffer of a self-play run, after
   * each of its ~10 calls a step) for nothing.
   */
  readonly #saved = new Map<string, Uint8Array>();

  private constructor(readonly os: ObjectStore, readonly bucket: string) {}

  static async open(nc: NatsConnection, cluster: string): Promise<StateStore> {
    const bucket = buckets.state(cluster);
    return new StateStore(await new Objm(nc).create(bucket), bucket);
  }

  /** Writes the state, unless it encodes to the bytes this process last wrote for the actor. */
  async save(actor: string, state: unknown): Promise<void> {
    const bytes = encode(state);
    const last = this.#saved.get(actor);
    if (last && Buffer.compare(last, bytes) === 0) return;
    this.#saved.delete(actor); // a put that fails midway leaves the stored bytes unknown: the next save writes
    await this.os.putBlob({ name: actor }, bytes);
    this.#saved.set(actor, bytes);
  }

  /** The last saved state, or undefined when the actor never saved one. */
  async load(actor: string): Promise<unknown> {
    this.#saved.delete(actor); // another writer may have changed it since this process wrote: the next save writes
    const bytes = await this.os.getBlob(actor);
    if (bytes === null) return undefined;
    try {
      return decode(bytes);
    } catch (e) {
      throw new StateCorruptError(actor, this.bucket, e as Error);
    }
  }

  async delete(actor: string): Promise<void> {
    this.#saved.delete(actor);
    if (await this.os.info(actor)) await this.os.delete(actor);
  }
}
