import { test } from "node:test";
import assert from "node:assert/strict";
import { extractAnswer, extractSolverProgram, extractSolverValue, findFences, formatOk } from "../../azr/answer.ts";
import { parseInductionProposal, parseTripletProposal } from "../../azr/proposal.ts";
import {
  fence, formatResponse, proposerOptions, proposerPrompt, promptText, r1Preamble, solverPrompt, splitInductionPairs, wrapPrompt,
  type ProposerOptions, type PromptVariant,
} from "../../azr/prompts.ts";

const refs = [
  { program: "def f(a):\n    return a", input: "'Hello world'", output: "'Hello world'" },
  { program: "def f(xs):\n    return sorted(xs)", input: "[3, 1]", output: "[1, 3]" },
];
const opts = (variant: PromptVariant): ProposerOptions & { chatTemplate: boolean } => ({
  variant, chatTemplate: false, bannedWords: ["random", "time", "os.path"], rejectMultipleFunctions: true, timeoutSeconds: 10, nInputs: 6,
});

test("prompts - the R1 wrapper: preamble, User:, pre-filled <think>, no stray Assistant:", () => {
  for (const variant of ["full", "compact"] as const) {
    const p = wrapPrompt("do the task", { variant, chatTemplate: false });
    assert.equal(p.kind, "text");
    const text = promptText(p);
    assert.ok(text.endsWith("\nUser: do the task\nAssistant: <think>"), text);
    assert.equal(text.split("Assistant:").length, 2, "Assistant: appears exactly once");
    assert.ok(!r1Preamble(variant).includes("Assistant:"));
    assert.match(r1Preamble(variant), /<think> <\/think>/);
    assert.match(r1Preamble(variant), /<answer> <\/answer>/);
  }
  const chat = wrapPrompt("do the task", { variant: "full", chatTemplate: true });
  assert.deepEqual(chat.kind === "chat" && [chat.messages.map((m) => m.role), chat.assistantPrefill], [["system", "user"], "<think>"]);
});

test("prompts - every task type × role × variant builds, with the fences its parser reads", () => {
  for (const variant of ["full", "compact"] as const) {
    for (const type of ["deduction", "abduction", "error"] as const) {
      const text = promptText(proposerPrompt({ type, references: refs }, opts(variant)));
      for (const i of [0, 1]) assert.ok(text.includes(`<snippet_${i}>\n\`\`\`python\n${refs[i].program}\n\`\`\`\n\`\`\`input\n${refs[i].input}\n\`\`\`\n\`\`\`output\n${refs[i].output}\n\`\`\`\n</snippet_${i}>`), `${variant} ${type} references`);
      assert.match(text, /```python/);
      assert.match(text, /```input/);
      assert.ok(text.includes("random, time, os.path"), `${variant} ${type} lists the banned words`);
    }
    const ind = promptText(proposerPrompt({ type: "induction", program: refs[1].program }, opts(variant)));
    assert.ok(ind.includes("f(<|YOUR INPUT WILL BE PLUGGED HERE|>)") && ind.includes("```message") && ind.includes("6"), `${variant} induction proposer`);
    const so = { variant, chatTemplate: false, rejectMultipleFunctions: true };
    assert.match(promptText(solverPrompt({ type: "deduction", program: "def f(a): return a", input: "1" }, so)), /```output/);
    assert.match(promptText(solverPrompt({ type: "abduction", program: "def f(a): return a", output: "1" }, so)), /```input/);
    assert.match(promptText(solverPrompt({ type: "error", program: "def f(a): return a", input: "1" }, so)), /NoError/);
    const induction = promptText(solverPrompt({ type: "induction", shown: [{ input: "1", output: "2" }, { input: "3", output: "4" }], message: "adds one" }, so));
    assert.ok(induction.includes("```input_0\n1\n```\n```output_0\n2\n```\n```input_1\n3\n```\n```output_1\n4\n```"), induction);
    assert.ok(induction.includes("```message\nadds one\n```"));
    assert.ok(!induction.includes("def f(xs)"), "the program is never shown");
  }
});

test("prompts - the full induction solver states the proposer's code requirements, minus state tracking (spec §3.3)", () => {
  const induction = promptText(solverPrompt({ type: "induction", shown: [{ input: "1", output: "2" }], message: "adds one" }, { variant: "full", chatTemplate: false, rejectMultipleFunctions: true }));
  for (const rule of ["named `f`", "at least one parameter and returns a value", "no randomness", "finish within", "imports at the top"]) assert.ok(induction.includes(rule), rule);
  assert.ok(!induction.includes("keeping track of state"));
});

test("prompts - each proposer states its own difficulty (the reference swaps them)", () => {
  const ded = promptText(proposerPrompt({ type: "deduction", references: refs }, opts("full")));
  const abd = promptText(proposerPrompt({ type: "abduction", references: refs }, opts("full")));
  assert.match(ded, /Hard to predict/);
  assert.doesNotMatch(ded, /Hard to invert/);
  assert.match(abd, /Hard to invert/);
  assert.doesNotMatch(abd, /Hard to predict/);
  assert.match(ded, /exactly one function/);
  assert.match(promptText(proposerPrompt({ type: "deduction", references: refs }, { ...opts("full"), rejectMultipleFunctions: false })), /nested inside it/);
});

test("prompts - the full proposer prompt's example parses as a valid proposal", () => {
  const text = promptText(proposerPrompt({ type: "abduction", references: [] }, opts("full")));
  const example = findFences(text).slice(0, 2).map((f) => fence(f.lang, f.body.trimEnd())).join("\n");
  const parsed = parseTripletProposal(example, { rejectMultipleFunctions: true, entryFunction: "first" });
  assert.equal(parsed.ok, true, JSON.stringify(parsed));
});

test("prompts - a response built by formatResponse round-trips through F and the extractors", () => {
  const proposal = formatResponse("plan", fence("python", "def f(a):\n    return a * 2") + "\n" + fence("input", "3"));
  assert.ok(formatOk(proposal));
  assert.deepEqual(parseTripletProposal(extractAnswer(proposal), { rejectMultipleFunctions: true, entryFunction: "first" }), { ok: true, program: "def f(a):\n    return a * 2", input: "3", imports: [], entryName: "f" });
  const solved = formatResponse("trace", fence("output", "6"));
  assert.equal(extractSolverValue(extractAnswer(solved), "output"), "6");
  const ind = formatResponse("guess", fence("python", "def f(a):\n    return a"));
  assert.equal(extractSolverProgram(extractAnswer(ind)), "def f(a):\n    return a");
  const inputs = formatResponse("t", ["1", "2"].map((x) => fence("input", x)).join("\n") + "\n" + fence("message", "m"));
  assert.deepEqual(parseInductionProposal(extractAnswer(inputs), { nInputs: 2, allowDuplicateInputs: false }), { ok: true, inputs: ["1", "2"], message: "m" });
});

test("prompts - induction split shows the first ⌊N/2⌋ pairs", () => {
  assert.deepEqual(splitInductionPairs([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), { shown: [1, 2, 3, 4, 5], hidden: [6, 7, 8, 9, 10] });
  assert.deepEqual(splitInductionPairs([1, 2, 3, 4, 5, 6]), { shown: [1, 2, 3], hidden: [4, 5, 6] });
  assert.deepEqual(splitInductionPairs([1, 2, 3]), { shown: [1], hidden: [2, 3] });
});

test("prompts - composite functions appear only when given", () => {
  const plain = promptText(proposerPrompt({ type: "deduction", references: refs }, opts("full")));
  assert.doesNotMatch(plain, /g_0/);
  for (const variant of ["full", "compact"] as const) {
    const text = promptText(proposerPrompt({ type: "deduction", references: refs, composites: ["def g_0(a):\n    return a + 1"] }, opts(variant)));
    assert.ok(text.includes("```python\ndef g_0(a):\n    return a + 1\n```") && /call .*g_0/.test(text), variant);
  }
});

test("prompts - proposerOptions: a recipe's settings become the proposer's requirements", async () => {
  const { getRecipe } = await import("../../recipes/index.ts");
  const r = getRecipe("tiny");
  const o = proposerOptions(r);
  assert.deepEqual(
    [o.variant, o.chatTemplate, o.bannedWords, o.rejectMultipleFunctions, o.timeoutSeconds, o.nInputs, o.bannedErrorKeywords],
    [r.prompt.variant, r.prompt.chatTemplate, r.validation.bannedWords, r.validation.rejectMultipleFunctions, r.executor.timeoutSeconds, r.selfplay.inductionInputs, r.validation.bannedErrorKeywords],
  );
  // The error rule is shown only when the settings carry banned error keywords (the probe's do not).
  const error = (keywords?: string[]) =>
    promptText(proposerPrompt({ type: "error", references: refs }, proposerOptions({ ...r, validation: { ...r.validation, bannedErrorKeywords: keywords } })));
  assert.match(error(["raise"]), /do not use `raise`/);
  assert.doesNotMatch(error(undefined), /do not use `raise`/);
});
