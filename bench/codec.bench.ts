/**
 * Codec micro-benchmark: runtime/codec.ts against plain @msgpack/msgpack `encode`/`decode`
 * with default options (the peer as its users call it), on a small actor-call-like object and
 * on a 1 MB Float32Array. Each figure is the median over batches of µs per encode+decode.
 *
 * Plain msgpack sends a Float32Array as `bin` and hands back a Uint8Array; to end with a
 * Float32Array again, as our decode does, its users must copy it out (the bin's offset is not
 * 4-aligned in general). The peer row includes that copy; the note gives it without.
 */
import { decode as peerDecode, encode as peerEncode } from "@msgpack/msgpack";
import { decode, encode } from "../runtime/codec.ts";
import { report } from "./report.ts";

/** Calls per batch so that one batch of `fn` takes about `batchMs`. */
function batchSize(fn: () => void, batchMs: number): number {
  for (let n = 1; ; n *= 2) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn();
    const ms = performance.now() - t0;
    if (ms >= batchMs / 4) return Math.max(1, Math.round((n * batchMs) / ms));
  }
}

/**
 * Median µs per call of each function. Batches alternate between the functions, so load from
 * other processes on this shared machine falls on all of them alike.
 */
function measure(fns: (() => void)[], batches = 21, batchMs = 30): number[] {
  const sizes = fns.map((fn) => batchSize(fn, batchMs));
  const samples: number[][] = fns.map(() => []);
  for (let b = 0; b < batches; b++) {
    fns.forEach((fn, k) => {
      const t0 = performance.now();
      for (let i = 0; i < sizes[k]; i++) fn();
      samples[k].push(((performance.now() - t0) * 1000) / sizes[k]);
    });
  }
  return samples.map((s) => s.sort((x, y) => x - y)[Math.floor(s.length / 2)]);
}

const small = {
  method: "solve",
  args: [{ taskId: 18_442, program: "def f(x):\n    return sorted(x)[::-1]", input: "[3, 1, 2]", temperature: 1.0, n: 8 }],
  callId: "c-9f3a2b7e",
  deadlineMs: 30_000,
};
const floats = new Float32Array(262_144).map((_, i) => Math.sin(i)); // 1 MiB
const big = { version: 3, weights: floats };

let sink = 0;
const [oursSmall, peerSmall] = measure([
  () => {
    sink += (decode(encode(small)) as typeof small).deadlineMs;
  },
  () => {
    sink += (peerDecode(peerEncode(small)) as typeof small).deadlineMs;
  },
]);
const [oursBig, peerBig, peerBigAsBytes] = measure([
  () => {
    sink += (decode(encode(big)) as typeof big).weights.length;
  },
  () => {
    const out = peerDecode(peerEncode(big)) as { weights: Uint8Array };
    sink += new Float32Array(out.weights.slice().buffer).length;
  },
  () => {
    sink += (peerDecode(peerEncode(big)) as { weights: Uint8Array }).weights.length;
  },
]);
if (sink === 0) console.log("unreachable");

report({
  name: "codec",
  peer: "@msgpack/msgpack defaults",
  rows: [
    { metric: "encode+decode small (µs)", unit: "µs", ours: oursSmall, peer: peerSmall },
    { metric: "encode+decode 1 MB Float32Array (µs)", unit: "µs", ours: oursBig, peer: peerBig },
  ],
  notes: [
    `peer 1 MB row includes copying the decoded bin back into a Float32Array; without that copy (it returns a Uint8Array): ${peerBigAsBytes.toFixed(1)} µs`,
    `small object: ${encode(small).length} bytes ours, ${peerEncode(small).length} bytes peer`,
  ],
});
