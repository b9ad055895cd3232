import { test } from "node:test";
import assert from "node:assert/strict";
import { admits, deductionCorrect, errorCorrect, evalScore, inductionScore, learnability, proposerReward, solveRate, solverReward } from "../../azr/rewards.ts";

test("rewards - solve rate r̄: mean of kept samples; excluded, empty or over-limit → 0", () => {
  const cases: [(number | null)[], boolean, number][] = [
    [[1, 0, 1, 0, 1, 0, 1, 0], false, 0.5],
    [[1, 1, 1, 1], false, 1],
    [[0, 0], false, 0],
    [[1, null, 0, null], false, 0.5], // infrastructure failures are excluded
    [[null, null], false, 0],
    [[], false, 0],
    [[1, 1], true, 0], // prompt over the length limit
    [[0.5, 1], false, 0.75], // induction accuracy-mode scores
  ];
  for (const [scores, over, want] of cases) assert.equal(solveRate(scores, over), want, JSON.stringify(scores));
  assert.throws(() => solveRate([-0.5]), /outside \[0, 1\]/, "rewards are not scores");
});

test("rewards - learnability at 0, 1 and in between (paper Eq. 4 and the inverse option)", () => {
  const cases: [number, number, number][] = [
    [0, 0, 1], [1, 0, 0], [0.125, 0.875, 0.875], [0.5, 0.5, 0.5], [0.875, 0.125, 0.125],
  ];
  for (const [rbar, oneMinus, inverse] of cases) {
    assert.equal(learnability(rbar), oneMinus, `one-minus r̄=${rbar}`);
    assert.equal(learnability(rbar, "inverse"), inverse, `inverse r̄=${rbar}`);
  }
});

test("rewards - proposer table: invalid / bad tags −1, trivial −0.5 (or 0), else r_prop (+ extras)", () => {
  const o = { trivialProposal: -0.5 };
  const cases: [Parameters<typeof proposerReward>[0], number][] = [
    [{ valid: false, formatOk: true, learnability: 0.5 }, -1],
    [{ valid: true, formatOk: false, learnability: 0.5 }, -1],
    [{ valid: false, formatOk: false, learnability: 0 }, -1],
    [{ valid: true, formatOk: true, learnability: 0 }, -0.5],
    [{ valid: true, formatOk: true, learnability: 0.375 }, 0.375],
    [{ valid: true, formatOk: true, learnability: 0.375, combineExtras: (r) => r + 0.25 }, 0.625],
    [{ valid: true, formatOk: true, learnability: 0, combineExtras: (r) => r + 0.25 }, -0.5], // extras need r_prop > 0
  ];
  for (const [x, want] of cases) assert.equal(proposerReward(x, o), want, JSON.stringify(x));
  assert.equal(proposerReward({ valid: true, formatOk: true, learnability: 0 }, { trivialProposal: 0 }), 0, "paper Eq. 6");
});

test("rewards - solver table: F=0 → −1, wrong → −0.5, right → 1 or the fraction; eval is 1/0", () => {
  const cases: [boolean, number, number][] = [[false, 1, -1], [false, 0, -1], [true, 0, -0.5], [true, 1, 1], [true, 0.6, 0.6]];
  for (const [f, s, want] of cases) assert.equal(solverReward(f, s), want, `F=${f} score=${s}`);
  assert.deepEqual([evalScore(true, true), evalScore(true, false), evalScore(false, true)], [1, 0, 0]);
});

test("rewards - induction modes over hidden pairs", () => {
  const cases: [boolean[], number, number, number][] = [
    [[true, true, true], 1, 1, 1],
    [[true, false, true, false, false], 0, 0.4, 1],
    [[false, false], 0, 0, 0],
  ];
  for (const [passed, binary, accuracy, any] of cases) {
    assert.deepEqual([inductionScore(passed, "binary"), inductionScore(passed, "accuracy"), inductionScore(passed, "any")], [binary, accuracy, any], JSON.stringify(passed));
  }
  assert.throws(() => inductionScore([]), /at least one hidden pair/);
});

test("rewards - deduction compares literal values, never evaluates", () => {
  const cases: [string, string, boolean][] = [
    ["[1, 2]", "[1, 2]", true],
    ["[1,2]", "[1, 2]", true],
    ["(1, 2)", "[1, 2]", false],
    ["1, 2", "(1, 2)", true],
    ["1.0", "1", true],
    ["{'b': 2, 'a': 1}", "{'a': 1, 'b': 2}", true],
    ["\"it's\"", "\"it's\"", true],
    ["sorted([2, 1])", "[1, 2]", false], // a call is not a literal
    ["", "''", false],
  ];
  for (const [ans, gold, want] of cases) assert.equal(deductionCorrect(ans, gold), want, `${ans} vs ${gold}`);
  assert.throws(() => deductionCorrect("1", "<A object at 0x1>"), /not a literal/);
  assert.ok(errorCorrect("keyerror", "KeyError") && !errorCorrect("Key", "KeyError") && !errorCorrect("", ""));
});

test("rewards - admission filter", () => {
  const cases: [Parameters<typeof admits>[0], number, boolean][] = [
    ["all", 1, true], ["all", 0, true],
    ["not-always-solved", 1, false], ["not-always-solved", 0, true],
    ["not-extremes", 0, false], ["not-extremes", 1, false], ["not-extremes", 0.5, true],
  ];
  for (const [f, r, want] of cases) assert.equal(admits(f, r), want, `${f} ${r}`);
});
