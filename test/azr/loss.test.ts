import { test } from "node:test";
import assert from "node:assert/strict";
import { aggregateLoss, klEstimate, tokenLoss } from "../../azr/loss.ts";

const clip = { epsLow: 0.2, epsHigh: 0.28, dualClip: null };

test("loss - PPO clipping with separate low/high epsilon and the dual clip", () => {
  const cases: [number, number, { epsLow: number; epsHigh: number; dualClip: number | null }, number, boolean][] = [
    [1, 0, clip, -1, false], // ρ = 1: ℓ = −A
    [1, Math.log(2), clip, -1.28, true], // A > 0, ρ = 2 → clipped at 1 + ε_high
    [-1, Math.log(0.5), clip, 0.8, true], // A < 0, ρ = 0.5 → clipped at 1 − ε_low
    [-1, Math.log(5), clip, 5, false], // A < 0, ρ = 5 → unclipped max
    [-1, Math.log(5), { ...clip, dualClip: 3 }, 3, false], // dual clip caps at −A·c (not counted as a PPO clip)
    [1, 100, clip, -1.28, true], // log-ratio clamped, no overflow
  ];
  for (const [A, d, o, want, clipped] of cases) {
    const r = tokenLoss(A, d, 0, o);
    assert.ok(Math.abs(r.loss - want) < 1e-9 && r.clipped === clipped, `A=${A} Δ=${d}: ${JSON.stringify(r)}`);
  }
});

test("loss - aggregation modes differ as the spec says", () => {
  const losses = [[1, 1, 1], [4]];
  assert.equal(aggregateLoss(losses, "token-mean"), 7 / 4);
  assert.equal(aggregateLoss(losses, "seq-mean-token-mean"), (1 + 4) / 2);
  assert.equal(aggregateLoss(losses, "microbatch-token-mean", [[0], [1]]), (1 + 4) / 2);
  assert.equal(aggregateLoss(losses, "microbatch-token-mean", [[0, 1]]), 7 / 4);
  assert.throws(() => aggregateLoss(losses, "microbatch-token-mean"), /micro-batch split/);
});

test("loss - KL estimators k1, k2, k3", () => {
  const d = 0.3;
  assert.ok(Math.abs(klEstimate(d, 0, "k1") - 0.3) < 1e-12);
  assert.ok(Math.abs(klEstimate(d, 0, "k2") - 0.045) < 1e-12);
  assert.ok(Math.abs(klEstimate(d, 0, "k3") - (Math.exp(-0.3) - 1 + 0.3)) < 1e-12);
  assert.equal(klEstimate(-1.2, -1.2, "k3"), 0);
});
