/**
 * Modules that give raw memory access (numpy's __array_interface__: any address, read and write,
 * no audit event) never load in a pooled worker: a program that uses one runs in a child of the
 * worker's zygote (azr_worker/zygote.py) in both modes, so what it does to memory dies with that
 * child. Here a program rewrites the cached small int 200 in its own process through numpy —
 * named on an import line, and reached through __import__ — and the next task on the same
 * (single) worker must still compute 200; a pooled task finds no numpy anywhere in its process;
 * ordinary numpy programs (and the seed pairs that import numpy) get the same verdicts in both
 * modes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ProposalCheck } from "../../actors/code-executor/index.ts";
import { differingVerdicts, loadSeedPairs, verdictKey } from "../../bench/executor-seeds.ts";
import { triplet, validateOneByOne } from "./helpers.ts";

/** Overwrites ob_digit[0] of the small int 200 (CPython 3.11: offset 24) with 201 through numpy. */
const corrupt = (getNumpy: string): string => [
  getNumpy,
  "def f(a):",
  "    class Raw:",
  "        def __init__(self, addr, n):",
  "            self.__array_interface__ = {'data': (addr, False), 'shape': (n,), 'typestr': '|u1', 'version': 3}",
  "    mem = np.asarray(Raw(id(200), 28))",
  "    if mem[24] == 200:",
  "        mem[24] = 201",
  "    return a + 200",
].join("\n");
const NAMED = corrupt("import numpy as np");
const DYNAMIC = corrupt("np = __import__('num' + 'py')");
const NEXT = triplet("def f(a):\n    return a + 200", "0");
const PROBE = triplet("import sys\ndef f(a):\n    return ['numpy' in sys.modules, sorted({c.__module__.split('.')[0] for c in object.__subclasses__()} & {'numpy', '_cffi_backend'})]", "0");

const ORDINARY: ProposalCheck[] = [
  triplet("import numpy as np\ndef f(a):\n    return int(np.array(a).sum())", "[1, 2, 3]"),
  triplet("import numpy as np\ndef f(a):\n    return np.sort(np.array(a)).tolist()", "[3, 1, 2]"),
  triplet("import numpy as np\ndef f(a):\n    return float(np.mean(a))", "[1.5, 2.5]"),
  triplet("import numpy as np\ndef f(a):\n    np.random.seed(a)\n    return np.random.randint(0, 100, 3).tolist()", "7"),
  triplet("import numpy as np\ndef f(a):\n    return np.array(a)", "[1, 2]"), // not a literal
  triplet("import numpy as np\ndef f(a):\n    return np.int64(a)", "3"),
  triplet("import numpy as np\ndef f(a):\n    return np.linalg.inv(np.zeros((a, a))).tolist()", "2"), // raises
  triplet("import numpy as np\ndef f(a):\n    return np.random.rand()", "0"), // non-deterministic
  triplet("from numpy import array\ndef f(a):\n    return array(a).shape", "[[1, 2], [3, 4]]"),
  triplet("def f(a):\n    import numpy\n    return numpy.cumsum(a).tolist()", "[1, 2, 3]"),
];

test("raw memory - a program that rewrites memory through numpy affects neither the next task nor its own verdict, in either mode", { timeout: 120_000 }, async () => {
  const batch = [triplet(NAMED, "0"), NEXT, PROBE, triplet(DYNAMIC, "0"), NEXT, PROBE];
  const pooled = await validateOneByOne("pooled", batch);
  const strict = await validateOneByOne("strict", batch);
  // Its own process is corrupted (200 reads 201 there), and that is all it reached.
  assert.deepEqual(pooled[0].outputs, ["201"], verdictKey(pooled[0]));
  assert.deepEqual(pooled[3].outputs, ["201"], verdictKey(pooled[3]));
  for (const i of [1, 4]) assert.deepEqual(pooled[i].outputs, ["200"], `task ${i} after the corruption: ${verdictKey(pooled[i])}`);
  for (const i of [2, 5]) assert.deepEqual(pooled[i].outputs, ["[False, []]"], `no numpy in the pooled worker: ${verdictKey(pooled[i])}`);
  assert.deepEqual(differingVerdicts(pooled, strict).map((i) => `${i}: ${verdictKey(pooled[i])} vs ${verdictKey(strict[i])}`), []);
});

test("raw memory - ordinary numpy programs and the seed pairs that import numpy get the same verdicts pooled and strict", { timeout: 300_000 }, async () => {
  const seeds = loadSeedPairs().filter((p) => /\bnumpy\b/.test(p.program));
  assert.ok(seeds.length >= 10, `only ${seeds.length} numpy seed pairs: is ../shared/azr-seeds complete?`);
  const batch = [...ORDINARY, ...seeds.map((p) => triplet(p.program, p.input))];
  const pooled = await validateOneByOne("pooled", batch);
  const strict = await validateOneByOne("strict", batch);
  assert.deepEqual(differingVerdicts(pooled, strict).map((i) => `${i}: ${verdictKey(pooled[i])} vs ${verdictKey(strict[i])}`), []);
  assert.deepEqual(pooled.slice(0, 4).map((v) => v.outputs), [["6"], ["[1, 2, 3]"], ["2.0"], [pooled[3].outputs?.[0]]]);
  assert.equal(pooled[0].reason, "valid");
  assert.equal(pooled[7].reason, "non-deterministic");
});

test("raw memory - native code is judged by its file: a denied extension under another name, or any from the scratch directory, is refused in both modes", { timeout: 120_000 }, async () => {
  const load = (path: string, name: string): string => [
    "import importlib.machinery, importlib.util, os",
    "def f(a):",
    `    path = ${path}`,
    `    spec = importlib.util.spec_from_file_location(${JSON.stringify(name)}, path, loader=importlib.machinery.ExtensionFileLoader(${JSON.stringify(name)}, path))`,
    "    return importlib.util.module_from_spec(spec).__name__",
  ].join("\n");
  const so = (m: string): string => `/usr/lib/python3.11/lib-dynload/${m}.cpython-311-x86_64-linux-gnu.so`;
  const copy = `os.getcwd() + '/_lzma.so'\n    open(path, 'wb').write(open(${JSON.stringify(so("_lzma"))}, 'rb').read())`;
  const batch = [
    triplet(load(JSON.stringify(so("_testcapi")), "x._testcapi"), "0"), // _testcapi: raw memory (DENIED_MODULES)
    triplet(load(copy, "_lzma"), "0"), // a harmless module, but any bytes could stand in that file
  ];
  for (const mode of ["pooled", "strict"] as const) {
    const vs = await validateOneByOne(mode, batch);
    assert.deepEqual(vs.map((v) => [v.reason, /denied/.test(v.message ?? "")]), [["exception", true], ["exception", true]], `${mode}: ${vs.map(verdictKey).join(" ")}`);
  }
});

test("raw memory - native code from outside the standard library (msgpack's, under another name) runs only in a child of the zygote, in both modes", { timeout: 120_000 }, async () => {
  // The zygote's children have numpy adopted and a pooled worker never has: where it ran shows.
  const program = [
    "import importlib.machinery, importlib.util, sys",
    "import msgpack._cmsgpack",
    "def f(a):",
    "    path = msgpack._cmsgpack.__file__",
    "    loader = importlib.machinery.ExtensionFileLoader('x._cmsgpack', path)",
    "    mod = importlib.util.module_from_spec(importlib.util.spec_from_file_location('x._cmsgpack', path, loader=loader))",
    "    return [type(mod).__name__, 'numpy' in sys.modules]",
  ].join("\n");
  const stdlib = "import importlib, sys\ndef f(a):\n    return [importlib.import_module('_lzma').__name__, 'numpy' in sys.modules]";
  const batch = [triplet(program, "0"), triplet(stdlib, "0")];
  for (const mode of ["pooled", "strict"] as const) {
    const vs = await validateOneByOne(mode, batch);
    assert.deepEqual(vs.map((v) => v.outputs), [["['module', True]"], ["['_lzma', False]"]], `${mode}: ${vs.map(verdictKey).join(" ")}`);
  }
});
