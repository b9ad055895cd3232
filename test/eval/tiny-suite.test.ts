/**
 * The tiny held-out report: per-type accuracy with intervals beside the baselines, and the
 * valid-proposal probe (tiny recipe prompts → parsers → the real executor).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { CodeExecutor } from "../../actors/code-executor/index.ts";
import {
  accuracyByType, compareByType, formatComparison, formatTinyReport, probeProposals, proposalPrompts, recordType, type ProbeGenerator, type TinyBaselines,
} from "../../actors/eval/tiny-suite.ts";
import type { ExecutedProgram } from "../../azr/corpus/format.ts";
import { fence, formatResponse, promptText } from "../../azr/prompts.ts";
import { getRecipe } from "../../recipes/index.ts";

const programs: ExecutedProgram[] = [
  { id: "p0", level: 0, template: "t", params: ["int"], source: "def f(a):\n    return a * 2", message: "Doubles a number.", pairs: [{ input: "3", output: "6" }] },
  { id: "p1", level: 0, template: "t", params: ["str"], source: "def f(s):\n    return s[::-1]", message: "Reverses a string.", pairs: [{ input: "'ab'", output: "'ba'" }] },
];

describe("tiny suite", () => {
  it("accuracy per task type from the held-out records, beside the baselines", () => {
    const rec = (type: string, i: number, correct: boolean) => ({ benchmark: "tiny", id: `p${i}:0/${type}/${i}`, correct, response: "" });
    const records = [rec("deduction", 0, true), rec("deduction", 1, false), rec("deduction", 2, true), rec("abduction", 3, false), rec("induction", 4, true)];
    assert.equal(recordType(records[3]), "abduction");
    assert.throws(() => recordType({ id: "no-type-here" }), /names no task type/);
    const acc = accuracyByType(records);
    assert.deepEqual([acc.deduction.correct, acc.deduction.total, acc.abduction.correct, acc.induction.total], [2, 3, 0, 1]);
    assert.ok(acc.deduction.low <= acc.deduction.accuracy && acc.deduction.accuracy <= acc.deduction.high);
    const a = (x: number) => ({ correct: Math.round(x * 100), total: 100, accuracy: x, low: x - 0.05, high: x + 0.05 });
    const baselines: TinyBaselines = {
      constant: { deduction: a(0.1), abduction: a(0.1), induction: a(0.1) },
      copy: { deduction: a(0.2), abduction: a(0.05), induction: a(0.02) },
    };
    const table = formatTinyReport({ model: "m", accuracy: acc, baselines });
    assert.match(table, /deduction\s+3\s+66\.7 \[\d+\.\d, \d+\.\d\]\s+10\.0 \[5\.0, 15\.0\]\s+20\.0 \[15\.0, 25\.0\]\s+3\.33/, table);
    assert.match(formatTinyReport({ model: "m", accuracy: acc }), /no heldout-baselines\.json/);
  });

  it("--compare: the paired change per task type over the tasks both runs scored, with gained and lost tasks", () => {
    const rec = (type: string, i: number, correct: boolean) => ({ benchmark: "tiny", id: `p${i}:0/${type}/${i}`, correct, response: "" });
    // 200 deduction tasks: 40 right in both, 30 gained, 10 lost; one task only the new run has.
    const before = Array.from({ length: 200 }, (_, i) => rec("deduction", i, i < 40 || (i >= 70 && i < 80)));
    const after = Array.from({ length: 201 }, (_, i) => rec("deduction", i, i < 70));
    after.push(rec("abduction", 500, true), rec("abduction", 501, false));
    const c = compareByType(before, after);
    assert.deepEqual([c.deduction.total, c.deduction.gained, c.deduction.lost], [200, 30, 10]);
    assert.ok(Math.abs(c.deduction.difference - 0.1) < 1e-12);
    assert.ok(c.deduction.low > 0 && c.deduction.low < 0.1 && c.deduction.high > 0.1, JSON.stringify(c.deduction));
    assert.equal(c.abduction.total, 0, "abduction tasks the first run never scored are not compared");
    // Unpaired, 40+10=50/200 vs 70/200 have overlapping 95% intervals; paired, the change is clear.
    const text = formatComparison("base.problems.jsonl", c);
    assert.match(text, /deduction\s+n\s+200\s+\+10\.0 \[\+\d\.\d, \+1\d\.\d\]\s+gained 30, lost 10\s+\(better/, text);
    const none = compareByType(after, after);
    assert.deepEqual([none.deduction.difference, none.deduction.low, none.deduction.high], [0, 0, 0]);
    // the records' order (the order evaluation finished in) moves neither interval
    const shuffled = [...after].reverse();
    assert.deepEqual(compareByType(before, shuffled), c);
    assert.deepEqual(accuracyByType(shuffled), accuracyByType(after));
  });

  it("proposer prompts are the tiny recipe's, drawn reproducibly from the held-out programs", () => {
    const recipe = getRecipe("tiny");
    const one = proposalPrompts(programs, recipe, 2, 7).map((i) => promptText(i.prompt));
    assert.deepEqual(one, proposalPrompts(programs, recipe, 2, 7).map((i) => promptText(i.prompt)));
    assert.equal(one.length, 6);
    assert.match(one[0], /def f\(/);
    assert.throws(() => proposalPrompts([], recipe, 1, 0), /no held-out programs/);
  });

  describe("the proposal probe on the real executor", () => {
    let executor: CodeExecutor;
    before(async () => {
      executor = await CodeExecutor.start({ workers: 1 });
    });
    after(async () => {
      await executor.close();
    });

    it("counts what parses and passes the executor, per type, with the failure reasons", async () => {
      const recipe = getRecipe("tiny");
      const items = proposalPrompts(programs, recipe, 2, 1);
      const triplet = (program: string, input: string) => formatResponse("plan", fence("python", program) + "\n" + fence("input", input));
      const inputs = Array.from({ length: recipe.selfplay.inductionInputs }, (_, i) => fence("input", i < 3 ? String(i) : `'${"x".repeat(i)}'`));
      const responses = [
        triplet("def f(x):\n    return x + 1", "4"), // valid deduction
        triplet("import random\ndef f(x):\n    return random.random()", "1"), // banned module
        triplet("def f(x):\n    return x[0]", "[7, 8]"), // valid abduction
        "no answer at all", // unparsable
        formatResponse("t", [...inputs, fence("message", "doubles")].join("\n")), // induction: p0 or p1 on ints and strings
        formatResponse("t", fence("message", "no inputs")),
      ];
      const gen: ProbeGenerator = {
        async *generate(prompts) {
          for (let i = prompts.length - 1; i >= 0; i--) yield { index: i, text: responses[i] }; // any order
        },
      };
      const t = await probeProposals(items, gen, executor, recipe);
      assert.deepEqual([t.deduction.total, t.deduction.valid, t.deduction.formatOk], [2, 1, 2]);
      assert.equal(t.deduction.reasons.length, 1);
      assert.deepEqual([t.abduction.total, t.abduction.valid, t.abduction.formatOk], [2, 1, 1]);
      assert.equal(t.induction.total, 2);
      assert.ok(t.induction.valid <= 1, "the message-only proposal has no inputs");
      const table = formatTinyReport({ model: "m", accuracy: accuracyByType([]), proposals: t });
      assert.match(table, /deduction\s+valid 1\/2 \(50\.0%\)/);
    });
  });
});
