/**
 * The corpus formatter: every example is exactly the tiny recipe's prompt (built by azr/prompts)
 * plus a response that azr's own parsers read back to the gold answer; segments cover the text
 * and mark exactly the answer values; the curriculum starts easy. Pure: no Python needed.
 */
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { extractAnswer, extractSolverProgram, extractSolverValue, formatOk } from "../../azr/answer.ts";
import { curriculumOrder, formatCorpus, TINY_FORMAT_OPTIONS, type CorpusExample, type ExecutedProgram } from "../../azr/corpus/format.ts";
import type { Level } from "../../azr/corpus/programs.ts";
import { solverPrompt, splitInductionPairs } from "../../azr/prompts.ts";
import { parseInductionProposal, parseTripletProposal } from "../../azr/proposal.ts";

function program(i: number, level: Level): ExecutedProgram {
  return {
    id: `t:${i}`,
    level,
    template: "test",
    params: ["int"],
    source: `def f(n):\n    total = 0\n    for i in range(n % 7):\n        total += i * ${i + 2}\n    return total`,
    message: "Takes an int; adds up multiples; returns an int.",
    pairs: Array.from({ length: 8 }, (_, k) => ({ input: String(k + 1), output: String(((k + 1) % 7) * (((k + 1) % 7) - 1) / 2 * (i + 2)) })),
  };
}

const PROGRAMS = Array.from({ length: 40 }, (_, i) => program(i, (i % 5) as Level));
const O = TINY_FORMAT_OPTIONS;

function response(e: CorpusExample): string {
  return e.text.slice(e.promptChars);
}

describe("corpus formatter", () => {
  const examples = formatCorpus(PROGRAMS, 1, O);

  it("makes every form, about as often as the mix says", () => {
    const count = (f: string) => examples.filter((e) => e.form === f).length;
    assert.equal(count("deduction"), 3 * PROGRAMS.length);
    assert.equal(count("abduction"), 2 * PROGRAMS.length);
    assert.equal(count("induction"), PROGRAMS.length);
    assert.ok(count("propose") > 8 && count("propose") < 32, `propose: ${count("propose")}`);
    assert.ok(count("propose-induction") > 2 && count("propose-induction") < 20, `propose-induction: ${count("propose-induction")}`);
    assert.deepEqual(formatCorpus(PROGRAMS, 1, O), examples, "same seed, same corpus");
  });

  it("a deduction example is the recipe's own prompt, and the answer parses back to the gold output", () => {
    for (const e of examples.filter((x) => x.form === "deduction")) {
      const prog = PROGRAMS.find((p) => p.id === e.programId)!;
      const prompt = e.text.slice(0, e.promptChars);
      const pair = prog.pairs.find((p) => prompt === (solverPrompt({ type: "deduction", program: prog.source, input: p.input }, { variant: "compact", chatTemplate: false, rejectMultipleFunctions: true }) as { text: string }).text);
      assert.ok(pair, "prompt is not the recipe's deduction prompt for any of the program's pairs");
      assert.ok(formatOk(response(e)));
      assert.equal(extractSolverValue(extractAnswer(response(e)), "output"), pair.output);
    }
  });

  it("abduction and induction answers parse back with azr's solver parsers", () => {
    for (const e of examples.filter((x) => x.form === "abduction")) {
      const prog = PROGRAMS.find((p) => p.id === e.programId)!;
      const input = extractSolverValue(extractAnswer(response(e)), "input");
      assert.ok(prog.pairs.some((p) => p.input === input && e.text.includes("```output\n" + p.output + "\n```")));
    }
    for (const e of examples.filter((x) => x.form === "induction")) {
      const prog = PROGRAMS.find((p) => p.id === e.programId)!;
      assert.equal(extractSolverProgram(extractAnswer(response(e))), prog.source);
      const { shown, hidden } = splitInductionPairs(prog.pairs.slice(0, O.proposer.nInputs));
      for (const p of shown) assert.ok(e.text.includes(p.input) && e.text.includes(p.output));
      assert.equal(shown.length, 3);
      assert.ok(!e.text.slice(0, e.promptChars).includes(prog.source), "induction prompt must not show the program");
      void hidden;
    }
  });

  it("proposals parse back with azr's proposal parsers", () => {
    for (const e of examples.filter((x) => x.form === "propose")) {
      const prog = PROGRAMS.find((p) => p.id === e.programId)!;
      const parsed = parseTripletProposal(extractAnswer(response(e)), { rejectMultipleFunctions: true, entryFunction: "first" });
      assert.ok(parsed.ok, JSON.stringify(parsed));
      assert.equal(parsed.program, prog.source);
      assert.ok(prog.pairs.some((p) => p.input === parsed.input));
    }
    for (const e of examples.filter((x) => x.form === "propose-induction")) {
      const parsed = parseInductionProposal(extractAnswer(response(e)), { nInputs: O.proposer.nInputs, allowDuplicateInputs: false });
      assert.ok(parsed.ok, JSON.stringify(parsed));
      assert.equal(parsed.message, PROGRAMS.find((p) => p.id === e.programId)!.message);
    }
  });

  it("segments cover the text in order and mark exactly the answer values, newline-delimited", () => {
    for (const e of examples) {
      assert.equal(e.segments[0].start, 0);
      assert.equal(e.segments.at(-1)!.end, e.text.length);
      for (let i = 1; i < e.segments.length; i++) assert.equal(e.segments[i].start, e.segments[i - 1].end);
      assert.deepEqual(e.segments[0], { start: 0, end: e.promptChars, kind: "prompt" });
      const answers = e.segments.filter((s) => s.kind === "answer");
      assert.ok(answers.length >= 1);
      for (const s of answers) {
        assert.ok(s.start >= e.promptChars);
        assert.equal(e.text[s.start - 1], "\n");
        assert.equal(e.text[s.end], "\n");
      }
      if (e.form === "deduction") assert.equal(answers.length, 1);
      if (e.form === "propose") assert.equal(answers.length, 2);
      if (e.form === "propose-induction") assert.equal(answers.length, O.proposer.nInputs + 1);
    }
  });

  it("the curriculum is a reordering that starts easy and brings the hardest level in late", () => {
    const ordered = curriculumOrder(examples, 1);
    assert.equal(ordered.length, examples.length);
    assert.deepEqual(new Set(ordered), new Set(examples));
    assert.deepEqual(curriculumOrder(examples, 1), ordered);
    const quarter = Math.floor(ordered.length / 4);
    const meanLevel = (xs: CorpusExample[]) => xs.reduce((a, e) => a + e.level, 0) / xs.length;
    assert.ok(meanLevel(ordered.slice(0, quarter)) < meanLevel(ordered.slice(-quarter)) - 0.8);
    assert.ok(!ordered.slice(0, quarter).some((e) => e.level === 4), "level 4 in the first quarter");
    assert.ok(ordered.slice(-quarter).some((e) => e.level === 0), "easy examples must not vanish at the end");
  });
});
