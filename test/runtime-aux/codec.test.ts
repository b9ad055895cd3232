/** runtime/codec.ts: exact round trips (property-based), zero-copy decode, and clean failures. */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { CodecError, HalfArray, decode, encode } from "../../runtime/codec.ts";

type AnyTypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Uint8Array
  | Uint8ClampedArray
  | Uint16Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** Typed arrays compared by type and exact bytes (so NaN payloads and -0 count), the rest deeply. */
function normalize(v: unknown): unknown {
  if (ArrayBuffer.isView(v)) {
    return { typed: v.constructor.name, bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex") };
  }
  if (v instanceof HalfArray) return { half: v.dtype, ...(normalize(v.data) as object) };
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, normalize(x)]));
  if (v instanceof Set) return new Set([...v].map(normalize));
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === "object" && !(v instanceof Date)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  }
  return v;
}

/** The same array as a view at a non-zero offset inside a larger buffer: encode must send the view only. */
function offsetView<T extends AnyTypedArray>(a: T, skip: number): T {
  const Ctor = a.constructor as new (n: number) => T;
  const big = new Ctor(a.length + skip + 1);
  (big as unknown as { set(x: T, at: number): void }).set(a, skip);
  return big.subarray(skip, skip + a.length) as T;
}

/** A copy of `bytes` starting `shift` bytes into a fresh buffer: exercises misaligned decode. */
function shifted(bytes: Uint8Array, shift: number): Uint8Array {
  const buf = new Uint8Array(bytes.length + shift);
  buf.set(bytes, shift);
  return buf.subarray(shift);
}

const typedArray: fc.Arbitrary<unknown> = fc
  .tuple(
    fc.oneof(
      fc.float32Array({ maxLength: 12 }),
      fc.float64Array({ maxLength: 12 }),
      fc.int32Array({ maxLength: 12 }),
      fc.bigInt64Array({ maxLength: 6 }),
      fc.uint8Array({ maxLength: 12 }),
      fc.integer({ min: 4096, max: 6000 }).map((n) => new Uint8Array(n).map((_, i) => i * 7)), // segment path
      fc.int8Array({ maxLength: 8 }),
      fc.int16Array({ maxLength: 8 }),
      fc.uint16Array({ maxLength: 8 }),
      fc.uint32Array({ maxLength: 8 }),
      fc.bigUint64Array({ maxLength: 4 }),
      fc.uint8ClampedArray({ maxLength: 8 }),
    ),
    fc.integer({ min: 0, max: 3 }),
  )
  .map(([a, skip]) => (skip === 0 ? a : offsetView(a as AnyTypedArray, skip)));

const halfArray = fc
  .tuple(fc.constantFrom("bf16" as const, "fp16" as const), fc.uint16Array({ maxLength: 10 }))
  .map(([dtype, data]) => new HalfArray(dtype, data));

const primitive = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.double(), // includes NaN, ±Infinity, -0
  fc.constantFrom(-0, NaN, 0, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 53 + 2),
  fc.integer(),
  fc.string(),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
);

const key = fc.string({ maxLength: 6 }).filter((k) => k !== "__proto__");

const { value: nestedValue } = fc.letrec<{ value: unknown; array: unknown[]; object: object; map: unknown; set: unknown }>(
  (tie) => ({
    value: fc.oneof(
      { depthSize: "small" },
      primitive,
      typedArray,
      halfArray,
      fc.date({ noInvalidDate: true }),
      tie("array"),
      tie("object"),
      tie("map"),
      tie("set"),
    ),
    array: fc.array(tie("value"), { maxLength: 5 }),
    object: fc.dictionary(key, tie("value"), { maxKeys: 5, noNullPrototype: true }),
    map: fc.array(fc.tuple(fc.oneof(fc.string(), fc.integer()), tie("value")), { maxLength: 4 }).map((e) => new Map(e)),
    set: fc.array(fc.oneof(fc.string(), fc.integer(), fc.boolean()), { maxLength: 4 }).map((a) => new Set(a)),
  }),
);

test("codec - nested values of every supported type round-trip exactly, decoded at any byte offset", () => {
  fc.assert(
    fc.property(nestedValue, fc.integer({ min: 0, max: 7 }), (value, shift) => {
      const bytes = encode(value);
      assert.deepStrictEqual(normalize(decode(shifted(bytes, shift))), normalize(value));
    }),
    { numRuns: 400 },
  );
});

test("codec - every dtype keeps its type, including bf16/fp16 tags and empty arrays", () => {
  const arrays = [
    new Float32Array([1.5, -0, NaN, Infinity]),
    new Float64Array([Math.PI, -0, NaN]),
    new Int32Array([-1, 2 ** 31 - 1]),
    new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]),
    new Uint8Array(10_000).fill(9),
    new Float32Array(0),
    new BigInt64Array(0),
    new Uint8Array(0),
  ];
  const halves = [new HalfArray("bf16", new Uint16Array([0x3f80, 0xffff])), new HalfArray("fp16", new Uint16Array(0))];
  const out = decode<{ arrays: unknown[]; halves: HalfArray[] }>(encode({ arrays, halves }));
  assert.deepStrictEqual(normalize(out), normalize({ arrays, halves }));
  assert.ok(out.halves[0] instanceof HalfArray && out.halves[0].dtype === "bf16");
  assert.equal(out.halves[1].dtype, "fp16");
});

test("codec - -0, NaN and big numbers survive as top-level values", () => {
  assert.ok(Object.is(decode(encode(-0)), -0));
  assert.ok(Number.isNaN(decode(encode(NaN))));
  assert.equal(decode(encode(2 ** 60)), 2 ** 60);
  assert.equal(decode(encode(-(2n ** 63n))), -(2n ** 63n));
});

test("codec - aligned frames decode to views on the received buffer (zero-copy)", () => {
  const weights = new Float32Array(1024).map((_, i) => i / 3);
  const frame = encode({ layer: "w", weights, ids: new BigInt64Array([1n, 2n]) });
  assert.equal(frame.byteOffset, 0);
  const out = decode<{ weights: Float32Array; ids: BigInt64Array }>(frame);
  assert.equal(out.weights.buffer, frame.buffer, "Float32Array is a view on the frame");
  assert.equal(out.ids.buffer, frame.buffer, "BigInt64Array is a view on the frame");
  // A write through the frame shows in the decoded array: same memory, no copy.
  new Float32Array(frame.buffer, out.weights.byteOffset, 1)[0] = 42;
  assert.equal(out.weights[0], 42);
});

test("codec - misaligned frames are copied once and still exact", () => {
  const weights = new Float64Array([1, 2, 3]);
  const input = shifted(encode({ weights }), 3);
  const out = decode<{ weights: Float64Array }>(input);
  assert.notEqual(out.weights.buffer, input.buffer);
  assert.deepStrictEqual([...out.weights], [1, 2, 3]);
});

test("codec - encode copies: later changes to the input or later encodes do not alter a frame", () => {
  const a = new Float32Array([1, 2, 3]);
  const first = encode({ a, s: "first" });
  a[0] = 99;
  const second = encode({ other: new Float64Array(5000), s: "second" });
  assert.deepStrictEqual([...decode<{ a: Float32Array }>(first).a], [1, 2, 3]);
  assert.equal(decode<{ s: string }>(second).s, "second");
});

test("codec - frames carry no stale memory: header reserve, padding and gaps are zero", () => {
  // Dirty the allocator first, so unwritten bytes in a new frame would likely be non-zero.
  for (let i = 0; i < 8; i++) Buffer.allocUnsafeSlow(1 << 20).fill(0xee);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 13 }), { minLength: 1, maxLength: 6 }), (lengths) => {
      const arrays = lengths.map((n) => new Int8Array(n).fill(0x55));
      const frame = encode({ arrays });
      assert.equal(frame[0], 0xc1);
      assert.equal(frame[2] | frame[3], 0, "reserved header bytes");
      const bodyEnd = 8 + (frame[4] | (frame[5] << 8) | (frame[6] << 16) | (frame[7] << 24));
      const tail = frame.subarray(bodyEnd);
      const payload = tail.filter((b) => b === 0x55).length;
      const other = tail.filter((b) => b !== 0x55 && b !== 0).length;
      assert.equal(payload, lengths.reduce((a, n) => a + n, 0));
      assert.equal(other, 0, "only payload bytes and zero padding after the body");
    }),
    { numRuns: 100 },
  );
});

test("codec - undefined is dropped from objects and becomes null elsewhere, as in JSON", () => {
  assert.deepStrictEqual(decode(encode({ a: undefined, b: 1 })), { b: 1 });
  assert.deepStrictEqual(decode(encode([undefined, 1])), [null, 1]);
});

test("codec - values that are not data are refused with a CodecError naming them", () => {
  const cases: [unknown, RegExp][] = [
    [{ cb: function onDone() {} }, /function \('onDone'\)/],
    [[Symbol("s")], /symbol/],
    [{ p: Promise.resolve(1) }, /Promise.*await/],
    [new ArrayBuffer(4), /ArrayBuffer.*typed array/],
    [new DataView(new ArrayBuffer(4)), /DataView/],
  ];
  for (const [value, message] of cases) {
    assert.throws(
      () => encode(value),
      (e: unknown) => e instanceof CodecError && e.kind === "unsupported-value" && message.test(e.message),
    );
  }
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => encode(cyclic), (e: unknown) => e instanceof CodecError && /too deep or cyclic/.test(e.message));
  const cyclicMap = new Map<string, unknown>();
  cyclicMap.set("self", cyclicMap);
  assert.throws(() => encode(cyclicMap), (e: unknown) => e instanceof CodecError && /nested more than 64 deep \(cyclic\?\)/.test(e.message));
  // A failed encode leaves no state behind.
  assert.deepStrictEqual(normalize(decode(encode({ x: new Int32Array([7]) }))), normalize({ x: new Int32Array([7]) }));
});

test("codec - every truncation of a frame is a CodecError, never a crash or a wrong value", () => {
  const frame = encode({ a: [1, "two", new Float32Array([3, 4])], m: new Map([[1, new Set([2])]]) });
  for (let n = 0; n < frame.length; n++) {
    assert.throws(() => decode(frame.subarray(0, n)), CodecError, `prefix of ${n} bytes`);
  }
  assert.throws(() => decode(frame.subarray(0, 3)), (e: unknown) => e instanceof CodecError && e.kind === "truncated");
});

test("codec - unknown extension types and stray typed-array references are named", () => {
  const ext = (type: number) => new Uint8Array([0xd7, type, 0, 0, 0, 0, 4, 0, 0, 0]);
  assert.throws(() => decode(ext(99)), (e: unknown) => e instanceof CodecError && /unknown extension type 99/.test(e.message));
  assert.throws(() => decode(ext(1)), (e: unknown) => e instanceof CodecError && /Float32Array reference/.test(e.message));
});

test("codec - a frame of Maps nested thousands deep is refused, not a stack overflow", () => {
  // Hand-built: each level is a Map extension (type 20) holding [key, next level].
  let inner: Uint8Array = new Uint8Array([0x90]); // innermost: an empty array of pairs
  for (let depth = 0; depth < 5000; depth++) {
    const items = new Uint8Array(2 + 5 + 1 + inner.length);
    items.set([0x92, 0x01, 0xc9], 0); // [1, ext32 ...]
    new DataView(items.buffer).setUint32(3, inner.length);
    items[7] = 20;
    items.set(inner, 8);
    inner = items;
  }
  const frame = new Uint8Array(6 + inner.length);
  frame[0] = 0xc9;
  new DataView(frame.buffer).setUint32(1, inner.length);
  frame[5] = 20;
  frame.set(inner, 6);
  assert.throws(() => decode(frame), (e: unknown) => e instanceof CodecError && /nested more than 64 deep/.test(e.message));
});

test("codec - random garbage bytes decode or fail with CodecError, nothing else", () => {
  const frame = encode({ w: new Float32Array([1, 2]), m: new Map([["k", 1]]) });
  const garbage = fc.oneof(
    fc.uint8Array({ minLength: 0, maxLength: 64 }),
    // Valid frames with bytes flipped: the header and the references are the interesting part.
    fc.tuple(fc.integer({ min: 0, max: frame.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([i, b]) => {
      const copy = frame.slice();
      copy[i] = b;
      return copy;
    }),
  );
  fc.assert(
    fc.property(garbage, (bytes) => {
      try {
        decode(bytes);
      } catch (e) {
        if (!(e instanceof CodecError)) throw new Error(`decode threw ${String(e)}, not a CodecError`);
      }
    }),
    { numRuns: 2000 },
  );
});
