import { test } from "node:test";
import assert from "node:assert/strict";
import { argsEqual, hashKey, LiteralError, literalTextsEqual, parseArgs, parseLiteral, pyEqual } from "../../azr/literal.ts";

test("literal - values parse to Python's types", () => {
  const cases: [string, unknown][] = [
    ["1", { t: "int", v: 1n }],
    ["-12_345", { t: "int", v: -12345n }],
    ["0x1F", { t: "int", v: 31n }],
    ["123456789012345678901234567890", { t: "int", v: 123456789012345678901234567890n }],
    ["1.5e3", { t: "float", v: 1500 }],
    [".5", { t: "float", v: 0.5 }],
    ["-inf", { t: "float", v: -Infinity }],
    ["True", { t: "bool", v: true }],
    ["None", { t: "none" }],
    ["'a\\nb'", { t: "str", v: "a\nb" }],
    ["r'a\\nb'", { t: "str", v: "a\\nb" }],
    ['"it\'s"', { t: "str", v: "it's" }],
    ["'ab' \"cd\"", { t: "str", v: "abcd" }],
    ["'''x\ny'''", { t: "str", v: "x\ny" }],
    ["'\\x41\\u00e9\\101'", { t: "str", v: "AéA" }],
    ["b'\\x00a'", { t: "bytes", v: "\u0000a" }],
    ["()", { t: "tuple", items: [] }],
    ["(1,)", { t: "tuple", items: [{ t: "int", v: 1n }] }],
    ["(1)", { t: "int", v: 1n }],
    ["1, 2", { t: "tuple", items: [{ t: "int", v: 1n }, { t: "int", v: 2n }] }],
    ["[1, [2]]", { t: "list", items: [{ t: "int", v: 1n }, { t: "list", items: [{ t: "int", v: 2n }] }] }],
    ["set()", { t: "set", items: [] }],
    ["{1, 1.0, True}", { t: "set", items: [{ t: "int", v: 1n }] }],
    ["{}", { t: "dict", entries: [] }],
    ["{1: 'a', 1.0: 'b'}", { t: "dict", entries: [[{ t: "int", v: 1n }, { t: "str", v: "b" }]] }],
  ];
  for (const [text, want] of cases) assert.deepEqual(parseLiteral(text), want, text);
});

test("literal - non-literals are refused with a reason", () => {
  const bad = ["dict(a=1)", "x", "1 + 2", "f'{x}'", "[i for i in range(3)]", "1j", "{[1]: 2}", "{[1], 2}", "'unterminated", "__import__('os')", "", "007", "'\\N{DASH}'", "b'é'", "a == b"];
  for (const text of bad) assert.throws(() => parseLiteral(text), LiteralError, text);
});

test("literal - argument lists: positional, keywords, empty, and the errors Python raises", () => {
  assert.deepEqual(parseArgs(""), { positional: [], keywords: [] });
  assert.deepEqual(parseArgs("'abc', [1, 2]"), { positional: [{ t: "str", v: "abc" }, { t: "list", items: [{ t: "int", v: 1n }, { t: "int", v: 2n }] }], keywords: [] });
  assert.deepEqual(parseArgs("1, k=None,"), { positional: [{ t: "int", v: 1n }], keywords: [["k", { t: "none" }]] });
  assert.throws(() => parseArgs("k=1, 2"), /positional argument follows keyword/);
  assert.throws(() => parseArgs("k=1, k=2"), /repeated/);
  assert.throws(() => parseArgs("*xs"), LiteralError);
  assert.throws(() => parseArgs("1 2"), LiteralError);
});

test("literal - equality follows Python ==, with NaN equal to NaN", () => {
  const cases: [string, string, boolean][] = [
    ["1", "1.0", true],
    ["1", "True", true],
    ["0", "False", true],
    ["1.5", "1.5", true],
    ["0.1", "0.10000000000000002", false],
    ["(1, 2)", "[1, 2]", false],
    ["{'a': 1, 'b': 2}", "{'b': 2, 'a': 1}", true],
    ["{1, 2, 3}", "{3, 2, 1}", true],
    ["nan", "nan", true],
    ["[nan, 1]", "[nan, 1]", true],
    ["'a'", "b'a'", false],
    ["None", "0", false],
    ["{}", "set()", false],
    ["10**2", "100", false], // not a literal → not equal
    ["2**53 + 1", "9007199254740993", false],
    ["9007199254740993", "9007199254740992.0", false], // exact int/float comparison
    ["9007199254740992", "9007199254740992.0", true],
    ["-0.0", "0", true],
  ];
  for (const [a, b, want] of cases) assert.equal(literalTextsEqual(a, b), want, `${a} == ${b}`);
});

test("literal - hashKey is equal exactly when values are equal (for hashable values)", () => {
  const groups = [["1", "1.0", "True"], ["(1, 'a')", "(1.0, 'a')"], ["frozen", "frozen"]].slice(0, 2);
  for (const g of groups) assert.equal(new Set(g.map((x) => hashKey(parseLiteral(x)))).size, 1, g.join(" / "));
  assert.notEqual(hashKey(parseLiteral("(1,)")), hashKey(parseLiteral("[1]")));
  assert.ok(argsEqual(parseArgs("1, b=2"), parseArgs("1.0, b=2")));
  assert.ok(!argsEqual(parseArgs("1, b=2"), parseArgs("1, 2")));
  assert.ok(pyEqual(parseLiteral("{'x': [1, {2}]}"), parseLiteral("{'x': [1.0, {2}]}")));
});
