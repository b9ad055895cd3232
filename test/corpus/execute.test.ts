/**
 * Execution to true I/O pairs: the harness applies self-play's validity rules (one verdict per
 * rule, each attacked by a program built to break it) and executePrograms keeps only programs
 * with enough passing, non-constant pairs. Real Python (Debian's python3), no mocks.
 */
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import { diversePairs, executePrograms } from "../../actors/base-model/execute.ts";
import { ProgramRunner } from "../../actors/base-model/harness.ts";
import { HarnessRunner } from "../../actors/base-model/runners.ts";
import { generatePrograms } from "../../azr/corpus/programs.ts";

describe("corpus harness verdicts", () => {
  let runner: ProgramRunner;
  before(() => (runner = ProgramRunner.start({ workers: 1, timeoutS: 0.3 })));
  after(() => runner.close());

  const verdict = async (program: string, input: string) => (await runner.run(program, [input]))[0];

  it("returns the repr of a literal output", async () => {
    assert.deepEqual(await verdict("def f(a, b):\n    return {a: (b, [None, 1.5])}", "'k', -3"), { ok: true, output: "{'k': (-3, [None, 1.5])}" });
  });
  it("an exception is an error with its type", async () => {
    const r = await verdict("def f(x):\n    return x[5]", "[1]");
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.reason === "error" && r.detail.startsWith("IndexError"));
  });
  it("a program that answers differently on the second call is non-deterministic", async () => {
    const r = await verdict("seen = []\ndef f(x):\n    seen.append(x)\n    return len(seen)", "1");
    assert.ok(!r.ok && r.reason === "non-deterministic", JSON.stringify(r));
  });
  it("an endless loop times out, even one that catches Exception", async () => {
    const r = await verdict("def f(x):\n    while True:\n        try:\n            x += 1\n        except Exception:\n            pass", "0");
    assert.ok(!r.ok && r.reason === "timeout", JSON.stringify(r));
  });
  it("outputs over 400 characters are rejected, not truncated", async () => {
    const r = await verdict("def f(n):\n    return 'a' * n", "500");
    assert.ok(!r.ok && r.reason === "output too long", JSON.stringify(r));
    assert.ok((await verdict("def f(n):\n    return 'a' * n", "398")).ok);
  });
  it("objects, subclasses and generators are not literal outputs", async () => {
    for (const body of ["class A: pass\ndef f(x):\n    return A()", "class I(int): pass\ndef f(x):\n    return I(len(x))", "def f(x):\n    return (i for i in x)"]) {
      const r = await verdict(body, "[1]");
      assert.ok(!r.ok && r.reason === "output not a literal", `${body}: ${JSON.stringify(r)}`);
    }
  });
  it("an input that is not a literal argument list is rejected before running", async () => {
    const r = await verdict("def f(x):\n    return x", "len('abc')");
    assert.ok(!r.ok && r.reason === "input not a literal", JSON.stringify(r));
  });
  it("string hashing is fixed (PYTHONHASHSEED=0), so set order of strings is reproducible", async () => {
    const prog = "def f(x):\n    return list(set(x))";
    const a = await verdict(prog, "['apple', 'banana', 'cat', 'dog']");
    const runner2 = ProgramRunner.start({ workers: 1 });
    const b = (await runner2.run(prog, ["['apple', 'banana', 'cat', 'dog']"]))[0];
    await runner2.close();
    assert.deepEqual(a, b);
  });
});

describe("executePrograms", () => {
  it("keeps most generated programs, each with 6-8 pairs and varied outputs, reproducibly", async () => {
    const programs = generatePrograms({ seed: 31, count: 300 });
    const runner = HarnessRunner.start();
    try {
      const a = await executePrograms(programs, runner, { seed: 31 });
      const b = await executePrograms(programs, runner, { seed: 31 });
      assert.deepEqual(a.executed, b.executed);
      const { stats } = a;
      assert.ok(stats.survivalRate > 0.85, `survival ${stats.survivalRate}`);
      assert.equal(stats.kept, a.executed.length);
      assert.equal(stats.kept + stats.droppedFewPairs + stats.droppedConstant, 300);
      for (const p of a.executed) {
        assert.ok(p.pairs.length >= 6 && p.pairs.length <= 8, `${p.id}: ${p.pairs.length} pairs`);
        assert.ok(new Set(p.pairs.map((x) => x.output)).size >= 2, `${p.id} has a constant output`);
        assert.equal(new Set(p.pairs.map((x) => x.input)).size, p.pairs.length, `${p.id} repeats an input`);
      }
      for (const level of [0, 1, 2, 3, 4]) assert.ok(stats.byLevel[level][0] > 0, `no level ${level} program survived`);
    } finally {
      await runner.close();
    }
  });

  it("diversePairs puts one pair per distinct output first", () => {
    const pairs = [{ output: "0" }, { output: "0" }, { output: "1" }, { output: "0" }, { output: "2" }];
    assert.deepEqual(diversePairs(pairs, 4).map((p) => p.output), ["0", "1", "2", "0"]);
  });
});
