import { test } from "node:test";
import assert from "node:assert/strict";
import { cloneRng, createRng, deriveRng, nextFloat, nextInt, nextU32, sampleIndices } from "../../azr/rng.ts";

test("rng - same seed, same stream; the state survives a JSON round trip", () => {
  const a = createRng(42), b = createRng(42);
  const xs = Array.from({ length: 5 }, () => nextU32(a));
  assert.deepEqual(Array.from({ length: 5 }, () => nextU32(b)), xs);
  const saved = JSON.stringify(a);
  const ahead = Array.from({ length: 3 }, () => nextU32(a));
  const restored = JSON.parse(saved);
  assert.deepEqual(Array.from({ length: 3 }, () => nextU32(restored)), ahead);
  assert.notDeepEqual(Array.from({ length: 5 }, () => nextU32(createRng(43))), xs);
  const c = cloneRng(b);
  assert.equal(nextU32(c), nextU32(b));
  assert.notDeepEqual(deriveRng(1, 2, "propose").s, deriveRng(1, 2, "solve").s);
  assert.notDeepEqual(deriveRng(1, "1", "23").s, deriveRng(1, "12", "3").s);
});

test("rng - uniform ints are unbiased enough and floats stay in [0, 1)", () => {
  const r = createRng(7);
  const counts = new Array(6).fill(0);
  for (let i = 0; i < 60_000; i++) counts[nextInt(r, 6)]++;
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 400, String(counts)); // ~4σ
  for (let i = 0; i < 1000; i++) { const f = nextFloat(r); assert.ok(f >= 0 && f < 1); }
  assert.throws(() => nextInt(r, 0), /integer/);
});

test("rng - sampling without replacement gives distinct indices, clipped to n, every subset reachable", () => {
  const r = createRng(3);
  for (let t = 0; t < 200; t++) {
    const s = sampleIndices(r, 10, 6);
    assert.equal(new Set(s).size, 6);
    assert.ok(s.every((i) => i >= 0 && i < 10));
  }
  assert.deepEqual(sampleIndices(r, 3, 6).sort(), [0, 1, 2]);
  assert.deepEqual(sampleIndices(r, 0, 6), []);
  const firsts = new Set<number>();
  for (let t = 0; t < 300; t++) firsts.add(sampleIndices(r, 5, 1)[0]);
  assert.equal(firsts.size, 5);
});
