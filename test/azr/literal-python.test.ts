/**
 * Cross-check: our TypeScript literal parser against CPython's own `ast` + `literal_eval`, on
 * every input and output of the published seed files plus hand-picked edge cases. Both sides
 * must accept the same texts and produce the same typed values.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { findPython } from "../../model/python.ts";
import { tryParseArgs, tryParseLiteral, type PyValue } from "../../azr/literal.ts";
import { SEEDS_DIR } from "../helpers/shared.ts";

const SEEDS = SEEDS_DIR;

// Python side: a typed JSON tree per text, or null when it is not a literal by azr's rules
// (literal_eval, plus the names inf/nan, minus complex numbers).
const PY = String.raw`
import ast, json, math, sys
def fix(node):
    for n in ast.walk(node):
        for field, val in ast.iter_fields(n):
            if isinstance(val, ast.Name) and val.id in ("inf", "nan"):
                setattr(n, field, ast.Constant(float(val.id)))
            elif isinstance(val, list):
                for i, v in enumerate(val):
                    if isinstance(v, ast.Name) and v.id in ("inf", "nan"):
                        val[i] = ast.Constant(float(v.id))
    return node
def tree(v):
    if v is None: return {"t": "none"}
    if type(v) is bool: return {"t": "bool", "v": v}
    if type(v) is int: return {"t": "int", "v": str(v)}
    if type(v) is float: return {"t": "float", "v": repr(v)}
    if type(v) is complex: raise ValueError("complex")
    if type(v) is str: return {"t": "str", "v": v}
    if type(v) is bytes: return {"t": "bytes", "v": v.decode("latin-1")}
    if type(v) is tuple: return {"t": "tuple", "items": [tree(x) for x in v]}
    if type(v) is list: return {"t": "list", "items": [tree(x) for x in v]}
    if type(v) is set: return {"t": "set", "items": [tree(x) for x in v]}
    if type(v) is dict: return {"t": "dict", "entries": [[tree(k), tree(x)] for k, x in v.items()]}
    raise ValueError(type(v))
def one(kind, text):
    try:
        if kind == "value":
            node = fix(ast.parse(text.strip(), mode="eval"))
            if isinstance(node.body, ast.Name) and node.body.id in ("inf", "nan"):
                return tree(float(node.body.id))
            return tree(ast.literal_eval(node))
        call = fix(ast.parse("f(" + text + "\n)", mode="eval")).body
        if not isinstance(call, ast.Call) or any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords) or len({k.arg for k in call.keywords}) != len(call.keywords):
            return None
        pos = []
        for a in call.args:
            pos.append(tree(float(a.id)) if isinstance(a, ast.Name) and a.id in ("inf", "nan") else tree(ast.literal_eval(a)))
        return {"positional": pos, "keywords": [[k.arg, tree(ast.literal_eval(k.value))] for k in call.keywords]}
    except Exception:
        return None
items = json.load(sys.stdin)
json.dump([one(k, t) for k, t in items], sys.stdout)
`;

type Json = { t: string; v?: unknown; items?: Json[]; entries?: [Json, Json][] };

/** A strict, type-keeping canonical form (sets and dicts sorted) for comparing the two sides. */
function canon(v: PyValue | Json): string {
  const x = v as Json;
  switch (x.t) {
    case "none": return "None";
    case "bool": return `bool:${x.v}`;
    case "int": return `int:${String(x.v)}`;
    case "float": {
      const n = typeof x.v === "number" ? x.v : x.v === "inf" ? Infinity : x.v === "-inf" ? -Infinity : x.v === "nan" ? NaN : Number(x.v);
      return `float:${Object.is(n, -0) ? "-0" : String(n)}`;
    }
    case "str": case "bytes": return `${x.t}:${JSON.stringify(x.v)}`;
    case "tuple": case "list": return `${x.t}(${x.items!.map(canon).join(",")})`;
    case "set": return `set(${x.items!.map(canon).sort().join(",")})`;
    case "dict": return `dict(${x.entries!.map(([k, w]) => `${canon(k)}:${canon(w)}`).sort().join(",")})`;
  }
  throw new Error(`unknown node ${x.t}`);
}

const EDGE_VALUES = ["1", "-1", "1.0", "1e400", "-0.0", "0.1", "1_000", "0o17", "0b101", "0XfF", "True", "None", "inf", "-inf", "nan", "'a'", "b'\\xff'", "'\\u00e9'", "'\\U0001F600'", "'a' 'b'", "r'\\d'", "(1,)", "()", "[]", "{}", "set()", "{1: [2, (3,)]}", "{1, 2}", "1, 2", "(1)", "{'a': 1, 'a': 2}", "{1: 'a', True: 'b'}", "'\\q'", "'\\101'", "1j", "dict(a=1)", "x", "[1, 2,]", "- 5", "+5", "--5", "-True", "-inf", "+nan", "# note\n5", "'''a\nb'''", "'\\\n'", "1.", ".5e-3", "00", "0_0"];
// The tokenizer's regex-free paths (plain digit runs, string prefixes, quote scanning, bodies
// without escapes) against the same texts in CPython: what follows a digit run, every prefix
// spelling, empty and triple quotes, quotes inside strings, non-ASCII in str and bytes.
EDGE_VALUES.push(
  "0", "10", "0123", "-0", "1e16", "-1e16", "1E5", "12_3", "1_", "1__2", "12abc", "3x", "1é", "3.", "12.5", "12.e1", "7.0j", "[1,2]", "{10:20}", "99999999999999999999",
  "rb'a'", "Rb'\\x00'", "BR'a'", "bR'\\d'", "ur'a'", "U'a'", "u'\\u00e9'", 'R"x"', "b'café'", "br'café'", "f'a'", "rf'a'",
  "''", "''''''", "'''a''b'''", '"""x"y"""', "'a\"b'", "'a\\'b'", "'\\\\'", "'x\ny'", "'é'", "'\\t\\x41'", "'''x'''y'", "'a'b'", "'''a\\'''",
  "[nan, -inf, 1.5e-300]", "{1, (2, 3), 'a'}", "((1,),)", "{'k': [b'', 0, 'v']}",
);
const EDGE_ARGS = ["", "1", "1, 2", "a=1", "1, b=[2]", "b=1, 2", "*x", "**k", "'x', {'k': (1, 2.5)}", "1,", "(1, 2)", "a=1, a=2"];

test("literal - agrees with CPython's literal_eval on seed files and edge cases", { timeout: 120_000 }, (t) => {
  const python = findPython();
  const texts: ["value" | "args", string][] = [...EDGE_VALUES.map((v) => ["value", v] as ["value", string]), ...EDGE_ARGS.map((v) => ["args", v] as ["args", string])];
  if (existsSync(SEEDS)) {
    for (const file of readdirSync(SEEDS).filter((f) => f.endsWith(".jsonl"))) {
      for (const line of readFileSync(`${SEEDS}/${file}`, "utf8").split("\n").filter(Boolean)) {
        const o = JSON.parse(line);
        for (const i of o.inputs ?? [o.input]) texts.push(["args", i]);
        for (const out of o.outputs ?? [o.output]) texts.push(["value", out]);
      }
    }
  } else {
    t.diagnostic(`${SEEDS} is absent: checking the edge cases only`);
  }
  const distinct = new Map(texts.map((x) => [JSON.stringify(x), x] as const));
  texts.splice(0, texts.length, ...distinct.values());
  const py = JSON.parse(execFileSync(python.path, ["-c", PY], { input: JSON.stringify(texts), maxBuffer: 1 << 28 }).toString()) as (Json | { positional: Json[]; keywords: [string, Json][] } | null)[];
  let accepted = 0;
  const mismatches: string[] = [];
  texts.forEach(([kind, text], i) => {
    const want = py[i];
    let got: string | null;
    let expected: string | null;
    if (kind === "value") {
      const v = tryParseLiteral(text);
      got = v ? canon(v) : null;
      expected = want ? canon(want as Json) : null;
    } else {
      const a = tryParseArgs(text);
      got = a ? JSON.stringify([a.positional.map(canon), a.keywords.map(([k, v]) => [k, canon(v)])]) : null;
      const w = want as { positional: Json[]; keywords: [string, Json][] } | null;
      expected = w ? JSON.stringify([w.positional.map(canon), w.keywords.map(([k, v]) => [k, canon(v)])]) : null;
    }
    if (got !== null) accepted++;
    if (got !== expected) mismatches.push(`${kind} ${JSON.stringify(text.slice(0, 120))}: ours ${got?.slice(0, 120)} vs CPython ${expected?.slice(0, 120)}`);
  });
  t.diagnostic(`${texts.length} texts, ${accepted} literals, ${mismatches.length} mismatches`);
  assert.deepEqual(mismatches, []);
});
