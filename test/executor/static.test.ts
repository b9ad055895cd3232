/**
 * The worker's own argument check (azr_worker/static.py parse_call), run in the real Python: the
 * second line of defence behind the TypeScript parser. parse_call takes a fast path (build the
 * values, skip the node walk) and falls back to the walk on failure; these cases pin that the
 * walk's own errors still come out, that valid argument lists build what literal_eval builds,
 * and that the builder (marshal bytes, or compiled code where a set is involved) makes fresh
 * arguments each time.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { findPython } from "../../model/python.ts";

const WORKER_DIR = fileURLToPath(new URL("../../actors/code-executor/", import.meta.url));

const PY = String.raw`
import ast, json, marshal, sys
sys.path.insert(0, sys.argv[1])
from azr_worker.static import parse_call, NotLiteral
G = {"__builtins__": {}, "inf": float("inf"), "nan": float("nan"), "set": set}
out = []
for text in json.load(sys.stdin):
    try:
        npos, kw, code = parse_call(text)
        build = (lambda: marshal.loads(code)) if type(code) is bytes else (lambda: eval(code, G))  # as running.py does
        a, k = build()
        b, k2 = build()
        fresh = all(x is not y for x, y in zip(a + list(k.values()), b + list(k2.values())) if type(x) in (list, dict, set)) and k is not k2
        out.append({"ok": True, "npos": npos, "kw": kw, "repr": repr((a, k)), "fresh": fresh, "builder": type(code).__name__})
    except NotLiteral as e:
        out.append({"ok": False, "error": "NotLiteral: %s" % e})
    except Exception as e:
        out.append({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
json.dump(out, sys.stdout)
`;

function parseCalls(texts: string[]): ({ ok: true; npos: number; kw: string[]; repr: string; fresh: boolean; builder: string } | { ok: false; error: string })[] {
  return JSON.parse(execFileSync(findPython().path, ["-c", PY, WORKER_DIR], { input: JSON.stringify(texts), env: { ...process.env, PYTHONHASHSEED: "0" } }).toString());
}

test("worker parse_call - valid argument lists build fresh values with their keywords", () => {
  const texts = ["", "1", "[1, [2]], k={'a': (1, 2.5)}", "-inf, +nan, -True", "set(), {1, 2}", "b'x', k=b'y'", "'a' 'b', z=-0.0", "12345678901234567890, 1e16", "[1], k={'a': [(1, {2})]}"];
  const got = parseCalls(texts);
  const want = ["([], {})", "([1], {})", "([[1, [2]]], {'k': {'a': (1, 2.5)}})", "([-inf, nan, -1], {})", "([set(), {1, 2}], {})", "([b'x'], {'k': b'y'})", "(['ab'], {'z': -0.0})", "([12345678901234567890, 1e+16], {})", "([[1]], {'k': {'a': [(1, {2})]}})"];
  got.forEach((g, i) => {
    assert.ok(g.ok, `${texts[i]}: ${"error" in g ? g.error : ""}`);
    if (g.ok) {
      assert.equal(g.repr, want[i], texts[i]);
      assert.ok(g.fresh, `${texts[i]}: containers must be new objects on every build`);
    }
  });
  assert.deepEqual(got.map((g) => (g.ok ? [g.npos, g.kw] : null)), [[0, []], [1, []], [1, ["k"]], [3, []], [2, []], [1, ["k"]], [1, ["z"]], [2, []], [1, ["k"]]]);
  // Sets are built by evaluating their display, so their iteration order is the source order's;
  // everything else comes from marshal bytes.
  assert.deepEqual(got.map((g) => (g.ok ? g.builder : null)), ["bytes", "bytes", "bytes", "bytes", "code", "bytes", "bytes", "bytes", "code"]);
});

test("worker parse_call - non-literals give the node walk's error, or build_value's where the walk passes", () => {
  const cases: [string, string][] = [
    ["not 1", "NotLiteral: operator"], // build_value alone would say UnaryOp
    ["[g(1)]", "NotLiteral: call"], // … Call
    ["{**a}", "NotLiteral: dict unpacking"], // … dict unpacking is not a literal
    ["[1, x]", "NotLiteral: name x"],
    ["1j", "NotLiteral: not a literal"],
    ["[*x]", "NotLiteral: Starred"],
    ["*x", "NotLiteral: starred argument"],
    ["-'a'", "NotLiteral: unary sign on a non-number"], // passes the walk, fails to build
    ["set", "NotLiteral: name set"], // idem
    ["{[1]: 2}", "TypeError: unhashable type: 'list'"],
  ];
  const got = parseCalls(cases.map(([t]) => t));
  assert.deepEqual(got.map((g) => (g.ok ? "accepted" : g.error)), cases.map(([, e]) => e));
});
