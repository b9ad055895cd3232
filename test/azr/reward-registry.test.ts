import { test } from "node:test";
import assert from "node:assert/strict";
import {
  combineExtras, countValue, createRewardRegistry, emptyCounters, extraTerms, hierarchicalSurprise, levenshtein, surprise,
  type ExtraRewardContext,
} from "../../azr/reward-registry.ts";

const ctx = (over: Partial<ExtraRewardContext> = {}): ExtraRewardContext => ({
  type: "deduction", program: "def f(a):\n    return a", inputs: ["1"], outputs: ["1"], referencePrograms: ["def f(a):\n    return a"],
  inputCounters: emptyCounters(), outputCounters: emptyCounters(), ...over,
});

test("reward registry - combine modes (reference semantics) and no-op without enabled terms", () => {
  const cases: [Parameters<typeof combineExtras>[2], number][] = [["sum", 0.5 + 0.1 + 0.2], ["multiply", 0.5 * 0.1 * 0.2], ["sum-multiply", 0.5 + 0.1 * 0.2], ["multiply-sum", 0.5 * (0.1 + 0.2)]];
  for (const [mode, want] of cases) assert.ok(Math.abs(combineExtras(0.5, [0.1, 0.2], mode) - want) < 1e-12, mode);
  for (const [mode] of cases) assert.equal(combineExtras(0.5, [], mode), 0.5, `${mode} without terms`);
});

test("reward registry - c = min(coef·value, max); disabled terms are skipped; unknown names fail", () => {
  const reg = createRewardRegistry([{ name: "constant", describe: "always 3", value: () => 3 }]);
  const out = extraTerms(reg, { constant: { enabled: true, coef: 0.1, max: 0.5 }, complexity: { enabled: false, coef: 1, max: 1 } }, ctx());
  assert.equal(out.length, 1);
  assert.ok(Math.abs(out[0].c - 0.3) < 1e-12);
  assert.equal(extraTerms(reg, { constant: { enabled: true, coef: 1, max: 0.5 } }, ctx())[0].c, 0.5);
  assert.throws(() => extraTerms(reg, { nope: { enabled: true, coef: 1, max: 1 } }, ctx()), /'nope' is not registered/);
  assert.throws(() => createRewardRegistry([{ name: "complexity", describe: "", value: () => 0 }]), /registered twice/);
});

test("reward registry - surprise: 1 unseen, 1 − count/total seen; hierarchical by type then value", () => {
  const c = emptyCounters();
  assert.equal(surprise(c, "1"), 1);
  for (const v of ["1", "1", "1.0", "2", "'a'"]) countValue(c, v); // values are counted within their type
  assert.equal(surprise(c, "1"), 1 - 2 / 5);
  assert.equal(surprise(c, "1.0"), 1 - 1 / 5, "1.0 is a float: its own count");
  assert.equal(surprise(c, "True"), 1, "True == 1, but no bool was seen");
  assert.equal(surprise(c, "3"), 1);
  // hierarchical: str is 1 of 5 → 0.8 type surprise; 'a' is 1 of 1 str → 0 value surprise
  assert.equal(hierarchicalSurprise(c, "'a'"), 0.5 * 0.8 + 0.5 * 0);
  // int is 3 of 5 → 0.4; 1 is 2 of 3 ints → 1/3
  assert.ok(Math.abs(hierarchicalSurprise(c, "1") - (0.5 * 0.4 + 0.5 * (1 / 3))) < 1e-12);
  assert.equal(hierarchicalSurprise(c, "[1]"), 1, "unseen type");
});

test("reward registry - built-in terms give sensible values", () => {
  const reg = createRewardRegistry();
  const all = Object.fromEntries([...reg.keys()].map((n) => [n, { enabled: true, coef: 1, max: 10 }]));
  const simple = Object.fromEntries(extraTerms(reg, all, ctx()).map((t) => [t.name, t.value]));
  const loopy = ctx({ program: "def f(xs):\n    t = 0\n    for x in xs:\n        if x > 2 and x % 2:\n            t += x\n        elif x < 0:\n            t -= 1\n    return t" });
  const complex = Object.fromEntries(extraTerms(reg, all, loopy).map((t) => [t.name, t.value]));
  assert.equal(simple.editDistance, 0, "identical to its reference");
  assert.ok(complex.editDistance > 0.3);
  assert.equal(simple.complexity, 0);
  assert.ok(complex.complexity > simple.complexity && complex.halstead > simple.halstead, JSON.stringify({ simple, complex }));
  assert.equal(simple.inputDiversity, 1);
  assert.equal(levenshtein("kitten", "sitting"), 3);
});
