/** Properties over random inputs (fast-check): TRR++ normalisation, buffer admission, sampling. */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { trrAdvantages, type Scored } from "../../azr/advantages.ts";
import { admitEntries, entryKey, pickSolverTasks } from "../../azr/buffers.ts";
import { createRng } from "../../azr/rng.ts";
import { groupsFor, groupKey, type Triplet } from "../../azr/tasks.ts";

const GROUPS = groupsFor().map((g) => groupKey(g.role, g.type));
const reward = fc.constantFrom(-1, -0.5, 0, 0.125, 0.5, 0.875, 1);

test("TRR++ property - each group's advantages have mean 0 and Bessel variance ≈ 1 (or are all 0)", () => {
  fc.assert(fc.property(fc.array(fc.record({ group: fc.constantFrom(...GROUPS), reward, length: fc.integer({ min: 1, max: 50 }) }), { maxLength: 80 }), (items) => {
    const { advantages } = trrAdvantages(items as Scored[]);
    for (const g of GROUPS) {
      const idx = items.flatMap((x, i) => (x.group === g ? [i] : []));
      if (idx.length === 0) continue;
      const a = idx.map((i) => advantages[i]);
      const r = idx.map((i) => items[i].reward);
      if (r.every((x) => x === r[0])) { assert.ok(a.every((x) => x === 0)); continue; }
      const mean = a.reduce((s, x) => s + x, 0) / a.length;
      const variance = a.reduce((s, x) => s + (x - mean) ** 2, 0) / (a.length - 1);
      assert.ok(Math.abs(mean) < 1e-9, `mean ${mean}`);
      assert.ok(Math.abs(variance - 1) < 1e-5, `variance ${variance}`); // ε = 1e-8 shrinks it by ε/σ² (≤ 1.3e-6 here)
      // order is kept: a higher reward never gets a lower advantage
      for (const i of idx) for (const j of idx) if (items[i].reward > items[j].reward) assert.ok(advantages[i] > advantages[j]);
    }
  }), { numRuns: 300 });
});

test("buffer property - admission never exceeds the cap and never holds two equal keys", () => {
  const entry = fc.record({ n: fc.integer({ min: 0, max: 12 }), ws: fc.constantFrom("", " ", "\n") }).map(({ n, ws }): Triplet => ({
    program: `def f(a):${ws}\n    return a + ${n % 4}`, input: String(n % 5), output: "0", imports: [], step: n,
  }));
  fc.assert(fc.property(fc.array(entry, { maxLength: 30 }), fc.array(entry, { maxLength: 30 }), fc.integer({ min: 1, max: 12 }), fc.constantFrom("evict-oldest", "keep-first"), (start, batch, cap, policy) => {
    const first = admitEntries([], start, { dedupe: "exact", maxEntries: cap, capPolicy: policy as "evict-oldest" });
    const r = admitEntries(first.entries, batch, { dedupe: "exact", maxEntries: cap, capPolicy: policy as "evict-oldest" });
    assert.ok(r.entries.length <= cap);
    assert.equal(new Set(r.entries.map(entryKey)).size, r.entries.length);
    assert.equal(first.entries.length + r.admitted.length - r.evicted.length, r.entries.length);
    assert.equal(r.admitted.length + r.rejected.length, batch.length);
  }), { numRuns: 300 });
});

test("sampling property - solver tasks: L of them, the new part distinct, the buffer part distinct", () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 16 }), fc.constantFrom("max-new", "half-new", "uniform"), fc.integer(), (nNew, nBuf, L, mix, seed) => {
    const fresh = Array.from({ length: nNew }, (_, i) => `n${i}`), buffer = Array.from({ length: nBuf }, (_, i) => `b${i}`);
    const got = pickSolverTasks(createRng(seed), fresh, buffer, L, mix as "max-new");
    const cap = mix === "max-new" ? L : mix === "half-new" ? Math.floor(L / 2) : 0;
    const k = Math.min(cap, nNew, L);
    assert.equal(got.length, k + Math.min(L - k, nBuf));
    assert.equal(new Set(got.slice(0, k)).size, k);
    assert.equal(new Set(got.slice(k)).size, got.length - k);
  }), { numRuns: 300 });
});
