/**
 * Actor checkpoints: what an actor's `saveState()` returns, encoded with the codec and kept in
 * the JetStream object store `azr-<cluster>-state` under the actor's name (any size: the object
 * store chunks it). A restarted actor's `loadState()` receives it. Covers: save, load, delete.
 * Not: when to save (host.ts, by the actor's checkpoint policy).
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { decode, encode } from "./codec.ts";
import { buckets } from "./names.ts";

export class StateStore {
  private constructor(readonly os: ObjectStore) {}

  static async open(nc: NatsConnection, cluster: string): Promise<StateStore> {
    return new StateStore(await new Objm(nc).create(buckets.state(cluster)));
  }

  async save(actor: string, state: unknown): Promise<void> {
    await this.os.putBlob({ name: actor }, encode(state));
  }

  /** The last saved state, or undefined when the actor never saved one. */
  async load(actor: string): Promise<unknown> {
    const bytes = await this.os.getBlob(actor);
    return bytes === null ? undefined : decode(bytes);
  }

  async delete(actor: string): Promise<void> {
    if (await this.os.info(actor)) await this.os.delete(actor);
  }
}
