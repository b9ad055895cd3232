/**
 * Length-prefixed msgpack frames on a byte stream: 4-byte big-endian length, then the body.
 * Covers: encoding one message, and reassembling messages from arbitrary chunk boundaries
 * (a frame split across many `data` events, or many frames in one). Not: compression, >4 GiB frames
 * (callers split large payloads, e.g. weights go one tensor per frame).
 */
import { decode, encode } from "@msgpack/msgpack";

export const MAX_FRAME_BYTES = 0xffff_ffff;

export function encodeFrame(message: unknown): Uint8Array {
  // An unset option (undefined) must read as absent in Python, not as None: drop such keys.
  const body = encode(message, { ignoreUndefined: true });
  if (body.byteLength > MAX_FRAME_BYTES) throw new RangeError(`frame of ${body.byteLength} bytes exceeds the 4 GiB frame limit; split the payload`);
  const out = new Uint8Array(4 + body.byteLength);
  new DataView(out.buffer).setUint32(0, body.byteLength, false);
  out.set(body, 4);
  return out;
}

/** Feed it chunks; it returns every message completed by them, in order. */
export class FrameReader {
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  /** The frame being filled once its length is known (one allocation per frame, however many chunks). */
  #body: Uint8Array | null = null;
  #filled = 0;

  push(chunk: Uint8Array): unknown[] {
    const out: unknown[] = [];
    let pos = 0;
    while (pos < chunk.byteLength) {
      if (this.#body === null) {
        // gather the 4 header bytes, possibly across chunks
        const need = 4 - this.#pendingBytes;
        const take = Math.min(need, chunk.byteLength - pos);
        this.#pending.push(chunk.subarray(pos, pos + take));
        this.#pendingBytes += take;
        pos += take;
        if (this.#pendingBytes < 4) break;
        const head = Buffer.concat(this.#pending);
        this.#pending = [];
        this.#pendingBytes = 0;
        this.#body = new Uint8Array(head.readUInt32BE(0));
        this.#filled = 0;
      }
      const take = Math.min(this.#body.byteLength - this.#filled, chunk.byteLength - pos);
      this.#body.set(chunk.subarray(pos, pos + take), this.#filled);
      this.#filled += take;
      pos += take;
      if (this.#filled === this.#body.byteLength) {
        out.push(decode(this.#body));
        this.#body = null;
      }
    }
    return out;
  }
}
