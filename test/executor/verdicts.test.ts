/** Verdicts from observations (trusted side, no Python): order of checks and reason strings. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { inductionTask } from "../../actors/code-executor/index.ts";
import { judgeCall, judgeDeduction, judgeValidation, stageVerdict } from "../../actors/code-executor/verdicts.ts";

const o = { timeoutMs: 1000, maxOutputChars: 10, calls: 1 };
const lit = (repr: string) => ({ literal: true, repr, len: repr.length });

test("verdicts - determinism compares reprs of both calls before the output rules", () => {
  assert.equal((judgeCall([lit("1"), lit("2")], 10) as { reason: string }).reason, "non-deterministic");
  assert.equal((judgeCall([{ literal: false, type: "A" }, lit("2")], 10) as { reason: string }).reason, "non-deterministic");
  assert.equal((judgeCall([{ literal: false, type: "A" }, { literal: false, type: "A" }], 10) as { reason: string }).reason, "output not a literal");
  assert.equal((judgeCall([lit("'abcdefghijk'"), lit("'abcdefghijk'")], 10) as { reason: string }).reason, "output too long");
  assert.equal((judgeCall([lit("[[...]]"), lit("[[...]]")], 10) as { reason: string }).reason, "output not a literal");
  const ok = judgeCall([lit("{1: nan}"), lit("{1: nan}")], 10);
  assert.ok("repr" in ok && ok.repr === "{1: nan}");
});

test("verdicts - stages map to the spec's reasons; SIGXCPU is a timeout", () => {
  const cases: [Parameters<typeof stageVerdict>[0], string][] = [
    [{ id: 1, stage: "syntax", error: { type: "SyntaxError", message: "x" } }, "syntax error"],
    [{ id: 1, stage: "banned", banned: "os.path" }, "banned import"],
    [{ id: 1, stage: "memory" }, "memory"],
    [{ id: 1, stage: "timeout" }, "timeout"],
    [{ id: 1, stage: "crash", signal: 24 }, "timeout"],
    [{ id: 1, stage: "crash", signal: 11 }, "crashed"],
    [{ id: 1, stage: "crash", exitCode: 3 }, "crashed"],
    [{ id: 1, stage: "threads" }, "left a thread running"],
  ];
  for (const [obs, reason] of cases) assert.equal(stageVerdict(obs, 1000)?.reason, reason, obs.stage);
  assert.equal(stageVerdict({ id: 1, stage: "banned", banned: "os.path" }, 1)?.message, "banned import os.path");
});

test("verdicts - a worker that returns fewer outputs than inputs is not trusted", () => {
  assert.equal((judgeValidation({ id: 1, stage: "ok", outputs: [] }, o) as { reason: string }).reason, "crashed");
});

test("verdicts - deduction: NaN equals NaN at the same position, floats exact, tuple ≠ list", () => {
  const t = (output: string) => ({ type: "deduction" as const, program: "", input: "", output });
  assert.equal(judgeDeduction(t("[nan, 1]"), "[nan, 1.0]").reason, "correct");
  assert.equal(judgeDeduction(t("0.1"), "0.10000000000000002").reason, "mismatch");
  assert.equal(judgeDeduction(t("(1, 2)"), "[1, 2]").reason, "mismatch");
  assert.equal(judgeDeduction(t("True"), "1").reason, "correct");
});

test("verdicts - induction split: first ⌊N/2⌋ shown, the rest hidden", () => {
  const t = inductionTask({ program: "", inputs: ["1", "2", "3", "4", "5"], outputs: ["a", "b", "c", "d", "e"], message: "m", imports: [] });
  assert.deepEqual(t.shown.map((p) => p.input), ["1", "2"]);
  assert.deepEqual(t.hidden.map((p) => p.output), ["c", "d", "e"]);
});
