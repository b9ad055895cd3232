/**
 * The fast harness and the sandboxed executor give the same verdicts and outputs on generated
 * programs and score held-out answers alike: the corpus's true pairs are what self-play's
 * executor would have produced. Real Python on both sides.
 */
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import { ExecutorRunner, HarnessRunner } from "../../actors/base-model/runners.ts";
import type { HeldOutTask } from "../../azr/corpus/heldout.ts";
import { generatePrograms } from "../../azr/corpus/programs.ts";
import { Rng } from "../../azr/corpus/rng.ts";
import { distinctInputs } from "../../azr/corpus/values.ts";

describe("harness and executor agree", () => {
  let harness: HarnessRunner;
  let executor: ExecutorRunner;
  before(async () => {
    harness = HarnessRunner.start({ workers: 1 });
    executor = await ExecutorRunner.start({ workers: 2 });
  });
  after(async () => {
    await harness.close();
    await executor.close();
  });

  it("same verdicts and outputs on generated programs (and on ones built to fail)", async () => {
    const programs = generatePrograms({ seed: 41, count: 15 }).map((p) => ({ source: p.source, inputs: distinctInputs(p.params, Rng.derive(41, "inputs", p.id), 3) }));
    programs.push(
      { source: "def f(x):\n    return x[3]", inputs: ["[1]", "[1, 2, 3, 4]"] },
      { source: "def f(n):\n    return 'ab' * n", inputs: ["150", "250"] },
    );
    let compared = 0;
    for (const p of programs) {
      const [a, b] = await Promise.all([harness.run(p.source, p.inputs), executor.run(p.source, p.inputs)]);
      a.forEach((x, i) => {
        const y = b[i];
        assert.equal(x.ok, y.ok, `${p.source}\n(${p.inputs[i]}): harness ${JSON.stringify(x)} vs executor ${JSON.stringify(y)}`);
        if (x.ok && y.ok) assert.equal(x.output, y.output);
        compared++;
      });
    }
    assert.ok(compared >= 49);
  });

  it("score held-out answers alike", async () => {
    const program = "def f(s):\n    return s.upper() + '!'";
    const tasks: [HeldOutTask, string, boolean][] = [
      [{ type: "deduction", programId: "x", program, input: "'ab'", output: "'AB!'" }, "'AB!'", true],
      [{ type: "deduction", programId: "x", program, input: "'ab'", output: "'AB!'" }, "'ab!'", false],
      [{ type: "abduction", programId: "x", program, input: "'ab'", output: "'AB!'" }, "'aB'", true],
      [{ type: "abduction", programId: "x", program, input: "'ab'", output: "'AB!'" }, "'abc'", false],
      [{ type: "induction", programId: "x", program, message: "m", shown: [{ input: "'a'", output: "'A!'" }], hidden: [{ input: "'q'", output: "'Q!'" }, { input: "''", output: "'!'" }] }, "def f(t):\n    return t.upper() + '!'", true],
      [{ type: "induction", programId: "x", program, message: "m", shown: [{ input: "'a'", output: "'A!'" }], hidden: [{ input: "'q'", output: "'Q!'" }, { input: "''", output: "'!'" }] }, "def f(t):\n    return 'Q!'", false],
    ];
    for (const [task, answer, expected] of tasks) {
      assert.equal(await harness.score(task, answer), expected, `harness: ${task.type} ${answer}`);
      assert.equal(await executor.score(task, answer), expected, `executor: ${task.type} ${answer}`);
    }
  });
});
