/**
 * Execution traces (harness.py, make-corpus --think trace): f's locals as they take new values, a
 * for loop's variables on every pass, the return value last; non-literal values left out; only the
 * outermost call of a recursive f; over the limits: no trace. The deduction example thinks the trace.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ProgramRunner } from "../../actors/base-model/harness.ts";
import { deductionExample, TINY_FORMAT_OPTIONS, type ExecutedProgram } from "../../azr/corpus/format.ts";

const LIMITS = { maxLines: 16, maxChars: 400 };

test("trace: locals in order, loop passes with equal values shown, return last; none past the limits", async () => {
  const runner = ProgramRunner.start({ workers: 1 });
  try {
    const loop = "def f(t):\n    total = 1\n    for c in t:\n        if c != 'q':\n            total += 1\n    return total";
    const [r] = await runner.run(loop, ["'app'"], LIMITS);
    assert.ok(r.ok);
    // the second 'p' rebinds c to an equal value: still a line, so each pass shows
    assert.equal(r.trace, "t = 'app'\ntotal = 1\nc = 'a'\ntotal = 2\nc = 'p'\ntotal = 3\nc = 'p'\ntotal = 4\nreturn 4");
    const [long] = await runner.run(loop, ["'abcdefghij'"], LIMITS);
    assert.ok(long.ok);
    assert.equal(long.trace, null, "22 lines > 16");
    const [short] = await runner.run(loop, ["'a'"], { maxLines: 16, maxChars: 20 });
    assert.ok(short.ok && short.trace === null, "over the character limit");
    // a nested function and a range are not literals: left out; comprehension frames are not f's
    const odd = "def f(n):\n    g = lambda x: x * 2\n    r = range(n)\n    ys = [g(x) for x in r]\n    return sum(ys)";
    const [o] = await runner.run(odd, ["3"], LIMITS);
    assert.ok(o.ok);
    assert.equal(o.trace, "n = 3\nys = [0, 2, 4]\nreturn 6");
    const rec = "def f(n):\n    if n <= 1:\n        return 1\n    return n * f(n - 1)";
    const [fact] = await runner.run(rec, ["3"], LIMITS);
    assert.ok(fact.ok);
    assert.equal(fact.trace, "n = 3\nreturn 6", "the outermost call only");
    // untraced unless asked: the corpus's default path is unchanged
    const [plain] = await runner.run(loop, ["'a'"]);
    assert.ok(plain.ok && !("trace" in plain));
  } finally {
    await runner.close();
  }
});

test("trace: a deduction example's thinking is its pair's trace, and the answer span still marks the output", () => {
  const prog: ExecutedProgram = { id: "p", level: 0, template: "t", params: ["int"], source: "def f(a):\n    b = a + 1\n    return b * 2", message: "m", pairs: [{ input: "1", output: "4", trace: "a = 1\nb = 2\nreturn 4" }] };
  const e = deductionExample(prog, prog.pairs[0], TINY_FORMAT_OPTIONS);
  assert.ok(e.text.endsWith("<think>\na = 1\nb = 2\nreturn 4\n</think>\n<answer>\n```output\n4\n```\n</answer>"), e.text.slice(-120));
  const answer = e.segments.filter((s) => s.kind === "answer").map((s) => e.text.slice(s.start, s.end));
  assert.deepEqual(answer, ["4"]);
  const none = deductionExample(prog, { input: "1", output: "4" }, TINY_FORMAT_OPTIONS);
  assert.ok(none.text.endsWith("<think>\n</think>\n<answer>\n```output\n4\n```\n</answer>"), "no trace: empty thinking, as data/tiny's corpus");
});
