import { test } from "node:test";
import assert from "node:assert/strict";
import { ADVANTAGE_EPS, broadcastAdvantage, trrAdvantages, type Scored } from "../../azr/advantages.ts";
import { groupsFor, groupKey } from "../../azr/tasks.ts";

const close = (a: number[], b: number[], tol = 1e-9) => assert.ok(a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) < tol), `${a} vs ${b}`);

test("TRR++ - one batch with all six groups, each normalised on its own (hand-computed)", () => {
  const g = groupsFor().map((x) => groupKey(x.role, x.type));
  assert.equal(g.length, 6);
  const rewards: Record<string, number[]> = {
    "propose/deduction": [-1, -0.5, 0.5, 1], // μ=0, σ²=(1+0.25+0.25+1)/3=5/6
    "propose/abduction": [0.25, 0.25, 0.25], // all equal → 0
    "propose/induction": [0.875], // group of one → 0
    "solve/deduction": [1, -0.5], // μ=0.25, σ²=1.125
    "solve/abduction": [-1, -1, 1, 1], // μ=0, σ²=4/3
    "solve/induction": [0, 0.5, 1], // μ=0.5, σ²=0.25
  };
  // interleave the groups so the function must group by key, not by position
  const items: Scored[] = [];
  for (let i = 0; i < 4; i++) for (const k of g) if (rewards[k][i] !== undefined) items.push({ group: k as Scored["group"], reward: rewards[k][i], length: 10 });
  const { advantages, groups } = trrAdvantages(items);
  const want: Record<string, number[]> = {
    "propose/deduction": [-1, -0.5, 0.5, 1].map((r) => r / Math.sqrt(5 / 6 + ADVANTAGE_EPS)),
    "propose/abduction": [0, 0, 0],
    "propose/induction": [0],
    "solve/deduction": [1, -0.5].map((r) => (r - 0.25) / Math.sqrt(1.125 + ADVANTAGE_EPS)),
    "solve/abduction": [-1, -1, 1, 1].map((r) => r / Math.sqrt(4 / 3 + ADVANTAGE_EPS)),
    "solve/induction": [-0.5, 0, 0.5].map((r) => r / Math.sqrt(0.25 + ADVANTAGE_EPS)),
  };
  for (const k of g) close(items.flatMap((x, i) => (x.group === k ? [advantages[i]] : [])), want[k]);
  assert.deepEqual(groups.find((s) => s.group === "propose/induction"), { group: "propose/induction", count: 1, mean: 0.875, variance: 0 });
});

test("TRR++ - per-token statistics weight responses by length (reference option)", () => {
  const items: Scored[] = [
    { group: "solve/deduction", reward: 1, length: 3 },
    { group: "solve/deduction", reward: -1, length: 1 },
  ];
  // μ = (3·1 − 1)/4 = 0.5; σ² = (3·0.25 + 1·2.25)/(4 − 1) = 1
  const { advantages } = trrAdvantages(items, "per-token");
  close(advantages, [0.5 / Math.sqrt(1 + ADVANTAGE_EPS), -1.5 / Math.sqrt(1 + ADVANTAGE_EPS)]);
  const per = trrAdvantages(items, "per-response").advantages; // μ=0, σ²=2
  close(per, [1 / Math.sqrt(2 + ADVANTAGE_EPS), -1 / Math.sqrt(2 + ADVANTAGE_EPS)]);
  assert.throws(() => trrAdvantages([{ group: "solve/deduction", reward: 1, length: 0 }, items[1]], "per-token"), /lengths ≥ 1/);
});

test("TRR++ - advantages are broadcast to every response token, padding 0; bad rewards fail", () => {
  assert.deepEqual([...broadcastAdvantage(0.5, 3, 5)], [0.5, 0.5, 0.5, 0, 0]);
  assert.throws(() => broadcastAdvantage(1, 6, 5), /exceeds/);
  assert.throws(() => trrAdvantages([{ group: "solve/deduction", reward: NaN, length: 1 }]), /not finite/);
  assert.deepEqual(trrAdvantages([]).advantages, []);
});
