/**
 * The actor wire protocol: request frames, control frames and the headers that flag error
 * replies, stream frames and object-store payloads. Covers: the shapes and their validation.
 * Not: the msgpack codec itself (codec.ts) or how payloads over max_payload travel
 * (large-payload.ts).
 *
 * A call is one NATS message on `azr.<cluster>.actor.<name>.call` with a reply subject; its body
 * is `[method, args, mode, credit]`. The reply is the encoded result, or, when the `azr-error`
 * header is set, an encoded WireError. A stream call's reply subject receives data frames (no
 * header), then an end frame (`azr-frame: end`) or an error frame (`azr-error`); a producer waiting
 * for credit may ask the reply subject whether the consumer still reads (FRAME_PING). Control frames on
 * `…ctl` cancel a call or grant stream credit; they name the call by its reply subject.
 *
 * Streams across lost messages (core NATS drops what is published while a side is disconnected,
 * e.g. across a server restart): every stream frame carries `azr-seq` — a data frame its index
 * from 0, an end or error frame, and a ping, the number of data frames sent before it. One
 * publisher, one subscriber, one subject: NATS keeps their order, so a consumer that sees a seq
 * other than the count it has received knows frames were lost, and fails the stream with
 * StreamInterruptedError (no retransmission: values are never skipped or repeated, the stream
 * stops). Credit is cumulative (`upTo`: the total number of data frames the consumer can take),
 * so a lost grant is repaired by the next one, or by the ping answer, which carries the same total.
 */
import { decode } from "./codec.ts";

export const HDR_ERROR = "azr-error";
export const HDR_FRAME = "azr-frame";
export const HDR_LARGE = "azr-large";
export const HDR_SEQ = "azr-seq";
export const FRAME_END = "end";
/**
 * A stream producer out of credit asks its consumer's reply subject, as a request with
 * `azr-frame: ping` (and `azr-seq`), whether the stream is still read: the consumer's client
 * answers with its credit total (`upTo`, msgpack, ≥ 1) or CONSUMER_GONE (msgpack 0: the stream is
 * closed there, or frames before the ping were lost); no responders means its process or
 * connection is gone (or, across a server restart, not back yet).
 */
export const FRAME_PING = "ping";
export const CONSUMER_GONE = new Uint8Array([0]);

export const CallMode = { Unary: 0, Stream: 1 } as const;
export type CallMode = (typeof CallMode)[keyof typeof CallMode];

export interface RequestFrame {
  method: string;
  args: unknown[];
  mode: CallMode;
  /** For streams: how many data frames the caller can take before it grants more (the first `upTo`). */
  credit: number;
}

/** `upTo`: the total number of data frames the consumer can take since the stream began (not a delta). */
export type ControlFrame = { t: "cancel"; id: string } | { t: "credit"; id: string; upTo: number };

export class MalformedMessageError extends Error {
  override name = "MalformedMessageError";
}

/** Decodes and validates a request body; throws MalformedMessageError on anything else. */
export function decodeRequest(body: Uint8Array): RequestFrame {
  let v: unknown;
  try {
    v = decode(body);
  } catch (e) {
    throw new MalformedMessageError(`request body is not valid msgpack (${body.length} bytes): ${(e as Error).message}`);
  }
  if (!Array.isArray(v) || typeof v[0] !== "string" || !Array.isArray(v[1])) {
    throw new MalformedMessageError(`request body is not [method: string, args: unknown[], mode, credit]; got ${describe(v)}`);
  }
  const mode = v[2] === CallMode.Stream ? CallMode.Stream : CallMode.Unary;
  const credit = typeof v[3] === "number" && v[3] > 0 ? Math.floor(v[3]) : 1;
  return { method: v[0], args: v[1], mode, credit };
}

export function requestTuple(method: string, args: unknown[], mode: CallMode, credit = 0): unknown[] {
  return mode === CallMode.Unary ? [method, args] : [method, args, mode, credit];
}

export function decodeControl(body: Uint8Array): ControlFrame | undefined {
  try {
    const v = decode<ControlFrame>(body);
    if (typeof v !== "object" || v === null || typeof v.id !== "string") return undefined;
    if (v.t === "cancel") return v;
    if (v.t === "credit" && typeof v.upTo === "number" && v.upTo > 0) return v;
  } catch {
    /* a malformed control frame has no caller to answer: dropped */
  }
  return undefined;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return v === null ? "null" : typeof v;
}
