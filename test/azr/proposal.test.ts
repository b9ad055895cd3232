import { test } from "node:test";
import assert from "node:assert/strict";
import { callsAllComposites, compositeFunctions, parseInductionProposal, parseTripletProposal, prepareProgram } from "../../azr/proposal.ts";

const single = { rejectMultipleFunctions: true, entryFunction: "first" as const };
const many = { rejectMultipleFunctions: false, entryFunction: "last" as const };

test("proposal - triplet parsing: first python/untagged fence is the program, first input fence the input", () => {
  const cases: [string, string, ReturnType<typeof parseTripletProposal>][] = [
    ["plain", "```python\ndef f(a):\n    return a\n```\n```input\n'x'\n```", { ok: true, program: "def f(a):\n    return a", input: "'x'", imports: [], entryName: "f" }],
    // (fixed) an input fence placed first is not taken as the program
    ["input first", "```input\n1, 2\n```\n```python\ndef f(a, b):\n    return a + b\n```", { ok: true, program: "def f(a, b):\n    return a + b", input: "1, 2", imports: [], entryName: "f" }],
    ["untagged program, # Input line", "```\ndef f(a): return a\n```\n# Input: [1]", { ok: true, program: "def f(a): return a", input: "[1]", imports: [], entryName: "f" }],
    ["two inputs: the first wins", "```py\ndef f(a): return a\n```\n```input\n1\n```\n```input\n2\n```", { ok: true, program: "def f(a): return a", input: "1", imports: [], entryName: "f" }],
    ["empty input is allowed", "```python\ndef f(): return 1\n```\n```input\n\n```", { ok: true, program: "def f(): return 1", input: "", imports: [], entryName: "f" }],
    ["no program", "```input\n1\n```", { ok: false, reason: "no program", detail: "no ```python fence with the program" }],
    ["no input", "```python\ndef f(a): return a\n```", { ok: false, reason: "no input", detail: "no ```input fence (or `# Input:` line) with the input" }],
  ];
  for (const [name, text, want] of cases) assert.deepEqual(parseTripletProposal(text, single), want, name);
});

test("proposal - rejectTestCode: module-level calls of f, prints and asserts are refused; the same inside functions are not", () => {
  const opts = { ...single, rejectTestCode: true };
  const refused: [string, string][] = [
    ["def f(a):\n    return a\nprint(f(3))", "print(f(3))"],
    ["def f(a):\n    return a\nassert f(1) == 1", "assert f(1) == 1"],
    ["def f(a):\n    return a\nx = f(2)", "x = f(2)"],
    ["def f(a):\n    return a\nif __name__ == '__main__':\n    f(5)", "f(5)"],
    ["def solve(a):\n    return a\nsolve(1)", "solve(1)"], // the entry function under its own name, before renaming
  ];
  for (const [program, statement] of refused) {
    const r = prepareProgram(program, opts);
    assert.equal(!r.ok && r.reason, "test code", program);
    assert.ok(!r.ok && r.detail.includes(statement), !r.ok ? r.detail : "");
    assert.equal(prepareProgram(program, single).ok, true, "off (the default): accepted");
  }
  const allowed = [
    "def f(a):\n    print(a)\n    assert a\n    return f(a - 1) if a else 0", // inside the function
    "import math\nLIMIT = math.floor(2.5)\ndef f(a):\n    return a + LIMIT", // other module-level calls
    "class A:\n    def m(self):\n        print(1)\ndef f(a):\n    return a",
    "def f(a): return a.print(1)", // an attribute named print, one-line def
  ];
  for (const program of allowed) assert.equal(prepareProgram(program, { ...many, rejectTestCode: true }).ok, true, program);
});

test("proposal - function count and entry-function rules", () => {
  const two = "def helper(x):\n    return x * 2\ndef main(a):\n    return helper(a)";
  const r1 = prepareProgram(two, single);
  assert.equal(r1.ok, false);
  assert.equal(!r1.ok && r1.reason, "multiple functions");
  const nested = "def g(a):\n    def h(b):\n        return b\n    return h(a)";
  assert.equal(!prepareProgram(nested, single).ok && "rejected", "rejected", "nested defs count");
  const method = "class A:\n    def m(self):\n        return 1\ndef f(a):\n    return A().m()";
  assert.equal(prepareProgram(method, single).ok, false, "methods count");
  // rename: first def (Qwen2.5 recipes) vs last def (Llama / Qwen3)
  const renamedLast = prepareProgram(two, many);
  assert.deepEqual(renamedLast, { ok: true, program: "def helper(x):\n    return x * 2\ndef f(a):\n    return helper(a)", imports: [], entryName: "main" });
  const renamedFirst = prepareProgram("def solve(a):\n    return 'solve ' + str(a)", single);
  assert.deepEqual(renamedFirst, { ok: true, program: "def f(a):\n    return 'solve ' + str(a)", imports: [], entryName: "solve" });
  // a def named f anywhere wins, nothing is renamed
  assert.deepEqual(prepareProgram("def g(a):\n    def f(b):\n        return b\n    return f(a)", many), { ok: true, program: "def g(a):\n    def f(b):\n        return b\n    return f(a)", imports: [], entryName: "f" });
  // the entry cannot become f when f already names something else: the two would merge
  const clash = prepareProgram("def helper(f):\n    return f + 1\ndef main(a):\n    f = helper(a)\n    return f * 2", many);
  assert.equal(!clash.ok && clash.reason, "name clash");
  assert.match(!clash.ok ? clash.detail : "", /entry function main cannot be renamed to f: the program already uses the name f/);
  // an attribute or keyword named f, or f inside a plain string, is no clash
  assert.equal(prepareProgram("def helper(x):\n    return x.f\ndef main(a):\n    return dict(f=a), 'f'", many).ok, true);
  const noDef = prepareProgram("x = 1", single);
  assert.equal(!noDef.ok && noDef.reason, "no function");
  const withImports = prepareProgram("import math\nfrom collections import deque\ndef f(a):\n    return math.sqrt(a)", single);
  assert.deepEqual(withImports.ok && withImports.imports, ["import math", "from collections import deque"]);
  const broken = prepareProgram("def f(a):\n    return 'oops", single);
  assert.equal(!broken.ok && broken.reason, "syntax");
});

test("proposal - induction: last N inputs, message fallbacks, duplicate inputs", () => {
  const inputs = (xs: string[]) => xs.map((x) => "```input\n" + x + "\n```").join("\n");
  const opts = { nInputs: 3, allowDuplicateInputs: false };
  const cases: [string, string, unknown][] = [
    ["exact", inputs(["1", "2", "3"]) + "\n```message\nadds one\n```", { ok: true, inputs: ["1", "2", "3"], message: "adds one" }],
    ["keeps the last N", inputs(["0", "1", "2", "3"]) + "\n<message>tag</message>", { ok: true, inputs: ["1", "2", "3"], message: "tag" }],
    ["# Message line", inputs(["'a'", "'b'", "'c'"]) + "\n# Message: a hint", { ok: true, inputs: ["'a'", "'b'", "'c'"], message: "a hint" }],
    ["too few", inputs(["1", "2"]) + "\n```message\nm\n```", { ok: false, reason: "too few inputs", detail: "found 2 ```input fences, need 3" }],
    ["no message", inputs(["1", "2", "3"]), { ok: false, reason: "no message", detail: "no ```message fence, <message> tag or `# Message:` line" }],
    ["duplicates by value (1 == 1.0)", inputs(["1", "2", "1.0"]) + "\n```message\nm\n```", { ok: false, reason: "duplicate inputs", detail: "inputs 0 and 2 are the same argument list: 1.0" }],
    ["unparsable inputs are left to the executor", inputs(["x", "x", "3"]) + "\n```message\nm\n```", { ok: true, inputs: ["x", "x", "3"], message: "m" }],
  ];
  for (const [name, text, want] of cases) assert.deepEqual(parseInductionProposal(text, opts), want, name);
  assert.equal(parseInductionProposal(inputs(["1", "1", "2"]) + "```message\nm\n```", { nInputs: 3, allowDuplicateInputs: true }).ok, true, "reference behaviour");
});

test("proposal - composite functions (optional): earlier programs become g_i, and f must call each", () => {
  assert.deepEqual(compositeFunctions(["def f(a):\n    return f(a - 1) if a else 0", "def f(s):\n    return s[::-1]"]), [
    "def g_0(a):\n    return g_0(a - 1) if a else 0",
    "def g_1(s):\n    return s[::-1]",
  ]);
  const cases: [string, number, boolean][] = [
    ["def f(x):\n    y = g_0(x)\n    return g_1(str(y))", 2, true],
    ["def f(x):\n    return g_0(x)", 2, false],
    ["def f(x):\n    # g_1(x)\n    return g_0(x), 'g_1(x)'", 2, false],
    ["def f(x):\n    return obj.g_0(x)", 1, false],
    ["def f(x):\n    return x", 0, true],
  ];
  for (const [program, c, want] of cases) assert.equal(callsAllComposites(program, c), want, program);
});
