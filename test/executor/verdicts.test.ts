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

test("verdicts - an output that shows a memory address is non-deterministic even when both calls agree", () => {
  for (const repr of ["'<function f.<locals>.g at 0x7f3a2c1d5e40>'", "['<__main__.A object at 0x55d0c0ffee10>', 1]", "b'<object object at 0x7fa1b2c3d4e5>'"]) {
    const v = judgeCall([lit(repr), lit(repr)], 400) as { reason: string; message: string };
    assert.equal(v.reason, "non-deterministic", repr);
    assert.doesNotMatch(v.message, /0x[0-9a-f]/, "the message must be the same in every process: no address in it");
  }
  for (const repr of ["'at 0x10>'", "'0x7f3a2c1d5e40'", "'<tag at 0xZZ>'"]) assert.ok("repr" in judgeCall([lit(repr), lit(repr)], 400), repr);
});

test("verdicts - an address in the output gives the same message whether or not the two calls got the same address", () => {
  // The two calls of one process share an address by chance (the freed block handed back); the
  // verdict must not depend on that chance, or pooled and strict runs disagree on the message.
  const same = judgeCall([lit("'<object object at 0x7fa1b2c3d4e5>'"), lit("'<object object at 0x7fa1b2c3d4e5>'")], 400) as { reason: string; message: string };
  const other = judgeCall([lit("'<object object at 0x7fa1b2c3d4e5>'"), lit("'<object object at 0x7fa1b2c3d500>'")], 400) as { reason: string; message: string };
  assert.deepEqual(other, same);
  const second = judgeCall([lit("'x'"), lit("'<object object at 0x7fa1b2c3d500>'")], 400) as { reason: string; message: string };
  assert.deepEqual(second, same, "an address in the second call's output only");
});

test("verdicts - messages name nothing that varies between processes (values of a non-deterministic f, addresses in errors)", () => {
  const a = judgeCall([lit("'elooe'"), lit("'llhoo'")], 400) as { message: string };
  const b = judgeCall([lit("'lhlll'"), lit("'heehe'")], 400) as { message: string };
  assert.equal(a.message, b.message);
  const stage = (addr: string, type = "KeyError", message = `<object object at ${addr}>`) => stageVerdict({ id: 1, stage: "error", error: { type, message } }, 1000)!.message;
  assert.equal(stage("0x7f93e5bdf440"), stage("0x7f00000000aa"));
  const err = (addr: string) => stage(addr, "TypeError", `unhashable: <__main__.A object at ${addr}>`);
  assert.equal(err("0x7f93e5bdf440"), err("0x55d0c0ffee10"));
  assert.match(err("0x7f93e5bdf440"), /TypeError: unhashable: <__main__\.A object at 0x…>/);
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
