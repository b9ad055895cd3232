import { test } from "node:test";
import assert from "node:assert/strict";
import { extractAnswer, extractErrorName, extractSolverProgram, extractSolverValue, findFences, formatOk } from "../../azr/answer.ts";

test("answer - format predicate F on the response that follows the pre-filled <think>", () => {
  const cases: [string, boolean][] = [
    ["plan</think><answer>x</answer>", true],
    ["plan</think>\n\n<answer>x</answer> trailing text", true],
    ["</think><answer></answer>", true],
    ["plan</think>text<answer>x</answer>", false], // only whitespace between
    ["plan<answer>x</answer>", false], // no </think>
    ["plan</think><answer>x", false], // unclosed answer
    ["plan</THINK><answer>x</answer>", false], // case-sensitive
    ["</think><answer>a\nb</answer>", true], // answer spans lines
  ];
  for (const [resp, want] of cases) assert.equal(formatOk(resp), want, JSON.stringify(resp));
});

test("answer - the text after the last <answer> up to the next </answer>, stripped", () => {
  const cases: [string, string][] = [
    ["</think><answer> a </answer>", "a"],
    ["<answer>1</answer> then <answer> 2 </answer>", "2"],
    ["<answer>open to the end  ", "open to the end"],
    ["no tags", ""],
    ["<answer>x</answer><answer>y", "y"],
  ];
  for (const [resp, want] of cases) assert.equal(extractAnswer(resp), want, JSON.stringify(resp));
});

test("answer - fences: languages case-insensitive, py/python3 are python, unterminated ignored", () => {
  const text = "```PY\na = 1\n```\n```python3\nb = 2\n```\n```\nc\n```\n```Input\n'x'\n```\n```output\nnever closed";
  assert.deepEqual(findFences(text), [
    { lang: "python", body: "a = 1\n" },
    { lang: "python", body: "b = 2\n" },
    { lang: "", body: "c\n" },
    { lang: "input", body: "'x'\n" },
  ]);
});

test("answer - solver values: last fence, then # Input: line, then tag, then whole answer", () => {
  const cases: [string, "input" | "output", string][] = [
    ["```input\n1\n```\n```input\n2\n```", "input", "2"],
    ["# Input: 'a', 3\n<input>9</input>", "input", "'a', 3"],
    ["<input>9</input>", "input", "9"],
    ["  [1, 2]  ", "input", "[1, 2]"],
    ["```output\n'x'\n```", "output", "'x'"],
    ["```input\n1\n```", "output", "```input\n1\n```"], // wrong fence kind: whole answer
    ["# Output: (1, 2)", "output", "(1, 2)"],
  ];
  for (const [ans, kind, want] of cases) assert.equal(extractSolverValue(ans, kind), want, JSON.stringify(ans));
});

test("answer - induction program is the last python or untagged fence; none → undefined", () => {
  assert.equal(extractSolverProgram("```python\ndef f(a): return 1\n```\n```\ndef f(a): return 2\n```"), "def f(a): return 2");
  assert.equal(extractSolverProgram("```py\ndef f(a): return 3\n```\n```output\n3\n```"), "def f(a): return 3");
  assert.equal(extractSolverProgram("def f(a): return a"), undefined);
  assert.equal(extractErrorName("```output\nKeyError: 'x'\n```"), "KeyError");
  assert.equal(extractErrorName("NoError"), "NoError");
});
