import { test } from "node:test";
import assert from "node:assert/strict";
import { cyclomaticComplexity, functionDefs, halstead, importStatements, normalisedProgramKey, renameFunction, tokenizePython } from "../../azr/pysource.ts";

test("pysource - defs are counted at any depth, never inside strings or comments", () => {
  const src = [
    "import math",
    "class A:",
    "    def method(self):",
    "        return 'def fake(): pass'",
    "def outer(x):",
    "    # def commented(): pass",
    "    def inner(y):",
    "        return y",
    '    s = """',
    "def in_docstring(): pass",
    '"""',
    "    return inner(x)",
  ].join("\n");
  assert.deepEqual(functionDefs(src).map((d) => [d.name, d.indent]), [["method", 1], ["outer", 0], ["inner", 1]]);
});

test("pysource - imports anywhere in the tree, continuation lines joined", () => {
  const src = [
    "from collections import (deque,",
    "    defaultdict)",
    "import math; import re",
    "def f(a):",
    "    import heapq as hq",
    "    if a: import bisect",
    "    x = 'import os'",
    "    return a",
  ].join("\n");
  assert.deepEqual(importStatements(src), ["from collections import (deque, defaultdict)", "import math", "import re", "import heapq as hq", "import bisect"]);
});

test("pysource - renaming touches the def and calls, not strings, attributes or keyword names", () => {
  const src = "def solve(n, solve_k=1):\n    if n == 0:\n        return 'solve'\n    obj.solve(n)\n    g(solve=n)\n    return solve(n - 1)  # solve again\n";
  assert.equal(
    renameFunction(src, "solve", "f"),
    "def f(n, solve_k=1):\n    if n == 0:\n        return 'solve'\n    obj.solve(n)\n    g(solve=n)\n    return f(n - 1)  # solve again\n",
  );
});

test("pysource - renaming reaches into f-string replacement fields only", () => {
  assert.equal(renameFunction("def g(d):\n    return f\"{k}: {g(d[k])} {{g}} 'g'\"", "g", "f"), "def f(d):\n    return f\"{k}: {f(d[k])} {{g}} 'g'\"");
  assert.equal(renameFunction("x = '{g(1)}'", "g", "f"), "x = '{g(1)}'", "a plain string is text");
});

test("pysource - the de-duplication key ignores whitespace but keeps structure and strings", () => {
  const a = "def f(a):\n    return a+1\n";
  const b = "def f( a ):\n\n  return a + 1";
  const c = "def f(a):\n    x = 1\n    return x";
  const d = "def f(a):\n    x = 1\nreturn x";
  assert.equal(normalisedProgramKey(a), normalisedProgramKey(b));
  assert.notEqual(normalisedProgramKey(c), normalisedProgramKey(d));
  assert.notEqual(normalisedProgramKey("def f(a): return 'a  b'"), normalisedProgramKey("def f(a): return 'a b'"));
});

test("pysource - logical lines continue inside brackets without resetting indentation", () => {
  const src = "def f(a):\n    x = [1,\n  2] + a\n    return x";
  const toks = tokenizePython(src).filter((t) => t.text === "return" || t.text === "+");
  assert.deepEqual(toks.map((t) => t.indent), [1, 1]);
  assert.throws(() => tokenizePython("x = 'open"), /unterminated/);
});

test("pysource - complexity measures grow with branches", () => {
  assert.equal(cyclomaticComplexity("def f(a):\n    return a"), 1);
  assert.equal(cyclomaticComplexity("def f(a):\n    for i in a:\n        if i and i > 2:\n            return i\n    return [x for x in a if x]"), 6);
  const h = halstead("def f(a, b):\n    return a + b");
  assert.ok(h.volume > 0 && h.effort > 0, JSON.stringify(h));
});
