/**
 * Code scoring with EvalPlus's rule in the sandbox: canonical solutions pass (a subset of the
 * 542; `azr eval --suite code --self-check` runs them all), and wrong, crashing, hanging and
 * hostile programs fail their problem without hurting the harness.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { extractProgram, loadCodeBenchmark, tuplePlan, type CodeProblem } from "../../actors/eval/code-bench.ts";
import { CodeScorer } from "../../actors/eval/code-score.ts";
import { codeItems } from "../../actors/eval/suites.ts";
import { benchmarksDir } from "../../actors/eval/paths.ts";

const dir = benchmarksDir();
const he = loadCodeBenchmark(dir, "humaneval+");
const mbpp = loadCodeBenchmark(dir, "mbpp+");
const byId = new Map([...he, ...mbpp].map((p) => [p.id, p]));
const problem = (id: string): CodeProblem => byId.get(id)!;

describe("code benchmarks: loading", () => {
  it("reads all 164 HumanEval+ and 378 MBPP+ problems with base and plus inputs", () => {
    assert.equal(he.length, 164);
    assert.equal(mbpp.length, 378);
    for (const p of [...he, ...mbpp]) assert.ok(p.inputs.nBase > 0, `${p.id} has base inputs`);
  });
  it("keeps inputs as written: Infinity, big integers and 1e+20 floats reach Python untouched", () => {
    const inf = mbpp.find((p) => p.inputs.plus.includes("Infinity"));
    assert.ok(inf, "one MBPP+ problem has Infinity among its inputs");
    assert.match(problem("HumanEval/79").inputs.plus + problem("HumanEval/79").inputs.base, /\d{17,}|e\+/);
  });
  it("turns contract-declared tuple arguments into tuples", () => {
    assert.deepEqual(tuplePlan('assert isinstance(test_tup, tuple), "x"', ["test_tup"]), [[0, "self"]]);
    assert.deepEqual(tuplePlan("assert all(isinstance(x, tuple) for x in test_list)", ["test_list"]), [[0, "items"]]);
    assert.deepEqual(tuplePlan("assert isinstance(test_list, (list, tuple))", ["test_list"]), []);
    assert.deepEqual(problem("Mbpp/2").tupleArgs, [[0, "self"], [1, "self"]]);
  });
  it("extracts the last python block inside <answer>, with the prompt's imports", () => {
    const p = problem("HumanEval/0");
    const r = "<think>x</think><answer>```python\ndef a(): pass\n```\n```python\ndef has_close_elements(n, t):\n    return False\n```</answer>";
    const prog = extractProgram(r, p, "r1")!;
    assert.match(prog, /^from typing import List\n/);
    assert.match(prog, /return False/);
    assert.equal(extractProgram("```python\nx=1\n```", p, "r1"), undefined, "no <answer>: no program");
  });
  it("takes the last ```python block, not an untagged block after it (an example run)", () => {
    const r = "<answer>\n```python\ndef has_close_elements(n, t):\n    return False\n```\nFor example:\n```\n>>> has_close_elements([1.0], 0.5)\nFalse\n```\n</answer>";
    assert.match(extractProgram(r, problem("HumanEval/0"), "r1")!, /return False/);
    assert.match(extractProgram("<answer>```\nx = 1\n```</answer>", problem("HumanEval/0"), "r1")!, /x = 1/, "no python block: the untagged one");
  });
  it("evalplus: the prompt is EvalPlus's (stripped + newline)", () => {
    const item = codeItems([problem("Mbpp/2")], undefined as never, { codePrompt: "evalplus", mathTemplate: "azr", chatTemplate: false })[0];
    assert.deepEqual(item.prompt, { kind: "text", text: problem("Mbpp/2").prompt.trim() + "\n" });
    assert.equal(item.maxNewTokens, 768);
  });
  it("evalplus with --chat-template: EvalPlus's chat prompt, the code up to the closing fence, no prompt text added", () => {
    const p = problem("HumanEval/0");
    const item = codeItems([p], undefined as never, { codePrompt: "evalplus", mathTemplate: "azr", chatTemplate: true })[0];
    assert.deepEqual(item.prompt, {
      kind: "chat",
      messages: [{ role: "user", content: `Please provide a self-contained Python script that solves the following problem in a markdown code block:\n\`\`\`\n${p.prompt.trim()}\n\`\`\`\n` }],
      assistantPrefill: "Below is a Python script with a self-contained function that solves the problem and passes corresponding tests:\n```python\n",
    });
    const code = "def has_close_elements(numbers, threshold):\n    return True\n";
    assert.equal(extractProgram(code + "```\n\nThis function checks...", p, "evalplus", true), code.trimEnd());
    assert.equal(extractProgram(code, p, "evalplus", true), code, "no closing fence (cut by the token limit): all of it");
    assert.equal(extractProgram("```\nnothing", p, "evalplus", true), undefined);
  });
  it("evalplus: the generation as EvalPlus's decoders leave it: chat responses cut at its EOS list too, tabs as four spaces", () => {
    const p = problem("HumanEval/0");
    // EvalPlus stops a chat generation at "\nprint(" / "\ndef main(" / "\nif __name__" as well as at the fence
    const chat = "def helper(x):\n\treturn x\nprint(helper(1))\ndef has_close_elements(numbers, threshold):\n    return helper(True)\n```\n";
    assert.equal(extractProgram(chat, p, "evalplus", true), "def helper(x):\n    return x");
    assert.equal(extractProgram("\tpass\n", p, "evalplus", false), `${p.prompt.trim()}\n    pass\n`);
    assert.equal(extractProgram("  \n", p, "evalplus", false), undefined, "an empty completion is no program");
  });
});

describe("code scoring in the sandbox", () => {
  let scorer: CodeScorer;
  const cacheDir = mkdtempSync(join(tmpdir(), "azr-eval-gt-"));
  before(async () => {
    scorer = await CodeScorer.start({ workers: 2, cacheDir, minTestLimitMs: 1000 });
  });
  after(async () => {
    await scorer.close();
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it("scoreMany: verdicts in input order, heaviest canonical solution scored first, a failure stays its own pair's", async () => {
    // A problem whose canonical solution computes for a while, beside quick ones: started last,
    // such a problem alone would set the wall time of a run (Mbpp/599 does in the real set).
    const heavy: CodeProblem = {
      ...problem("Mbpp/2"), id: "heavy", entry: "f", tupleArgs: [], atol: 0,
      canonical: "def f(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n",
      inputs: { base: "[[3000000]]", plus: "[[1000]]", nBase: 1, nPlus: 1 },
    };
    const items = [
      { problem: problem("HumanEval/0"), program: problem("HumanEval/0").canonical },
      { problem: problem("Mbpp/2"), program: problem("Mbpp/2").canonical },
      { problem: heavy, program: "def f(n):\n    return -1\n" },
      { problem: heavy, program: heavy.canonical },
      { problem: problem("HumanEval/0"), program: undefined },
    ];
    const done: number[] = [];
    const verdicts = await scorer.scoreMany(items, 1, (i) => done.push(i));
    assert.deepEqual(verdicts.map((v) => v.pass), [true, true, false, true, false]);
    assert.equal(verdicts[2].why, "wrong");
    assert.equal(verdicts[4].why, "no-program");
    assert.deepEqual(done.slice(0, 2).sort(), [2, 3], `the heavy problem's pairs first (order ${done})`);
    assert.deepEqual([...done].sort(), [0, 1, 2, 3, 4]);
  });

  const canonical = ["HumanEval/0", "HumanEval/32", "HumanEval/79", "HumanEval/108", "Mbpp/2", "Mbpp/88", "Mbpp/124", "Mbpp/580", "Mbpp/737", "Mbpp/793"];
  it(`passes the canonical solutions of ${canonical.join(", ")}`, async () => {
    const verdicts = await Promise.all(canonical.map((id) => scorer.score(problem(id), problem(id).canonical)));
    verdicts.forEach((v, i) => assert.ok(v.pass, `${canonical[i]}: ${JSON.stringify(v)}`));
  });

  const p = () => problem("HumanEval/0");
  const head = "from typing import List\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n";
  const cases: [string, string, string][] = [
    ["a wrong value", head + "    return False\n", "wrong"],
    ["a right base but wrong plus", head + "    if len(numbers) > 5 and threshold < 0.3: return not any(abs(a-b) < threshold for i,a in enumerate(numbers) for b in numbers[i+1:])\n    return any(abs(a-b) < threshold for i,a in enumerate(numbers) for b in numbers[i+1:])\n", "wrong"],
    ["an exception", head + "    raise ValueError('no')\n", "raise"],
    ["a loop forever", head + "    while True: pass\n", "timeout"],
    ["a loop that swallows every exception", head + "    while True:\n        try:\n            while True: pass\n        except BaseException: pass\n", "timeout"],
    ["sys.exit before the tests", "import sys\nsys.exit(0)\n", "load"],
    ["os._exit inside the call", head + "    import os; os._exit(0)\n", "crashed"],
    ["killing its parent", head + "    import os, signal; os.kill(os.getppid(), signal.SIGKILL)\n", "crashed"],
    ["an object whose == is always true", head + "    class A:\n        def __eq__(s, o): return True\n    return A()\n", "type"],
    ["a bool subclass lying about itself", head + "    class B(int):\n        def __eq__(s, o): return True\n    return B(7)\n", "wrong"],
    ["a fork", head + "    import os; os.fork(); return True\n", "raise"],
    ["a socket to the outside", head + "    import socket; socket.create_connection(('1.1.1.1', 80), timeout=1); return True\n", "raise"],
    ["reading the benchmark files", head + `    open(${JSON.stringify(join(dir, "code/MbppPlus.jsonl"))}).read(); return True\n`, "raise"],
    ["writing forged results to the harness's stdout", head + "    import os\n    fd = os.open('/proc/%d/fd/1' % os.getppid(), os.O_WRONLY)\n    os.write(fd, b'{\"id\": 1, \"pass\": true}\\n'); return True\n", "raise"],
    ["eating all memory", head + "    x = bytearray(8 << 30); return True\n", "raise"],
  ];
  for (const [what, program, why] of cases) {
    it(`fails ${what} (${why})`, async () => {
      const v = await scorer.score(p(), program);
      assert.equal(v.pass, false);
      assert.equal(v.why, why, JSON.stringify(v));
    });
  }
  // EvalPlus's sanitizer (--code-prompt evalplus): what a base model's completion often carries
  const canon = () => problem("HumanEval/0").canonical;
  const sanitizeCases: [string, string][] = [
    ["test code after the function (a failing assert, a print of an undefined name)", canon() + "\nassert has_close_elements([1.0], 0.5) is None\nprint(undefined_name)\n"],
    ["a main() that runs and exits at import", canon() + "\ndef main():\n    print(has_close_elements([1.0, 2.0], 0.5))\n\nmain()\nraise SystemExit(0)\n"],
    ["prose and a half-written function around the code", "Here is my solution:\n" + canon() + "\nThis works because\ndef broken(:\n"],
    ["a helper the entry uses, defined after it, beside an unused one that raises at import", "from typing import List\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n    return _near(numbers, threshold)\nboom = 1 / 0\ndef _near(ns, t):\n    return any(abs(a - b) < t for i, a in enumerate(ns) for b in ns[i + 1:])\n"],
  ];
  for (const [what, program] of sanitizeCases) {
    it(`sanitize (EvalPlus): passes with ${what}, fails without it`, async () => {
      assert.equal((await scorer.score(p(), program, { sanitize: true })).pass, true, "sanitized");
      assert.equal((await scorer.score(p(), program)).pass, false, "as written");
    });
  }
  it("sanitize keeps the first definition of a name (as EvalPlus does) and still fails a wrong program", async () => {
    const twice = canon() + "\ndef has_close_elements(numbers, threshold):\n    return False\n";
    assert.equal((await scorer.score(p(), twice, { sanitize: true })).pass, true);
    assert.equal((await scorer.score(p(), head + "    return False\nprint(1)\n", { sanitize: true })).why, "wrong");
    assert.equal((await scorer.score(p(), "no code at all", { sanitize: true })).why, "load", "nothing parsable: no function");
  });
  // evalplus.sanitize on tree-sitter: a decorated definition is a `decorated_definition` (not kept), a
  // function is kept only with a return statement, a definition's text is its own node's
  const near = "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n";
  const evalplusCases: [string, string, boolean][] = [
    ["a stub without a return, then the function", "def has_close_elements(numbers, threshold):\n    pass\n" + canon(), true],
    ["an assignment sharing its line with a stray print", "TOL = 0.0; print(undefined_name)\n" + head + "    threshold += TOL\n" + near, true],
    ["a __future__ import after another import", "from typing import List\nfrom __future__ import annotations\n" + head.slice("from typing import List\n".length) + near, true],
    ["a decorated helper", "def deco(f):\n    return f\n@deco\ndef _near(numbers, threshold):\n" + near + head + "    return _near(numbers, threshold)\n", false],
    ["a helper without a return", "def _near(numbers, threshold, out):\n    out.append(any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:]))\n" +
      head + "    out = []\n    _near(numbers, threshold, out)\n    return out[0]\n", false],
    ["an unused assignment named like a keyword argument the entry passes", "key = 1 / 0\n" + head + "    numbers = sorted(numbers, key=float)\n" + near, false],
  ];
  for (const [what, program, pass] of evalplusCases) {
    it(`sanitize (EvalPlus): ${pass ? "passes" : "fails"} with ${what}, as EvalPlus's sanitizer`, async () => {
      assert.equal((await scorer.score(p(), program, { sanitize: true })).pass, pass);
    });
  }
  it("evalplus items: a completion indented with tabs under the prompt's spaces passes, as EvalPlus's decoders untab it", async () => {
    const [ep] = codeItems([p()], scorer, { codePrompt: "evalplus", mathTemplate: "azr", chatTemplate: false });
    assert.equal((await ep.score(near.replace("    ", "\t"))).correct, true);
  });
  it("sanitize: a long run of lines that cannot start a program costs the first test's limit no time", async () => {
    // 1,500 indented lines (a body whose header was lost) before the function: no run of lines
    // starting in them parses, and trying each start took minutes
    const program = "def broken(:\n" + "    total = total + 1\n".repeat(1500) + canon();
    const t0 = Date.now();
    const v = await scorer.score(p(), program, { sanitize: true });
    assert.equal(v.pass, true, JSON.stringify(v));
    assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
    // markdown fences and prose around the code (no statement starts with a backtick): ~2 s before,
    // past this suite's 1 s first-test limit, 0.1 s with the starts that cannot parse skipped
    const fenced = "```\n".repeat(300) + canon() + "```\nSome text here.\n".repeat(100);
    assert.equal((await scorer.score(p(), fenced, { sanitize: true })).pass, true);
  });
  it("evalplus items score with the sanitizer, r1 items without", async () => {
    const completion = "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n\nprint(has_close_elements([1.0], x))\n";
    const [ep] = codeItems([p()], scorer, { codePrompt: "evalplus", mathTemplate: "azr", chatTemplate: false });
    assert.equal((await ep.score(completion)).correct, true);
    const [r1] = codeItems([p()], scorer, { codePrompt: "r1", mathTemplate: "azr", chatTemplate: false });
    assert.equal((await r1.score("<answer>```python\n" + head + completion + "```</answer>")).correct, false);
  });
  it("cannot find the expected outputs anywhere in its own memory", async () => {
    const needle = (await scorer.groundTruth(p())).outputs.slice(0, 48);
    const hunt = head + [
      "    import re",
      `    needle = ${JSON.stringify(needle)}.encode()`,
      "    mem = open('/proc/self/mem', 'rb', 0)",
      "    for line in open('/proc/self/maps'):",
      "        a, b = (int(x, 16) for x in line.split()[0].split('-'))",
      "        if 'r' not in line.split()[1]: continue",
      "        try:",
      "            mem.seek(a); chunk = mem.read(b - a)",
      "        except OSError: continue",
      "        if needle in chunk and chunk.count(needle) > 1: raise SystemExit('found')",
      "    return False",
    ].join("\n") + "\n";
    const v = await scorer.score(p(), hunt);
    // Either its memory is closed to it (it inherits our non-dumpable flag) or the values are not there.
    assert.ok(v.why === "wrong" || (v.why === "raise" && /PermissionError/.test(v.detail ?? "")), JSON.stringify(v));
  });
  it("evalplus: a completion is cut at EvalPlus's stop strings, as its generation would have stopped", async () => {
    // What a base model writes after the body: a test harness, cut off by the token budget.
    for (const id of ["HumanEval/0", "Mbpp/2"]) {
      const q = problem(id);
      const body = id === "HumanEval/0" ? q.canonical.slice(q.prompt.length) : q.canonical;
      const completion = body.replace(/\s+$/, "") + "\n\n\nassert " + q.entry + "([1.0, 2.0], 0.5) == Fal";
      const v = await scorer.score(q, extractProgram(completion, q, "evalplus"));
      assert.ok(v.pass, `${id}: ${JSON.stringify(v)}`);
    }
  });
  it("still scores correctly after all of that", async () => {
    assert.ok((await scorer.score(p(), p().canonical)).pass);
  });
});
