/**
 * azr-spec §5.3 and §6.2, one rule per test, through the real sandboxed executor: each verdict's
 * reason string and message.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { abductionTask, deductionTask, inductionTask } from "../../actors/code-executor/index.ts";
import { checkAll, triplet, useExecutor, validateAll } from "./helpers.ts";

const x = useExecutor({ limits: { timeoutMs: 2000, memoryMB: 512 } });

const ID = "def f(a):\n    return a";

test("rules - a valid proposal returns the repr of f(input)", async () => {
  const [v] = await validateAll(x.ex, [triplet("def f(a, b=2):\n    return {'s': a * b, 't': (a, b)}", "3, b=4")]);
  assert.equal(v.reason, "valid");
  assert.deepEqual(v.outputs, ["{'s': 12, 't': (3, 4)}"]);
});

test("rules - check 1: a program that does not parse is a syntax error", async () => {
  const [v] = await validateAll(x.ex, [triplet("def f(a):\n    return a +", "1")]);
  assert.equal(v.reason, "syntax error");
  assert.match(v.message, /SyntaxError: invalid syntax \(line 2\)/);
});

test("rules - check 1: inputs must be literal argument lists (no calls, names, operators, smuggled code)", async () => {
  const inputs = ["dict(a=1)", "x", "1 + 2", "0) or (True", "*[1, 2]", "[i for i in range(3)]", "__import__('os')"];
  const vs = await validateAll(x.ex, inputs.map((i) => triplet(ID, i)));
  for (const [i, v] of vs.entries()) assert.equal(v.reason, "input not a literal", `${inputs[i]} → ${v.reason}: ${v.message}`);
});

test("rules - check 1: literal forms Python prints are accepted (inf, nan, set(), bytes, nested)", async () => {
  const vs = await validateAll(x.ex, [triplet(ID, "-inf"), triplet(ID, "set()"), triplet(ID, "b'\\x00a'"), triplet(ID, "{(1, 2): [{'a'}, None, True]}")]);
  assert.deepEqual(vs.map((v) => v.outputs?.[0]), ["-inf", "set()", "b'\\x00a'", "{(1, 2): [{'a'}, None, True]}"]);
});

test("rules - check 2: banned imports, dotted entries and literal dynamic imports", async () => {
  const cases: [string, string][] = [
    ["import random\ndef f(a):\n    return a", "random"],
    ["from collections import defaultdict\nimport datetime as d\ndef f(a):\n    return a", "datetime"],
    ["import os.path\ndef f(a):\n    return a", "os.path"],
    ["from os import path\ndef f(a):\n    return a", "os.path"],
    ["import os\ndef f(a):\n    return os.path.join('a', a)", "os.path"],
    ["import sys\ndef f(a):\n    sys.exit(0)", "sys.exit"],
    ["def f(a):\n    return __import__('time').time()", "time"],
    ["import importlib\ndef f(a):\n    return importlib.import_module('hashlib')", "hashlib"],
    ["def f(a):\n    from threading import Thread\n    return a", "threading"],
  ];
  const vs = await validateAll(x.ex, cases.map(([p]) => triplet(p, "'x'")));
  for (const [i, v] of vs.entries()) {
    assert.equal(v.reason, "banned import", cases[i][0]);
    assert.equal(v.message, `banned import ${cases[i][1]}`);
  }
  // A word that only appears in a name or a string is not an import.
  const [ok] = await validateAll(x.ex, [triplet("def f(a):\n    time = 'random'\n    return time", "1")]);
  assert.equal(ok.reason, "valid");
});

test("rules - check 3: f must exist and accept the input's arity", async () => {
  const vs = await validateAll(x.ex, [
    triplet("def g(a):\n    return a", "1"),
    triplet("f = 3", "1"),
    triplet("def f(a, b):\n    return a", "1"),
    triplet("def f(a):\n    return a", "1, 2"),
    triplet("def f(a):\n    return a", "b=2"),
  ]);
  assert.deepEqual(vs.map((v) => v.reason), ["no function f", "no function f", "wrong arity", "wrong arity", "wrong arity"]);
  assert.match(vs[2].message, /missing required arguments: b/);
  assert.match(vs[3].message, /takes 1 positional arguments but 2 were given/);
  assert.match(vs[4].message, /unexpected keyword argument 'b'/);
});

test("rules - check 4: any exception invalidates, with its type and message (SystemExit and StopIteration too)", async () => {
  const vs = await validateAll(x.ex, [
    triplet("def f(a):\n    return a / 0", "1"),
    triplet("def f(a):\n    raise SystemExit(3)", "1"),
    triplet("def f(a):\n    raise StopIteration('done')", "1"),
    triplet("def f(a):\n    raise Exception('no error here')", "1"),
    triplet("x = [][1]\ndef f(a):\n    return a", "1"),
  ]);
  assert.deepEqual(vs.map((v) => v.reason), ["exception", "exception", "exception", "exception", "exception"]);
  assert.deepEqual(vs.map((v) => v.message), [
    "ZeroDivisionError: division by zero", "SystemExit: 3", "StopIteration: done", "Exception: no error here", "IndexError: list index out of range",
  ]);
});

test("rules - check 5: timeout (wall clock, parent-enforced) and memory", async () => {
  const vs = await validateAll(x.ex, [
    triplet("def f(a):\n    while True:\n        pass", "1"),
    triplet("def f(a):\n    return len(bytearray(a))", "4 * 1024 ** 3"),
    triplet("def f(a):\n    x = [0] * a\n    return len(x)", "10 ** 10"),
  ]);
  assert.equal(vs[0].reason, "timeout");
  assert.equal(vs[0].message, "did not finish within 2000 ms");
  assert.equal(vs[1].reason, "input not a literal"); // an operator in the input: rejected before running
  assert.equal(vs[2].reason, "input not a literal");
  const [m] = await validateAll(x.ex, [triplet("def f(a):\n    x = [0] * a\n    return len(x)", "10000000000")]);
  assert.equal(m.reason, "memory");
});

test("rules - check 6: two calls on fresh arguments must agree", async () => {
  const vs = await validateAll(x.ex, [
    triplet("keep = []\ndef f(a):\n    keep.append(object())\n    return id(keep[-1])", "1"),
    triplet("n = [0]\ndef f(a):\n    n[0] += 1\n    return n[0]", "1"),
    triplet("def f(a):\n    a.append(1)\n    return a", "[]"), // fresh arguments: both calls see []
    // an address read from an object freed before the call returns: the second call's lands elsewhere
    triplet("def f(a):\n    return hash(object())", "1"),
    triplet("def f(a):\n    return id(object()) + a", "1"),
  ]);
  assert.deepEqual(vs.slice(3).map((v) => v.reason), ["non-deterministic", "non-deterministic"]);
  assert.equal(vs[0].reason, "non-deterministic");
  assert.equal(vs[1].reason, "non-deterministic");
  assert.equal(vs[1].message, "two calls on the same input returned different values");
  assert.equal(vs[2].reason, "valid");
  assert.deepEqual(vs[2].outputs, ["[1]"]);
});

test("rules - check 7: outputs must be literals of exact builtin types within 400 characters", async () => {
  const vs = await validateAll(x.ex, [
    triplet("def f(a):\n    return object()", "1"),
    triplet("def f(a):\n    return (i for i in a)", "[1]"),
    triplet("class S(str):\n    pass\ndef f(a):\n    return S(a)", "'x'"),
    triplet("def f(a):\n    l = [a]\n    l.append(l)\n    return l", "1"),
    triplet("def f(a):\n    return 'x' * a", "401"),
    triplet("def f(a):\n    return 'x' * a", "398"),
    triplet("def f(a):\n    return 10 ** a", "5000"),
    triplet("def f(a):\n    return frozenset(a)", "[1]"),
  ]);
  assert.deepEqual(vs.map((v) => v.reason), [
    "output not a literal", "output not a literal", "output not a literal", "output not a literal",
    "output too long", "valid", "output too long", "output not a literal",
  ]);
  assert.match(vs[2].message, /returned a S/);
  assert.match(vs[4].message, /403 characters \(limit 400\)/);
});

test("rules - induction proposals: every input must pass; the ban list is not re-applied", async () => {
  const vs = await validateAll(x.ex, [
    { type: "induction", program: "import random\ndef f(a):\n    return a * 2", inputs: ["1", "'a'", "[1]"] },
    { type: "induction", program: "def f(a):\n    return 10 // a", inputs: ["1", "2", "0"] },
    { type: "induction", program: ID, inputs: ["1", "x"] },
  ]);
  assert.equal(vs[0].reason, "valid");
  assert.deepEqual(vs[0].outputs, ["2", "'aa'", "[1, 1]"]);
  assert.equal(vs[1].reason, "exception");
  assert.match(vs[1].message, /^input 3: |ZeroDivisionError/);
  assert.equal(vs[2].reason, "input not a literal");
  assert.match(vs[2].message, /^input 2: /);
});

test("rules - induction proposals: each input runs in a fresh task context with its own time budget", async () => {
  const vs = await validateAll(x.ex, [
    // Module state must not carry from one input to the next (fresh context per call, §5.3 check 4).
    { type: "induction", program: "seen = set()\ndef f(a):\n    seen.add(a)\n    return len(seen)", inputs: ["1", "2", "3"] },
    // 0.8 s per input (two calls), 3.2 s in all: within the 2 s timeout per execution (§5.4).
    { type: "induction", program: "import time\ndef f(a):\n    time.sleep(0.4)\n    return a", inputs: ["1", "2", "3", "4"] },
  ]);
  assert.equal(vs[0].reason, "valid");
  assert.deepEqual(vs[0].outputs, ["1", "1", "1"]);
  assert.equal(vs[1].reason, "valid", vs[1].message);
  assert.deepEqual(vs[1].outputs, ["1", "2", "3", "4"]);
});

test("rules - induction proposals: the inputs run in order and stop at the first failure, so a program that loops costs one time limit", async () => {
  const started = performance.now();
  const [v] = await validateAll(x.ex, [{ type: "induction", program: "def f(a):\n    while True:\n        pass", inputs: ["1", "2", "3", "4"] }]);
  const ms = performance.now() - started;
  assert.equal(v.reason, "timeout");
  assert.match(v.message, /^input 1: /, "the first input in order is the verdict, as before");
  assert.ok(ms < 2 * 2000, `${Math.round(ms)} ms: inputs 2–4 were not run (all four at once take two 2 s limits on two workers)`);
});

test("rules - a batch survives an input or answer nested 10^5 deep: 'not a literal', not a stack overflow", async () => {
  const deep = "[".repeat(100_000) + "]".repeat(100_000);
  const vs = await validateAll(x.ex, [triplet(ID, deep), triplet(ID, "1")]);
  assert.deepEqual(vs.map((v) => v.reason), ["input not a literal", "valid"]);
  assert.match(vs[0].message, /nested deeper than 200/);
  const t = deductionTask({ program: ID, input: "1", output: "1" });
  const as = await checkAll(x.ex, [{ task: t, answer: deep }, { task: abductionTask({ program: ID, input: "1", output: "1" }), answer: deep }, { task: t, answer: "1" }]);
  assert.deepEqual(as.map((v) => v.reason), ["answer not a literal", "answer not a literal", "correct"]);
});

test("rules - check 4: an exception whose __str__ raises still reports its own type", async () => {
  const [v] = await validateAll(x.ex, [triplet("class Oops(Exception):\n    def __str__(self):\n        raise ValueError\ndef f(a):\n    raise Oops()", "1")]);
  assert.equal(v.reason, "exception");
  assert.equal(v.message, "Oops: <unprintable exception>");
});

test("answers - deduction compares parsed literals by Python equality, never by evaluating the answer", async () => {
  const t = deductionTask({ program: ID, input: "1", output: "{'a': [1, 2.0], 'b': {3, 4}}" });
  const vs = await checkAll(x.ex, [
    { task: t, answer: "{'b': {4, 3}, 'a': [1.0, 2]}" },
    { task: t, answer: "{'a': (1, 2), 'b': {3, 4}}" },
    { task: t, answer: "0) or (True" },
    { task: t, answer: "type('A', (), {'__eq__': lambda s, o: True})()" },
  ]);
  assert.deepEqual(vs.map((v) => [v.reason, v.score]), [["correct", 1], ["mismatch", 0], ["answer not a literal", 0], ["answer not a literal", 0]]);
});

test("answers - abduction runs f(answer) in the sandbox; any input that reproduces the output is correct", async () => {
  const t = abductionTask({ program: "def f(a, b):\n    return a % b", input: "7, 3", output: "1" });
  const vs = await checkAll(x.ex, [
    { task: t, answer: "7, 3" },
    { task: t, answer: "10, 9" },
    { task: t, answer: "8, 3" },
    { task: t, answer: "1, 0" },
    { task: t, answer: "print('hi')" },
  ]);
  assert.deepEqual(vs.map((v) => v.reason), ["correct", "correct", "mismatch", "exception", "answer not a literal"]);
});

test("answers - induction runs the answered program on the hidden inputs; binary, accuracy and any", async () => {
  const t = inductionTask({ program: "def f(a):\n    return a * 2", inputs: ["1", "2", "3", "4", "5", "0"], outputs: ["2", "4", "6", "8", "10", "0"], message: "doubles", imports: [] });
  assert.deepEqual(t.hidden.map((h) => h.input), ["4", "5", "0"]);
  const right = "def f(a):\n    return a + a";
  const partial = "def f(a):\n    return 8 if a == 4 else 10 // a * 5";
  const banned = "import random\ndef f(a):\n    return a * 2";
  const b = await checkAll(x.ex, [{ task: t, answer: right }, { task: t, answer: partial }, { task: t, answer: banned }]);
  assert.deepEqual(b.map((v) => [v.reason, v.score]), [["correct", 1], ["mismatch", 0], ["banned import", 0]]);
  const acc = await checkAll(x.ex, [{ task: t, answer: partial }], "accuracy");
  assert.equal(acc[0].score, 2 / 3);
  const any = await checkAll(x.ex, [{ task: t, answer: partial }], "any");
  assert.equal(any[0].score, 1);
});

test("answers - induction: each hidden input is its own task (no shared state; one timeout costs only its pair)", async () => {
  const t = inductionTask({ program: "def f(a):\n    return a * 2", inputs: ["1", "2", "3", "4", "5", "0"], outputs: ["2", "4", "6", "8", "10", "0"], message: "doubles", imports: [] });
  const hang = "def f(a):\n    while a == 5:\n        pass\n    return a * 2";
  const exits = "def f(a):\n    if a == 5:\n        raise SystemExit\n    return a * 2";
  const acc = await checkAll(x.ex, [{ task: t, answer: hang }, { task: t, answer: exits }], "accuracy");
  assert.deepEqual(acc.map((v) => v.score), [2 / 3, 2 / 3]);
  assert.match(acc[0].message, /^2\/3 hidden pairs reproduced; hidden input 2: timeout: /);
  // A counter in the answer restarts on every hidden input: 8 on the first, 8 again on the second.
  const counter = "n = [6]\ndef f(a):\n    n[0] += 2\n    return n[0]";
  const [c] = await checkAll(x.ex, [{ task: t, answer: counter }], "accuracy");
  assert.equal(c.score, 1 / 3);
});

test("answers - induction, binary: the pairs run in turn and stop at the first failure, so a program that loops costs one time limit", async () => {
  const t = inductionTask({ program: "def f(a):\n    return a * 2", inputs: ["1", "2", "3", "4", "5", "0"], outputs: ["2", "4", "6", "8", "10", "0"], message: "doubles", imports: [] });
  const loops = "def f(a):\n    while True:\n        pass";
  const started = performance.now();
  const [v] = await checkAll(x.ex, [{ task: t, answer: loops }]);
  const ms = performance.now() - started;
  assert.deepEqual([v.reason, v.score], ["timeout", 0]);
  assert.match(v.message, /^hidden input 1: /);
  // one 2 s limit, where running the three pairs at once on the helper's workers takes two or more
  assert.ok(ms < 2 * 2000, `${Math.round(ms)} ms: the second and third pairs were not run`);
  const [acc] = await checkAll(x.ex, [{ task: t, answer: loops }], "accuracy");
  assert.deepEqual([acc.reason, acc.score], ["timeout", 0], "accuracy runs every pair");
  // a pair after the failing one is not counted, and the message says so
  const secondWrong = "def f(a):\n    return 8 if a == 4 else -1";
  const [b] = await checkAll(x.ex, [{ task: t, answer: secondWrong }]);
  assert.deepEqual([b.reason, b.score], ["mismatch", 0]);
  assert.match(b.message, /^1\/3 hidden pairs reproduced before the first failure \(the rest not run\); hidden input 2: /);
});

test("answers - induction answers may use the gold program's import lines", async () => {
  const t = inductionTask({ program: "import math\ndef f(a):\n    return math.floor(a)", inputs: ["1.5", "2.5"], outputs: ["1", "2"], message: "floor", imports: ["import math"] });
  const [v] = await checkAll(x.ex, [{ task: t, answer: "def f(a):\n    return math.floor(a)" }]);
  assert.equal(v.reason, "correct");
});

test("stats - per call: tasks/s, verdicts by reason, workers replaced", async () => {
  const s = x.ex.validateProposals([triplet(ID, "1"), triplet("def f(a):\n    return 1/0", "1")]);
  for await (const _ of s) { /* drain */ }
  const st = s.stats();
  assert.equal(st.tasks, 2);
  assert.deepEqual(st.byReason, { valid: 1, exception: 1 });
  assert.ok(st.tasksPerSecond > 0);
  assert.ok(x.ex.stats().tasks >= 2);
});
