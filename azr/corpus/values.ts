/**
 * The value types the generated programs take and the random inputs matched to them, written as
 * Python literal text (what an `input` fence holds: the argument list of one call). Covers: the
 * closed set of parameter types, Python's repr of str/int/list/tuple/dict, random literals per
 * type. Not: parsing literals back (the executor and azr/ do that), floats, sets, bytes.
 */
import type { Rng } from "./rng.ts";

/** The parameter and expression types the generator knows. Kept closed so inputs always match. */
export type ValueType = "int" | "str" | "bool" | "list[int]" | "list[str]" | "tuple[int, int]" | "dict[str, int]";

export const PARAM_TYPES: readonly ValueType[] = ["int", "str", "list[int]", "list[str]", "tuple[int, int]", "dict[str, int]"];

/** Python's repr of a str: single quotes unless the text has ' and no ", escapes as CPython does. */
export function pyStr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (ch === "\\") out += "\\\\";
    else if (ch === quote) out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (code < 0x20 || code === 0x7f) out += "\\x" + code.toString(16).padStart(2, "0");
    else out += ch; // the generator only emits ASCII; printable non-ASCII is kept as CPython does
  }
  return out + quote;
}

/** A Python value the generator builds inputs from (JS numbers stand for Python ints). */
export type PyValue = number | string | boolean | PyValue[] | { tuple: PyValue[] } | { dict: [PyValue, PyValue][] };

/** Python's repr of a value, e.g. `{'a': [1, -2], 'b': (3, 4)}`. */
export function pyRepr(v: PyValue): string {
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw new Error(`pyRepr: ${v} is not a safe integer; the generator only makes ints`);
    return String(v);
  }
  if (typeof v === "string") return pyStr(v);
  if (typeof v === "boolean") return v ? "True" : "False";
  if (Array.isArray(v)) return "[" + v.map(pyRepr).join(", ") + "]";
  if ("tuple" in v) return v.tuple.length === 1 ? `(${pyRepr(v.tuple[0])},)` : "(" + v.tuple.map(pyRepr).join(", ") + ")";
  return "{" + v.dict.map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(", ") + "}";
}

/** Short words so string inputs look like text (and so string methods have something to find). */
const WORDS = [
  "apple", "banana", "cat", "dog", "echo", "hello", "world", "python", "code", "data", "level", "moon",
  "star", "tree", "abc", "xyz", "noon", "radar", "sun", "sky", "blue", "red", "green", "one", "two",
];
const LETTERS = "abcdefghijklmnopqrstuvwxyz";

function randomWord(rng: Rng): string {
  if (rng.chance(0.6)) return rng.pick(WORDS);
  const n = rng.int(1, 6);
  let w = "";
  for (let i = 0; i < n; i++) w += LETTERS[rng.chance(0.5) ? rng.int(0, 5) : rng.int(0, 25)];
  return w;
}

function randomText(rng: Rng): string {
  const r = rng.float();
  if (r < 0.08) return "";
  if (r < 0.65) return randomWord(rng);
  const words = Array.from({ length: rng.int(2, 3) }, () => randomWord(rng));
  const text = words.join(" ");
  return rng.chance(0.15) ? text.charAt(0).toUpperCase() + text.slice(1) : text;
}

function randomInt(rng: Rng): number {
  const r = rng.float();
  if (r < 0.55) return rng.int(0, 12);
  if (r < 0.8) return rng.int(-9, 30);
  return rng.int(-50, 99);
}

export function randomValue(type: ValueType, rng: Rng): PyValue {
  switch (type) {
    case "int":
      return randomInt(rng);
    case "bool":
      return rng.chance(0.5);
    case "str":
      return randomText(rng);
    case "list[int]":
      return Array.from({ length: rng.weighted([[0, 1], [1, 2], [2, 3], [3, 4], [4, 4], [5, 3], [6, 2], [7, 1]]) }, () =>
        rng.chance(0.7) ? rng.int(0, 9) : randomInt(rng),
      );
    case "list[str]":
      return Array.from({ length: rng.weighted([[0, 1], [1, 2], [2, 3], [3, 4], [4, 3], [5, 1]]) }, () => randomWord(rng));
    case "tuple[int, int]":
      return { tuple: [randomInt(rng), randomInt(rng)] };
    case "dict[str, int]": {
      const keys = rng.shuffle(WORDS.slice(0, 12)).slice(0, rng.int(0, 4));
      return { dict: keys.map((k) => [k, rng.int(-5, 20)] as [PyValue, PyValue]) };
    }
  }
}

/** One call's argument list as an `input` fence holds it: `'abc', [1, 2]`. */
export function randomInput(params: readonly ValueType[], rng: Rng): string {
  return params.map((t) => pyRepr(randomValue(t, rng))).join(", ");
}

/** Up to `n` different argument lists for `params` (fewer only when the type has few values). */
export function distinctInputs(params: readonly ValueType[], rng: Rng, n: number): string[] {
  const seen = new Set<string>();
  for (let tries = 0; seen.size < n && tries < n * 8; tries++) seen.add(randomInput(params, rng));
  return [...seen];
}
