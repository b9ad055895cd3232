/** AdamW against torch.optim.AdamW on the same gradients; the schedule as a pure function; skipping non-finite steps. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { adamwStep, checkOptim, DEFAULT_OPTIM, lrAt, newAdamState, type OptimSettings } from "../../model/train/optim.ts";
import { torchTrain } from "./torch.ts";

function rand(seed: number) {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
}

test("optim - ten AdamW steps (clipping active on some) match torch.optim.AdamW", () => {
  const o: OptimSettings = { ...DEFAULT_OPTIM, lr: 1e-2, weightDecay: 0.1, maxGradNorm: 1.5 };
  const u = rand(11);
  const init = new Map([["a", Float32Array.from({ length: 12 }, u)], ["b", Float32Array.from({ length: 5 }, u)]]);
  // Gradient sizes vary so that some steps are clipped and some are not.
  const grads = Array.from({ length: 10 }, (_, k) => new Map([...init].map(([n, p]) => [n, Float32Array.from(p, () => u() * (k % 3 === 0 ? 2 : 0.2))])));
  const params = new Map([...init].map(([n, p]) => [n, Float32Array.from(p)]));
  const state = newAdamState(params);
  const norms = grads.map((g) => adamwStep(params, new Map([...g].map(([n, x]) => [n, Float32Array.from(x)])), state, o, o.lr).gradNorm);
  const ref = torchTrain({ mode: "adamw", optim: o, params: Object.fromEntries([...init].map(([n, p]) => [n, [...p]])), grads: grads.map((g) => Object.fromEntries([...g].map(([n, x]) => [n, [...x]]))) });
  assert.ok(norms.some((n) => n > o.maxGradNorm) && norms.some((n) => n < o.maxGradNorm), `norms ${norms.map((n) => n.toFixed(2))} should straddle the clip`);
  norms.forEach((n, i) => assert.ok(Math.abs(n - ref.norms[i]) < 1e-5, `step ${i}: norm ${n} vs torch ${ref.norms[i]}`));
  for (const [n, p] of params) {
    const r = ref.params[n] as number[];
    p.forEach((x, i) => assert.ok(Math.abs(x - r[i]) < 2e-6, `${n}[${i}]: ${x} vs torch ${r[i]}`));
  }
});

test("optim - a non-finite gradient norm skips the step and leaves params and state alone", () => {
  const params = new Map([["w", Float32Array.of(1, 2)]]);
  const state = newAdamState(params);
  const r = adamwStep(params, new Map([["w", Float32Array.of(NaN, 1)]]), state, DEFAULT_OPTIM, 1e-3);
  assert.equal(r.skipped, true);
  assert.deepEqual([...params.get("w")!], [1, 2]);
  assert.equal(state.step, 0);
  assert.deepEqual([...state.m.get("w")!], [0, 0]);
});

test("optim - schedule: linear warm-up, then constant or cosine to minLrRatio", () => {
  const base: OptimSettings = { ...DEFAULT_OPTIM, lr: 1, warmupSteps: 4 };
  assert.deepEqual([0, 1, 2, 3, 4, 100].map((s) => lrAt(base, s)), [0.25, 0.5, 0.75, 1, 1, 1]);
  const cos: OptimSettings = { ...base, schedule: "cosine", totalSteps: 14, minLrRatio: 0.1 };
  assert.equal(lrAt(cos, 4), 1);
  assert.ok(Math.abs(lrAt(cos, 9) - 0.55) < 1e-12, `half-way: ${lrAt(cos, 9)}`);
  assert.ok(Math.abs(lrAt(cos, 14) - 0.1) < 1e-12);
  assert.ok(Math.abs(lrAt(cos, 50) - 0.1) < 1e-12, "past the horizon it stays at the floor");
});

test("optim - anneal phase: the cosine until `from`, then linear to the floor at `to`", () => {
  const cos: OptimSettings = { ...DEFAULT_OPTIM, lr: 1, warmupSteps: 4, schedule: "cosine", totalSteps: 14, minLrRatio: 0.1 };
  const annealed: OptimSettings = { ...cos, decay: { from: 9, to: 11 } };
  for (const s of [0, 3, 5, 8]) assert.equal(lrAt(annealed, s), lrAt(cos, s), `step ${s} follows the cosine`);
  assert.ok(Math.abs(lrAt(annealed, 9) - 0.55) < 1e-12);
  assert.ok(Math.abs(lrAt(annealed, 10) - (0.55 + 0.1) / 2) < 1e-12, "half-way down the line");
  assert.ok(Math.abs(lrAt(annealed, 11) - 0.1) < 1e-12);
  assert.ok(Math.abs(lrAt(annealed, 13) - 0.1) < 1e-12, "stays at the floor");
  assert.throws(() => checkOptim({ ...cos, decay: { from: 9, to: 9 } }), /optim\.decay needs/);
});
