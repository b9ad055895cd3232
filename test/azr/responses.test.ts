import { test } from "node:test";
import assert from "node:assert/strict";
import { fence, formatResponse } from "../../azr/prompts.ts";
import { inductionSolverCase, readInductionProposer, readSolver, readTripletProposer, tripletSolverCase } from "../../azr/responses.ts";
import { clipRatio, countReasons, isReflective, programLines, reflectionShare, summarize } from "../../azr/metrics.ts";

const prog = { rejectMultipleFunctions: true, entryFunction: "first" as const };
const on = { formatCheck: true };

test("responses - proposer: F and the proposal are independent; seeding reads the whole response", () => {
  const body = fence("python", "def f(a):\n    return a + 1") + "\n" + fence("input", "1");
  const good = readTripletProposer(formatResponse("plan", body), prog, on);
  assert.deepEqual([good.formatOk, good.proposal.ok], [true, true]);
  const untagged = readTripletProposer("plan</think> no answer tags " + body, prog, on);
  assert.deepEqual([untagged.formatOk, untagged.proposal.ok], [false, false], "no <answer> → empty answer → no program");
  const badTags = readTripletProposer("plan <answer>" + body + "</answer>", prog, on); // missing </think>
  assert.deepEqual([badTags.formatOk, badTags.proposal.ok], [false, true], "parsed and validated anyway; the reward is −1 by F");
  const seeding = readTripletProposer("some chatter\n" + body, prog, { formatCheck: true, wholeResponse: true });
  assert.deepEqual([seeding.formatOk, seeding.proposal.ok], [true, true]);
  assert.equal(readTripletProposer("plan</think>text<answer>" + body + "</answer>", prog, { formatCheck: false }).formatOk, true, "formatCheck off");
  const ind = readInductionProposer(formatResponse("t", [fence("input", "1"), fence("input", "2"), fence("message", "m")].join("\n")), { nInputs: 2, allowDuplicateInputs: false }, on);
  assert.deepEqual(ind, { formatOk: true, proposal: { ok: true, inputs: ["1", "2"], message: "m" } });
});

test("responses - solver answers per type; induction without a code fence is F = 0", () => {
  const cases: [Parameters<typeof readSolver>[0], string, { formatOk: boolean; answer: string | undefined }][] = [
    ["deduction", formatResponse("t", fence("output", "[1, 2]")), { formatOk: true, answer: "[1, 2]" }],
    ["abduction", formatResponse("t", "# Input: 'a', 2"), { formatOk: true, answer: "'a', 2" }],
    ["error", formatResponse("t", fence("output", "ZeroDivisionError: division by zero")), { formatOk: true, answer: "ZeroDivisionError" }],
    ["induction", formatResponse("t", fence("python", "def f(a):\n    return a")), { formatOk: true, answer: "def f(a):\n    return a" }],
    ["induction", formatResponse("t", "def f(a): return a"), { formatOk: false, answer: undefined }],
    ["deduction", "no tags at all", { formatOk: false, answer: "" }],
  ];
  for (const [type, resp, want] of cases) assert.deepEqual(readSolver(type, resp, on), want, `${type}: ${resp.slice(0, 40)}`);
});

test("responses - solver cases: what is shown and what is checked", () => {
  const t = { program: "import math\ndef f(a):\n    return a", input: "1", output: "1", imports: ["import math"], step: 3 };
  assert.deepEqual(tripletSolverCase("deduction", t), { task: { type: "deduction", program: t.program, input: "1" }, gold: { output: "1" } });
  assert.deepEqual(tripletSolverCase("abduction", t), { task: { type: "abduction", program: t.program, output: "1" }, gold: { program: t.program, imports: ["import math"], output: "1" } });
  const e = { program: "def f(a):\n    return a", inputs: ["1", "2", "3", "4", "5"], outputs: ["1", "2", "3", "4", "5"], message: "m", imports: [], step: 1 };
  const c = inductionSolverCase(e);
  assert.deepEqual(c, {
    task: { type: "induction", shown: [{ input: "1", output: "1" }, { input: "2", output: "2" }], message: "m" },
    gold: { imports: [], hidden: [{ input: "3", output: "3" }, { input: "4", output: "4" }, { input: "5", output: "5" }] },
  });
  assert.throws(() => inductionSolverCase({ ...e, outputs: ["1"] }), /equal-length/);
});

test("metrics - summaries, clip ratio, reflection share, program lines", () => {
  assert.deepEqual(summarize([1, -1, 0.5]), { count: 3, mean: 0.5 / 3, min: -1, max: 1 });
  assert.deepEqual(summarize([]), { count: 0, mean: 0, min: 0, max: 0 });
  assert.equal(clipRatio(["eos", "length", "stop", "length"]), 0.5);
  const texts: [string, boolean][] = [["Wait, that is wrong", true], ["let me  check again", true], ["awaiting input", false], ["However it works", true], ["plain", false]];
  for (const [t, want] of texts) assert.equal(isReflective(t), want, t);
  assert.equal(reflectionShare(texts.map(([t]) => t)), 3 / 5);
  assert.equal(programLines("def f(a):\n\n    # note\n    return a\n"), 2);
  assert.deepEqual(countReasons(["syntax", "timeout", "syntax"]), { syntax: 2, timeout: 1 });
});
