/**
 * Seeding's program stripping (azr-spec §4.2) checked by CPython: on every program of the
 * published seed files, the stripped text still parses, keeps the same functions and classes,
 * and holds nothing at module level but imports, functions and classes, and no docstrings.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { findPython } from "../../model/python.ts";
import { functionDefs, importStatements, renameFunction, stripForSeeding } from "../../azr/pysource.ts";
import { SEEDS_DIR } from "../helpers/shared.ts";

const SEEDS = SEEDS_DIR;

const PY = String.raw`
import ast, json, sys
def defs(tree):
    return sorted(n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))
def problems(orig, stripped):
    try:
        a = ast.parse(orig)
    except SyntaxError:
        return None  # the original does not parse: nothing to compare
    try:
        b = ast.parse(stripped)
    except SyntaxError as e:
        return "stripped program does not parse: %s" % e
    out = []
    if defs(a) != defs(b):
        out.append("functions/classes changed: %s -> %s" % (defs(a), defs(b)))
    for n in b.body:
        if not isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.append("module-level %s kept" % type(n).__name__)
    for n in ast.walk(b):
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.body:
            first = n.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                out.append("docstring kept in %s" % getattr(n, "name", "module"))
    return "; ".join(out) or None
def counts(src):
    try:
        t = ast.parse(src)
    except SyntaxError:
        return None
    fns = [n.name for n in ast.walk(t) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    imps = sum(1 for n in ast.walk(t) if isinstance(n, (ast.Import, ast.ImportFrom)))
    return [sorted(fns), imps]
class Rename(ast.NodeTransformer):
    def visit_Name(self, n):
        if n.id == "f": n.id = "entry_fn"
        return n
    def visit_arg(self, n):
        if n.arg == "f": n.arg = "entry_fn"
        return n
    def visit_FunctionDef(self, n):
        if n.name == "f": n.name = "entry_fn"
        self.generic_visit(n)
        return n
def renamed_same(orig, ours):
    try:
        tree = ast.parse(orig)
    except SyntaxError:
        return True
    if any(isinstance(n, ast.arg) and n.arg == "f" for n in ast.walk(tree)):
        return True  # a parameter shadows the entry function: needs scope analysis (documented limit)
    want = ast.dump(Rename().visit(tree))
    try:
        return ast.dump(ast.parse(ours)) == want
    except SyntaxError:
        return False
data = json.load(sys.stdin)
pairs = data["pairs"]
json.dump({"verdicts": [[problems(o, s), counts(o)] for o, s in pairs], "renames": [renamed_same(o, r) for o, r in data["renames"]]}, sys.stdout)
`;

test("seeding strip - comments, docstrings and module-level statements go; the rest parses unchanged in structure", () => {
  const cases: [string, string][] = [
    ["import math  # why\nX = 1\ndef f(a):\n    \"\"\"doc\"\"\"\n    return math.floor(a)  # note\nprint(f(1))\n", "import math\ndef f(a):\n    return math.floor(a)\n"],
    ["def f(a):\n    'just a docstring'\n", "def f(a):\n    pass\n"],
    ["def f(a):\n    s = '''x\n\n# not a comment'''\n    return s\n", "def f(a):\n    s = '''x\n\n# not a comment'''\n    return s\n"],
    ["if True:\n    y = 2\ndef f(a):\n    return a\n", "def f(a):\n    return a\n"],
    ["@decorator\ndef f(a):\n    return a\n", "@decorator\ndef f(a):\n    return a\n"],
  ];
  for (const [src, want] of cases) assert.equal(stripForSeeding(src), want, src);
});

test("pysource - CPython agrees on every published seed program: stripping, defs, imports, renaming", { skip: existsSync(SEEDS) ? false : `${SEEDS} is absent`, timeout: 120_000 }, (t) => {
  const programs = new Set<string>();
  for (const file of readdirSync(SEEDS).filter((f) => f.endsWith(".jsonl"))) {
    for (const line of readFileSync(`${SEEDS}/${file}`, "utf8").split("\n").filter(Boolean)) programs.add(JSON.parse(line).snippet);
  }
  const pairs = [...programs].map((p) => [p, stripForSeeding(p)]);
  const renames = [...programs].map((p) => [p, renameFunction(p, "f", "entry_fn")]);
  const reply = JSON.parse(execFileSync(findPython().path, ["-c", PY], { input: JSON.stringify({ pairs, renames }), maxBuffer: 1 << 28 }).toString()) as { verdicts: [string | null, [string[], number] | null][]; renames: boolean[] };
  const verdicts = reply.verdicts;
  // renaming by tokens gives the same tree as renaming the names in CPython's AST
  const badRenames = reply.renames.flatMap((ok, i) => (ok ? [] : [renames[i][1].slice(0, 300)]));
  assert.deepEqual(badRenames, []);
  const bad = verdicts.flatMap(([v], i) => (v ? [`${v}\n--- program:\n${pairs[i][0].slice(0, 300)}`] : []));
  t.diagnostic(`${pairs.length} distinct programs stripped, ${bad.length} problems`);
  assert.deepEqual(bad, []);
  // the tokenizer's reading of defs and imports (function-count rule, recorded imports) matches the AST
  const disagree = verdicts.flatMap(([, c], i) => {
    if (!c) return [];
    const ours: [string[], number] = [functionDefs(pairs[i][0]).map((d) => d.name).sort(), importStatements(pairs[i][0]).length];
    return JSON.stringify(ours) === JSON.stringify(c) ? [] : [`ours ${JSON.stringify(ours)} vs CPython ${JSON.stringify(c)}:\n${pairs[i][0].slice(0, 300)}`];
  });
  assert.deepEqual(disagree, []);
});
