/**
 * The wire codec for every actor call: msgpack (@msgpack/msgpack) with extension types for
 * typed arrays, decoded without copying where alignment allows.
 *
 * Covers: plain data (null, booleans, numbers incl. NaN/±Infinity/-0, strings, bigint in the
 * int64/uint64 range, arrays, plain objects, Date, Map, Set, Uint8Array as msgpack bin) and
 * every typed array (Float32/64, Int8/16/32, Uint8/16/32, Uint8Clamped, BigInt64/BigUint64),
 * plus bf16/fp16 tensors as `HalfArray` (a Uint16Array with a dtype tag).
 * An invalid Date (`new Date(NaN)`) arrives as an invalid Date (the timestamp extension cannot
 * hold it, and 1970 would be a silent lie).
 * Not: class identity (instances arrive as plain objects), `undefined` (dropped from objects,
 * `null` elsewhere, as in JSON), big-endian hosts; bigints outside the int64/uint64 range,
 * ArrayBuffer / DataView / functions / symbols / promises (rejected with a CodecError).
 *
 * Frame layout. A value without typed arrays is encoded as one plain msgpack value. A value
 * with typed arrays gets a small header and carries the arrays' bytes out of band, the way
 * Ray's serializer carries pickle-5 buffers, so the bytes are copied once on encode and can be
 * viewed in place on decode:
 *
 *   [0xc1][version u8][0 u8][0 u8][body length u32 LE] [msgpack body] [pad] [segments...]
 *
 * 0xc1 is the one byte msgpack never uses, so the two kinds of frame cannot be confused.
 * Each typed array in the body is a fixext 8 (type = its dtype code) holding the segment's
 * offset and byte length (u32 LE each), relative to the segment area. The segment area and
 * every segment start at multiples of 8 from the frame start, so when the received frame
 * itself starts at a multiple of the element size, decode returns views on the received
 * buffer (no copy); otherwise it copies that array once. Decoded views keep the received
 * buffer alive and alias it: do not reuse the frame's memory while they are in use.
 */
import { endianness } from "node:os";
import {
  Decoder,
  DecodeError,
  Encoder,
  ExtData,
  decodeTimestampExtension,
  encodeTimestampExtension,
  type ExtensionCodecType,
} from "@msgpack/msgpack";

if (endianness() !== "LE") {
  // Typed arrays are written in host byte order; every platform Node ships on is little-endian.
  throw new Error("runtime/codec.ts: big-endian hosts are not supported (typed arrays are sent in host byte order)");
}

/** What went wrong, as a closed set a caller can switch on. */
export type CodecErrorKind = "truncated" | "unknown-extension" | "unsupported-value" | "corrupt" | "too-large";

/** Any failure to encode or decode; the message names what was wrong. */
export class CodecError extends Error {
  override name = "CodecError";
  readonly kind: CodecErrorKind;
  constructor(kind: CodecErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
  }
}

/** A bf16 or fp16 tensor: 16-bit words with their dtype, since JS has no such typed array. */
export class HalfArray {
  readonly dtype: "bf16" | "fp16";
  readonly data: Uint16Array;
  constructor(dtype: "bf16" | "fp16", data: Uint16Array) {
    this.dtype = dtype;
    this.data = data;
  }
  get length(): number {
    return this.data.length;
  }
}

type TypedArrayCtor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int8ArrayConstructor
  | Int16ArrayConstructor
  | Int32ArrayConstructor
  | Uint8ArrayConstructor
  | Uint8ClampedArrayConstructor
  | Uint16ArrayConstructor
  | Uint32ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

interface Dtype {
  code: number;
  name: string;
  ctor: TypedArrayCtor;
  /** Present for the two HalfArray dtypes: the tag the decoded HalfArray carries. */
  half?: "bf16" | "fp16";
}

/** Extension type codes (msgpack reserves negatives; 0..127 are ours). Never renumber: it is the wire. */
const DTYPES: Dtype[] = [
  { code: 1, name: "Float32Array", ctor: Float32Array },
  { code: 2, name: "Float64Array", ctor: Float64Array },
  { code: 3, name: "Int32Array", ctor: Int32Array },
  { code: 4, name: "BigInt64Array", ctor: BigInt64Array },
  { code: 5, name: "Uint8Array", ctor: Uint8Array },
  { code: 6, name: "bf16", ctor: Uint16Array, half: "bf16" },
  { code: 7, name: "fp16", ctor: Uint16Array, half: "fp16" },
  { code: 8, name: "Int8Array", ctor: Int8Array },
  { code: 9, name: "Int16Array", ctor: Int16Array },
  { code: 10, name: "Uint16Array", ctor: Uint16Array },
  { code: 11, name: "Uint32Array", ctor: Uint32Array },
  { code: 12, name: "BigUint64Array", ctor: BigUint64Array },
  { code: 13, name: "Uint8ClampedArray", ctor: Uint8ClampedArray },
];
const EXT_MAP = 20;
const EXT_SET = 21;
const EXT_INVALID_DATE = 22;
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;
const EXT_TIMESTAMP = -1;

const DTYPE_BY_CODE: (Dtype | undefined)[] = [];
for (const d of DTYPES) DTYPE_BY_CODE[d.code] = d;
const DTYPE_BY_CTOR = new Map<unknown, Dtype>(DTYPES.filter((d) => !d.half).map((d) => [d.ctor, d]));
const BF16 = DTYPE_BY_CODE[6]!;
const FP16 = DTYPE_BY_CODE[7]!;
const UINT8 = DTYPE_BY_CODE[5]!;

/** Uint8Arrays below this stay inline as msgpack bin (one copy more, but no frame header). */
const INLINE_BIN_MAX_BYTES = 4096;
const FRAME_MAGIC = 0xc1;
const FRAME_VERSION = 1;
const FRAME_HEADER_BYTES = 8;
/** Alignment of the segment area and of each segment: the largest element size. */
const SEGMENT_ALIGN = 8;
const U32_MAX = 0xffff_ffff;

const align = (n: number): number => (n + SEGMENT_ALIGN - 1) & ~(SEGMENT_ALIGN - 1);

// ---- encode side --------------------------------------------------------------------------

/** Typed arrays met while encoding the current value, with their offsets in the segment area. */
const pendingViews: ArrayBufferView[] = [];
const pendingOffsets: number[] = [];
let pendingBytes = 0;

function segmentRef(code: number, view: ArrayBufferView): ExtData {
  const offset = pendingBytes;
  const size = view.byteLength;
  if (offset + size > U32_MAX) {
    throw new CodecError("too-large", `typed arrays in one value exceed 4 GiB (${offset + size} bytes): send them in parts`);
  }
  pendingViews.push(view);
  pendingOffsets.push(offset);
  pendingBytes = align(offset + size);
  const ref = new Uint8Array(8);
  writeU32(ref, 0, offset);
  writeU32(ref, 4, size);
  return new ExtData(code, ref);
}

function describe(value: unknown): string {
  if (typeof value === "function") return `a function${value.name ? ` ('${value.name}')` : ""}`;
  if (typeof value === "symbol") return `a symbol (${String(value.description ?? "")})`;
  return `a ${Object.prototype.toString.call(value).slice(8, -1)}`;
}

function unsupported(value: unknown, hint: string): never {
  throw new CodecError("unsupported-value", `cannot encode ${describe(value)}: ${hint}`);
}

/** Encoders by Map/Set nesting depth: the library's encoder is not re-entrant without cloning. */
const encoders: Encoder[] = [];
let encodeDepth = 0;
/** Maps/Sets inside Maps/Sets deeper than this are refused: a cycle, or a hostile frame. */
const MAX_MAP_NESTING = 64;

function nestedEncode(items: unknown[]): Uint8Array {
  if (encodeDepth >= MAX_MAP_NESTING) {
    throw new CodecError("unsupported-value", `cannot encode: Maps/Sets nested more than ${MAX_MAP_NESTING} deep (cyclic?)`);
  }
  encodeDepth++;
  try {
    const enc = (encoders[encodeDepth] ??= newEncoder());
    // The shared ref is safe: the outer encoder copies the ext data before anything else runs.
    return enc.encodeSharedRef(items);
  } finally {
    encodeDepth--;
  }
}

function tryToEncode(value: unknown): ExtData | null {
  if (ArrayBuffer.isView(value)) {
    const dtype = DTYPE_BY_CTOR.get(value.constructor);
    if (dtype !== undefined) {
      if (dtype === UINT8 && value.byteLength < INLINE_BIN_MAX_BYTES) return null; // msgpack bin
      return segmentRef(dtype.code, value);
    }
    if (value instanceof Uint8Array) {
      // Buffer and other Uint8Array subclasses travel as bytes and arrive as plain Uint8Array.
      return value.byteLength < INLINE_BIN_MAX_BYTES ? null : segmentRef(UINT8.code, value);
    }
    unsupported(value, "send a typed array (e.g. new Uint8Array(view.buffer, view.byteOffset, view.byteLength))");
  }
  if (value instanceof HalfArray) {
    if (!(value.data instanceof Uint16Array)) {
      unsupported(value.data, `HalfArray(${value.dtype}).data must be a Uint16Array`);
    }
    return segmentRef(value.dtype === "bf16" ? BF16.code : FP16.code, value.data);
  }
  if (value instanceof Date) {
    return Number.isNaN(value.getTime()) ? new ExtData(EXT_INVALID_DATE, new Uint8Array(0)) : new ExtData(EXT_TIMESTAMP, encodeTimestampExtension(value)!);
  }
  if (value instanceof Map) {
    const flat = new Array<unknown>(value.size * 2);
    let i = 0;
    for (const [k, v] of value) {
      flat[i++] = k;
      flat[i++] = v;
    }
    return new ExtData(EXT_MAP, nestedEncode(flat));
  }
  if (value instanceof Set) return new ExtData(EXT_SET, nestedEncode([...value]));
  if (typeof value === "function") unsupported(value, "actor arguments and results must be data");
  if (typeof value === "symbol") unsupported(value, "actor arguments and results must be data");
  if (value instanceof Promise) unsupported(value, "await it first (a missing `await`?)");
  if (value instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && value instanceof SharedArrayBuffer)) {
    unsupported(value, "wrap it in a typed array (new Uint8Array(buffer))");
  }
  return null;
}

// ---- decode side --------------------------------------------------------------------------

/** The segment area of the frame being decoded; null while decoding a plain frame. */
let segmentArea: Uint8Array | null = null;

function readU32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}

function viewSegment(dtype: Dtype, ref: Uint8Array): unknown {
  if (segmentArea === null) {
    throw new CodecError("corrupt", `${dtype.name} reference (ext ${dtype.code}) in a frame without segments: not an azr frame`);
  }
  if (ref.length !== 8) throw new CodecError("corrupt", `${dtype.name} reference has ${ref.length} bytes, expected 8`);
  const offset = readU32(ref, 0);
  const size = readU32(ref, 4);
  const elementBytes = dtype.ctor.BYTES_PER_ELEMENT;
  if (size % elementBytes !== 0) {
    throw new CodecError("corrupt", `${dtype.name} segment of ${size} bytes is not a multiple of ${elementBytes}`);
  }
  if (offset + size > segmentArea.length) {
    throw new CodecError(
      "truncated",
      `truncated data: ${dtype.name} segment [${offset}, ${offset + size}) ends past the ${segmentArea.length} bytes received`,
    );
  }
  const at = segmentArea.byteOffset + offset;
  const Ctor = dtype.ctor as unknown as new (buffer: ArrayBufferLike, byteOffset?: number, length?: number) => ArrayBufferView;
  const array =
    at % elementBytes === 0
      ? new Ctor(segmentArea.buffer, at, size / elementBytes) // zero-copy view
      : new Ctor(segmentArea.buffer.slice(at, at + size)); // misaligned: one copy
  return dtype.half ? new HalfArray(dtype.half, array as Uint16Array) : array;
}

const decoders: Decoder[] = [];
let decodeDepth = 0;

function nestedDecode(bytes: Uint8Array): unknown[] {
  if (decodeDepth >= MAX_MAP_NESTING) throw new CodecError("corrupt", `Maps/Sets nested more than ${MAX_MAP_NESTING} deep`);
  decodeDepth++;
  try {
    const dec = (decoders[decodeDepth] ??= newDecoder());
    const items = dec.decode(bytes);
    if (!Array.isArray(items)) throw new CodecError("corrupt", "Map/Set extension does not hold an array");
    return items;
  } finally {
    decodeDepth--;
  }
}

function decodeExtension(data: Uint8Array, type: number): unknown {
  const dtype = DTYPE_BY_CODE[type];
  if (dtype !== undefined) return viewSegment(dtype, data);
  switch (type) {
    case EXT_MAP: {
      const flat = nestedDecode(data);
      if (flat.length % 2 !== 0) throw new CodecError("corrupt", `Map extension holds ${flat.length} items, expected pairs`);
      const map = new Map<unknown, unknown>();
      for (let i = 0; i < flat.length; i += 2) map.set(flat[i], flat[i + 1]);
      return map;
    }
    case EXT_SET:
      return new Set(nestedDecode(data));
    case EXT_TIMESTAMP:
      return decodeTimestampExtension(data);
    case EXT_INVALID_DATE:
      return new Date(Number.NaN);
    default:
      throw new CodecError(
        "unknown-extension",
        `unknown extension type ${type} (${data.length} bytes): sent by a newer azr or not an azr frame`,
      );
  }
}

const extensionCodec: ExtensionCodecType<undefined> = {
  tryToEncode: (value) => tryToEncode(value),
  decode: (data, type) => decodeExtension(data, type),
};

// ---- instances, reused: encode/decode are on every actor call's hot path -------------------

interface EncoderInternals {
  encodeNumber(n: number): void;
  encodeNumberAsFloat(n: number): void;
  encodeBigInt64(n: bigint): void;
}

function newEncoder(): Encoder {
  const enc = new Encoder({ extensionCodec, useBigInt64: true, ignoreUndefined: true, initialBufferSize: 4096 });
  // The library writes -0 as the integer 0; keep its sign by writing it as a float. Relies on
  // the library's private encodeNumber: the codec tests fail loudly if an upgrade renames it.
  const internals = enc as unknown as EncoderInternals;
  const encodeNumber = internals.encodeNumber;
  if (typeof encodeNumber !== "function") throw new Error("@msgpack/msgpack changed: Encoder.encodeNumber is gone");
  internals.encodeNumber = function (this: EncoderInternals, n: number) {
    if (n === 0 && 1 / n < 0) this.encodeNumberAsFloat(n);
    else encodeNumber.call(this, n);
  };
  // The library writes any bigint through DataView's setBig(U)Int64, which wraps silently
  // (2n ** 64n arrives as 0n): refuse what msgpack's 64-bit integers cannot hold.
  const encodeBigInt64 = internals.encodeBigInt64;
  if (typeof encodeBigInt64 !== "function") throw new Error("@msgpack/msgpack changed: Encoder.encodeBigInt64 is gone");
  internals.encodeBigInt64 = function (this: EncoderInternals, n: bigint) {
    if (n < INT64_MIN || n > UINT64_MAX) {
      throw new CodecError("unsupported-value", `cannot encode bigint ${n}: outside the int64/uint64 range msgpack carries (send it as a string)`);
    }
    encodeBigInt64.call(this, n);
  };
  return enc;
}

function newDecoder(): Decoder {
  return new Decoder({ extensionCodec, useBigInt64: true });
}

encoders[0] = newEncoder();
decoders[0] = newDecoder();

function asCodecError(e: unknown, what: "encode" | "decode", bytes?: Uint8Array): CodecError {
  if (e instanceof CodecError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  if (what === "encode") {
    if (/Too deep/.test(msg) || e instanceof RangeError) {
      return new CodecError("unsupported-value", `cannot encode: nesting too deep or cyclic (${msg})`, { cause: e });
    }
    return new CodecError("unsupported-value", `cannot encode: ${msg}`, { cause: e });
  }
  const size = bytes ? `${bytes.length} bytes` : "input";
  // The library reports a short buffer either itself or through DataView's bounds check.
  if (msg === "Insufficient data" || /outside the bounds/.test(msg)) {
    return new CodecError("truncated", `truncated data: the ${size} end in the middle of a value`, { cause: e });
  }
  if (e instanceof DecodeError || e instanceof RangeError) {
    return new CodecError("corrupt", `corrupt data (${size}): ${msg}`, { cause: e });
  }
  return new CodecError("corrupt", `cannot decode ${size}: ${msg}`, { cause: e });
}

/** Encodes a value; the result is a fresh buffer the caller owns. */
export function encode(value: unknown): Uint8Array {
  let body: Uint8Array;
  try {
    body = encoders[0].encodeSharedRef(value);
  } catch (e) {
    pendingViews.length = 0;
    pendingOffsets.length = 0;
    pendingBytes = 0;
    throw asCodecError(e, "encode");
  }
  if (pendingViews.length === 0) return body.slice();

  const areaStart = align(FRAME_HEADER_BYTES + body.length);
  // Not zero-filled (zeroing a large frame costs as much as the copy): every byte is written
  // below, the gaps explicitly, so no stale memory goes on the wire. Unpooled, so offset 0.
  const raw = Buffer.allocUnsafeSlow(areaStart + pendingBytes);
  const frame = new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
  frame[0] = FRAME_MAGIC;
  frame[1] = FRAME_VERSION;
  frame[2] = 0;
  frame[3] = 0;
  writeU32(frame, 4, body.length);
  frame.set(body, FRAME_HEADER_BYTES);
  frame.fill(0, FRAME_HEADER_BYTES + body.length, areaStart);
  for (let i = 0; i < pendingViews.length; i++) {
    const v = pendingViews[i];
    const at = areaStart + pendingOffsets[i];
    frame.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), at);
    const end = i + 1 < pendingViews.length ? areaStart + pendingOffsets[i + 1] : frame.length;
    frame.fill(0, at + v.byteLength, end);
  }
  pendingViews.length = 0; // drop references to the caller's arrays
  pendingOffsets.length = 0;
  pendingBytes = 0;
  return frame;
}

/** Decodes one frame made by `encode`. Typed arrays may be views on `bytes` (see header). */
export function decode<T = unknown>(bytes: Uint8Array): T {
  if (!(bytes instanceof Uint8Array)) {
    throw new CodecError("unsupported-value", `decode expects a Uint8Array, got ${describe(bytes)}`);
  }
  if (bytes.length === 0) throw new CodecError("truncated", "truncated data: 0 bytes, expected a msgpack value");
  if (bytes[0] !== FRAME_MAGIC) {
    segmentArea = null;
    try {
      return decoders[0].decode(bytes) as T;
    } catch (e) {
      throw asCodecError(e, "decode", bytes);
    }
  }
  if (bytes.length < FRAME_HEADER_BYTES) {
    throw new CodecError("truncated", `truncated data: ${bytes.length} bytes, shorter than the ${FRAME_HEADER_BYTES}-byte frame header`);
  }
  if (bytes[1] !== FRAME_VERSION) {
    throw new CodecError("corrupt", `frame version ${bytes[1]} is not ${FRAME_VERSION}: sent by another azr version?`);
  }
  const bodyLength = readU32(bytes, 4);
  const areaStart = align(FRAME_HEADER_BYTES + bodyLength);
  if (areaStart > bytes.length) {
    throw new CodecError("truncated", `truncated data: frame body of ${bodyLength} bytes but only ${bytes.length} bytes received`);
  }
  segmentArea = bytes.subarray(areaStart);
  try {
    return decoders[0].decode(bytes.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + bodyLength)) as T;
  } catch (e) {
    throw asCodecError(e, "decode", bytes);
  } finally {
    segmentArea = null;
  }
}
