/**
 * The one place the actor wire decides inline vs object store for a body. Bodies that fit the
 * server's max_payload are sent as they are with no await on the hot path; larger ones go
 * through PayloadStore (large-payload.ts), opened lazily on first need, and carry the
 * `azr-large: 1` header. Not: the object-store protocol itself.
 */
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from "@nats-io/nats-core";
import { PayloadStore } from "./large-payload.ts";
import { HDR_LARGE } from "./wire.ts";

/** Room left for headers (trace context, flags) under max_payload. */
const HEADER_ROOM_BYTES = 4096;
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

export class Payloads {
  readonly inlineLimit: number;
  #store?: Promise<PayloadStore>;

  constructor(private readonly nc: NatsConnection) {
    this.inlineLimit = (nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD) - HEADER_ROOM_BYTES;
  }

  #open(): Promise<PayloadStore> {
    return (this.#store ??= PayloadStore.open(this.nc));
  }

  /** A body over the inline limit → its object-store reference, with `azr-large` set in `hdrs`. */
  async packLarge(bytes: Uint8Array, hdrs: MsgHdrs | undefined): Promise<{ body: Uint8Array; headers?: MsgHdrs }> {
    const { body, large } = await (await this.#open()).pack(bytes);
    if (!large) return { body, headers: hdrs };
    const h = hdrs ?? natsHeaders();
    h.set(HDR_LARGE, "1");
    return { body, headers: h };
  }

  isLarge(hdrs: MsgHdrs | undefined): boolean {
    return hdrs !== undefined && hdrs.get(HDR_LARGE) === "1";
  }

  /**
   * Deletes the object behind a large body nobody will read (a reply to a call that gave up, a
   * request never sent): else it stays in the bucket until its day-long age limit.
   */
  async discard(data: Uint8Array, hdrs: MsgHdrs | undefined): Promise<void> {
    if (this.isLarge(hdrs)) await (await this.#open()).discard(data);
  }

  /** The body's bytes: fetched (and deleted) from the object store when flagged large. */
  async unpack(data: Uint8Array, hdrs: MsgHdrs | undefined): Promise<Uint8Array> {
    return this.isLarge(hdrs) ? (await this.#open()).unpack(data, true) : data;
  }
}
