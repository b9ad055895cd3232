/**
 * Task code may only run bytecode that CPython's compiler made. CPython 3.11 never checks
 * bytecode: a code object built from bytes of the task's choosing (say LOAD_CONST or LOAD_FAST
 * with an index past its tuple) reads and writes memory anywhere in the process, and a pooled
 * worker's memory holds the audit hook's state, the integrity snapshot and the results of tasks
 * (see policy.py on RAW_MEMORY_MODULES). Code objects come from compile() (sound bytecode), the
 * CodeType constructor and code.replace (both raise the denied `code.__new__` event), and from
 * marshal data: marshal.loads/marshal.load, importlib loading a .pyc, and _imp.get_frozen_object
 * with a buffer. Every marshal route raises a "marshal.*" audit event; inside the task window only
 * the worker's own argument bytes and the .pyc files importlib reads from outside the writable
 * scratch directory may be unmarshalled. Here each route edits compiled bytecode (LOAD_CONST 0 ->
 * LOAD_CONST 1, an index nothing checks) and runs it: it must be refused, in both modes, while a
 * module imported lazily inside the task (read from its .pyc) still works.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ProposalCheck } from "../../actors/code-executor/index.ts";
import { differingVerdicts, verdictKey } from "../../bench/executor-seeds.ts";
import { triplet, validateOneByOne } from "./helpers.ts";

/** marshal bytes of `r = 111` whose first LOAD_CONST 0 (-> 111) is edited to LOAD_CONST 1 (-> None). */
const CRAFT = [
  "import marshal",
  "def craft():",
  "    b = bytearray(marshal.dumps(compile('r = 111', '<t>', 'exec')))",
  "    i = b.index(bytes([100, 0, 90, 0]))  # LOAD_CONST 0; STORE_NAME 0",
  "    b[i + 1] = 1",
  "    return bytes(b)",
  "def run(code):",
  "    d = {}",
  "    exec(code, d)",
  "    return d['r']",
].join("\n");
const task = (body: string, input = "0"): ProposalCheck => triplet(`${CRAFT}\ndef f(a):\n${body.split("\n").map((l) => "    " + l).join("\n")}`, input);
const PYC_HEADER = "import importlib.util\nheader = importlib.util.MAGIC_NUMBER + bytes(12)";

const DENIED = /sandbox: .*denied/;
const ATTACKS: [string, ProposalCheck, RegExp?][] = [
  ["marshal.loads", task("return run(marshal.loads(craft()))")],
  ["marshal.loads of a memoryview", task("return run(marshal.loads(memoryview(craft())))")],
  ["marshal.load", task("import io\nreturn run(marshal.load(io.BytesIO(craft())))")],
  // The hook's refusal comes back as a SystemError: _imp sets its own ImportError over it.
  ["_imp.get_frozen_object with a buffer", task("import _imp\nreturn run(_imp.get_frozen_object('x', craft()))"), /^SystemError: <class 'ImportError'> returned a result with an exception set$/],
  ["a .pyc in the scratch directory (sourceless loader)", task([
    PYC_HEADER,
    "import os, importlib.machinery",
    "path = os.getcwd() + '/m.pyc'",
    "open(path, 'wb').write(header + craft())",
    "return importlib.machinery.SourcelessFileLoader('m', path).load_module().r",
  ].join("\n"))],
  ["a .pyc in the scratch directory (importlib's bytecode reader)", task([
    PYC_HEADER,
    "from importlib._bootstrap_external import _compile_bytecode",
    "return run(_compile_bytecode(memoryview(header + craft())[16:]))",
  ].join("\n"))],
  ["marshal.loads right after reading a trusted .pyc", task([
    "import importlib.util",
    "open(importlib.util.cache_from_source(importlib.util.find_spec('colorsys').origin), 'rb').read()",
    "return run(marshal.loads(craft()))",
  ].join("\n"))],
  ["code.replace", task("c = compile('r = 111', '<t>', 'exec')\nreturn run(c.replace(co_code=c.co_code.replace(bytes([100, 0, 90]), bytes([100, 1, 90]))))")],
  ["types.CodeType", task("import types\nc = compile('r = 111', '<t>', 'exec')\nreturn run(types.CodeType(*[getattr(c, 'co_' + n) for n in 'argcount posonlyargcount kwonlyargcount nlocals stacksize flags code consts names varnames filename name qualname firstlineno linetable exceptiontable freevars cellvars'.split()]))")],
  ["pickle", task([
    "import operator, pickle",
    "c = compile('r = 111', '<t>', 'exec')",
    "# code is not picklable by name: the pickle fetches it as getattr(__import__('types'), 'CodeType').",
    "class M:",
    "    def __reduce__(self):",
    "        return (__import__, ('types',))",
    "class T:",
    "    def __reduce__(self):",
    "        return (getattr, (M(), 'CodeType'))",
    "class R:",
    "    def __reduce__(self):",
    "        return (operator.call, (T(),) + tuple(getattr(c, 'co_' + n) for n in 'argcount posonlyargcount kwonlyargcount nlocals stacksize flags code consts names varnames filename name qualname firstlineno linetable exceptiontable freevars cellvars'.split()))",
    "return run(pickle.loads(pickle.dumps(R())))",
  ].join("\n"))],
];

const ALLOWED: [string, ProposalCheck, string][] = [
  // colorsys is neither adopted nor loaded by the worker: importlib unmarshals its .pyc inside the task.
  ["a lazy import read from its .pyc", triplet("def f(a):\n    import colorsys\n    return colorsys.rgb_to_hsv(a, a, a)", "1"), "(0.0, 0.0, 1)"],
  ["an argument built from marshal bytes", triplet("def f(a, b):\n    a.append(b)\n    return a", "[1, 2], {'k': (3.5, None)}"), "[1, 2, {'k': (3.5, None)}]"],
  ["a task after the attempts", triplet("def f(a):\n    return a + 200", "0"), "200"],
];

test("code objects - a task cannot build a code object from bytes of its choosing, in either mode; lazy imports and marshalled arguments still work", { timeout: 120_000 }, async () => {
  const batch = [...ATTACKS.map(([, c]) => c), ...ALLOWED.map(([, c]) => c)];
  const pooled = await validateOneByOne("pooled", batch);
  const strict = await validateOneByOne("strict", batch);
  for (const [mode, vs] of [["pooled", pooled], ["strict", strict]] as const) {
    ATTACKS.forEach(([name, , message], i) => {
      assert.equal(vs[i].reason, "exception", `${mode}, ${name}: ${verdictKey(vs[i])} (edited bytecode ran if the output is None)`);
      assert.match(vs[i].message ?? "", message ?? DENIED, `${mode}, ${name}: ${verdictKey(vs[i])}`);
    });
    ALLOWED.forEach(([name, , output], j) => {
      const v = vs[ATTACKS.length + j];
      assert.equal(v.reason, "valid", `${mode}, ${name}: ${verdictKey(v)}`);
      assert.deepEqual(v.outputs, [output], `${mode}, ${name}: ${verdictKey(v)}`);
    });
  }
  assert.deepEqual(differingVerdicts(pooled, strict).map((i) => `${i}: ${verdictKey(pooled[i])} vs ${verdictKey(strict[i])}`), []);
});
