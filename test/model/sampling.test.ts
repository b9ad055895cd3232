/** The sampler against exact distributions: temperature, top-k, top-p frequencies over many draws. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng, sampleToken } from "../../model/generate/sampling.ts";

const probs = [0.5, 0.25, 0.15, 0.06, 0.04];
const row = Float32Array.from(probs.map(Math.log));

function frequencies(s: { temperature: number; topK: number; topP: number }, n = 40000): number[] {
  const rng = new Rng(1);
  const f = new Array(probs.length).fill(0);
  for (let i = 0; i < n; i++) f[sampleToken(row, s, rng)]++;
  return f.map((x) => x / n);
}

const close = (got: number[], want: number[], tol = 0.01) =>
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) < tol, `token ${i}: ${g.toFixed(3)} vs ${want[i].toFixed(3)} (${got.map((x) => x.toFixed(3))})`));

test("sampling - temperature 1 draws the distribution itself", () => close(frequencies({ temperature: 1, topK: 0, topP: 1 }), probs));

test("sampling - temperature 0.5 squares and renormalises", () => {
  const sq = probs.map((p) => p * p), z = sq.reduce((a, b) => a + b);
  close(frequencies({ temperature: 0.5, topK: 0, topP: 1 }), sq.map((p) => p / z));
});

test("sampling - top-k 2 keeps the two best, renormalised", () => close(frequencies({ temperature: 1, topK: 2, topP: 1 }), [2 / 3, 1 / 3, 0, 0, 0]));

test("sampling - top-p 0.8 keeps the smallest prefix reaching 0.8", () => close(frequencies({ temperature: 1, topK: 0, topP: 0.8 }), [0.5 / 0.9, 0.25 / 0.9, 0.15 / 0.9, 0, 0]));

test("sampling - temperature 0 is argmax and ignores the stream", () => {
  assert.equal(sampleToken(row, { temperature: 0, topK: 0, topP: 1 }, new Rng(5)), 0);
});

test("sampling - top-p over a large vocabulary widens its candidates until they hold the mass", () => {
  // 4096 equally likely tokens: top-p 0.5 must keep ~2048 of them, far past the first 256 candidates.
  const flat = new Float32Array(4096).fill(Math.log(1 / 4096));
  const rng = new Rng(3);
  const seen = new Set<number>();
  for (let i = 0; i < 20000; i++) seen.add(sampleToken(flat, { temperature: 1, topK: 0, topP: 0.5 }, rng));
  assert.ok(seen.size > 1500 && seen.size <= 2049, `${seen.size} distinct tokens`);
});

test("sampling - the first draws of many sequences' streams (how a batch samples) follow the softmax of a large row", () => {
  const V = 2000;
  const logits = Float32Array.from({ length: V }, (_, i) => 4 * Math.sin(i * 12.9898) * Math.cos(i * 0.37));
  let z = 0;
  for (const x of logits) z += Math.exp(x);
  const lp = logits.map((x) => x - Math.log(z));
  const n = 60000, counts = new Array(V).fill(0);
  for (let i = 0; i < n; i++) counts[sampleToken(lp, { temperature: 1, topK: 0, topP: 1 }, Rng.forSequence(11, i))]++;
  // Every token with an expected count of 30 or more lies within 4.5 standard deviations.
  for (let t = 0; t < V; t++) {
    const q = Math.exp(lp[t]);
    if (n * q < 30) continue;
    const zScore = (counts[t] - n * q) / Math.sqrt(n * q * (1 - q));
    assert.ok(Math.abs(zScore) < 4.5, `token ${t}: ${counts[t]} draws, expected ${(n * q).toFixed(1)}`);
  }
});

test("sampling - plain temperature sampling (its fast path) picks what the general path picks, draw for draw", () => {
  let s = 17;
  const next = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (const V of [5, 1024, 4099]) {
    const row = Float32Array.from({ length: V }, () => -12 * next() ** 2);
    for (const temperature of [0.6, 1, 1.7]) {
      const fast = new Rng(V + temperature), general = new Rng(V + temperature);
      for (let draw = 0; draw < 300; draw++)
        // topK = V keeps every token: the general path's candidate list, in id order.
        assert.equal(sampleToken(row, { temperature, topK: 0, topP: 1 }, fast), sampleToken(row, { temperature, topK: V, topP: 1 }, general), `V ${V}, T ${temperature}, draw ${draw}`);
    }
  }
});
