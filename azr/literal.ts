/**
 * Python literals, parsed in TypeScript and compared by Python's `==` (azr-spec §5.2).
 *
 * Inputs and answers are literals: parsed, never evaluated. This module is the trusted side of
 * every comparison: the sandbox returns repr text, and we parse both sides here.
 *
 * Covers: numbers (ints of any size as bigint, floats, unary +/-), strings and bytes (all
 * prefixes, escapes, implicit concatenation), True/False/None, tuples, lists, dicts, sets,
 * `set()`, the float names `inf` / `nan`; argument lists with `name=literal` keywords;
 * equality with `1 == 1.0 == True`, unordered dicts and sets, tuple ≠ list, NaN = NaN.
 * Not: complex numbers, `\N{…}` escapes, f-strings, frozenset — each is reported as "not a
 * literal" (none of them can appear in a valid output, whose types are the exact builtins
 * listed in §5.2, so rejecting them in inputs costs nothing a proposer needs).
 *
 * Departures from the reference (azr-spec §5.2, fixed): the reference `eval`s inputs and answers
 * and compares objects with their own `__eq__`; azr parses literals and compares values here,
 * in trusted code. NaN equals NaN at the same position (Python's `==` says no).
 * A test checks this parser against CPython's `ast.literal_eval` on every seed-file value.
 */

export type PyValue =
  | { t: "none" }
  | { t: "bool"; v: boolean }
  | { t: "int"; v: bigint }
  | { t: "float"; v: number }
  | { t: "str"; v: string }
  | { t: "bytes"; v: string } // one char per byte (latin-1)
  | { t: "tuple"; items: PyValue[] }
  | { t: "list"; items: PyValue[] }
  | { t: "set"; items: PyValue[] }
  | { t: "dict"; entries: [PyValue, PyValue][] };

/** A parsed argument list: `f(*positional, **keywords)`. */
export interface PyArgs {
  positional: PyValue[];
  keywords: [string, PyValue][];
}

export class LiteralError extends Error {
  override name = "LiteralError";
}

// ---------------------------------------------------------------- tokenizer
type Tok =
  /** digits: the text is only decimal digits (set by the tokenizer's fast path). */
  | { k: "num"; text: string; digits?: boolean }
  | { k: "str"; value: string; bytes: boolean }
  | { k: "name"; text: string }
  | { k: "op"; text: string }
  | { k: "end" };

const NAME = /[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*/y;
const NUMBER = /(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|(?:\d(?:_?\d)*)?\.?\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?(?:[eE][+-]?\d(?:_?\d)*)?)[jJ]?/y;

/** One shared, frozen token per punctuation character (the parser never changes a token). */
const OP_TOKENS: Record<string, Tok> = Object.assign(Object.create(null) as Record<string, Tok>,
  Object.fromEntries([..."()[]{},:=+-"].map((c) => [c, Object.freeze({ k: "op", text: c })])));
const isDigitCode = (c: number) => c >= 48 && c <= 57;
/** Whether a character after digits could extend the number token (or make it a bad number). */
const continuesNumber = (c: number) =>
  c === 46 /* . */ || c === 95 /* _ */ || (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isQuoteCode = (c: number) => c === 39 || c === 34;

/** The string prefix (possibly "") of a string literal starting at i, else undefined:
 * `(?:[rRbBuU]|[rR][bB]|[bB][rR])?(?='|")` without a regex (this runs at every token). */
function stringPrefixAt(src: string, i: number): string | undefined {
  const c0 = src.charCodeAt(i);
  if (isQuoteCode(c0)) return "";
  const l0 = c0 | 32; // ASCII lower case
  if (l0 !== 114 /* r */ && l0 !== 98 /* b */ && l0 !== 117 /* u */) return undefined;
  if (c0 < 65 || c0 > 122) return undefined;
  const c1 = src.charCodeAt(i + 1);
  if (isQuoteCode(c1)) return src[i];
  const l1 = c1 | 32;
  if (((l0 === 114 && l1 === 98) || (l0 === 98 && l1 === 114)) && c1 >= 65 && c1 <= 122 && isQuoteCode(src.charCodeAt(i + 2))) return src.slice(i, i + 2);
  return undefined;
}

/** Match a sticky regex at position i (no slicing: long literals stay linear). */
function matchAt(re: RegExp, src: string, i: number): string | undefined {
  re.lastIndex = i;
  const m = re.exec(src);
  return m ? m[0] : undefined;
}

const SIMPLE_ESCAPES: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>,
  { "\n": "", "\\": "\\", "'": "'", '"': '"', a: "\x07", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v" });
const HEX_DIGITS: Record<number, RegExp> = { 2: /^[0-9a-fA-F]{2}$/, 4: /^[0-9a-fA-F]{4}$/, 8: /^[0-9a-fA-F]{8}$/ };
const NON_ASCII = /[^\x00-\x7f]/;

function decodeEscapes(body: string, bytes: boolean, where: number): string {
  // Most string bodies have no escape at all: nothing to decode (bytes must still be ASCII).
  if (body.indexOf("\\") < 0) {
    if (bytes && NON_ASCII.test(body)) throw new LiteralError(`non-ASCII character in a bytes literal at ${where}`);
    return body;
  }
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== "\\") {
      if (bytes && c.charCodeAt(0) > 127) throw new LiteralError(`non-ASCII character in a bytes literal at ${where}`);
      out += c;
      continue;
    }
    const n = body[++i];
    const simple = SIMPLE_ESCAPES[n];
    if (simple !== undefined) out += simple;
    else if (n >= "0" && n <= "7") {
      let oct = n;
      while (oct.length < 3 && body[i + 1] >= "0" && body[i + 1] <= "7") oct += body[++i];
      out += String.fromCharCode(parseInt(oct, 8));
    } else if (n === "x" || (!bytes && (n === "u" || n === "U"))) {
      const len = n === "x" ? 2 : n === "u" ? 4 : 8;
      const hex = body.slice(i + 1, i + 1 + len);
      if (!HEX_DIGITS[len].test(hex)) throw new LiteralError(`bad \\${n} escape at ${where}`);
      const cp = parseInt(hex, 16);
      if (cp > 0x10ffff) throw new LiteralError(`\\U escape out of range at ${where}`);
      out += String.fromCodePoint(cp);
      i += len;
    } else if (n === "N" && !bytes) throw new LiteralError(`\\N{…} escapes are not supported (at ${where})`);
    else out += "\\" + n; // Python keeps unknown escapes verbatim
  }
  return out;
}

/**
 * Deepest bracket nesting accepted, as CPython's tokenizer (MAXLEVEL): the parser recurses once
 * per level, so a degenerate answer of 10^5 `[` must be "not a literal", not a stack overflow
 * that takes the whole batch of verdicts down with it.
 */
const MAX_NESTING = 200;

function tokenize(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let level = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f") { i++; continue; }
    if (c === "\\" && (src[i + 1] === "\n" || (src[i + 1] === "\r" && src[i + 2] === "\n"))) { i += src[i + 1] === "\n" ? 2 : 3; continue; }
    if (c === "#") { // a comment runs to the end of the line, as in the call f(<input>)
      while (i < src.length && src[i] !== "\n") i++;
      continue;
    }
    const pre = stringPrefixAt(src, i);
    if (pre !== undefined) {
      const prefix = pre.toLowerCase();
      const raw = prefix.includes("r");
      const bytes = prefix.includes("b");
      let j = i + pre.length;
      const q = src[j];
      const qc = q.charCodeAt(0);
      const triple = src.charCodeAt(j + 1) === qc && src.charCodeAt(j + 2) === qc;
      const quote = triple ? q.repeat(3) : q;
      j += quote.length;
      const bodyStart = j;
      for (;;) {
        if (j >= src.length) throw new LiteralError(`unterminated string starting at ${i}`);
        const cj = src.charCodeAt(j);
        if (cj === 92 /* \\ */) { j += 2; continue; }
        if (cj === qc && (!triple || (src.charCodeAt(j + 1) === qc && src.charCodeAt(j + 2) === qc))) break;
        if (!triple && cj === 10) throw new LiteralError(`newline inside a single-quoted string at ${j}`);
        j++;
      }
      const body = src.slice(bodyStart, j);
      toks.push({ k: "str", value: raw ? body : decodeEscapes(body, bytes, i), bytes });
      if (raw && bytes && /[^\x00-\x7f]/.test(body)) throw new LiteralError(`non-ASCII character in a bytes literal at ${i}`);
      i = j + quote.length;
      continue;
    }
    const cc = src.charCodeAt(i);
    if (cc >= 48 && cc <= 57) {
      // A plain run of decimal digits (most numbers in reprs): no regex needed.
      let j = i + 1;
      while (j < src.length && isDigitCode(src.charCodeAt(j))) j++;
      if (j >= src.length || !continuesNumber(src.charCodeAt(j))) {
        toks.push({ k: "num", text: src.slice(i, j), digits: true });
        i = j;
        continue;
      }
    }
    if ((cc >= 48 && cc <= 57) || (c === "." && isDigitCode(src.charCodeAt(i + 1)))) {
      const m = matchAt(NUMBER, src, i);
      if (!m) throw new LiteralError(`bad number at ${i}`);
      if (/[A-Za-z_0-9]/.test(src[i + m.length] ?? "")) throw new LiteralError(`bad number '${src.slice(i, i + m.length + 1)}' at ${i}`);
      toks.push({ k: "num", text: m });
      i += m.length;
      continue;
    }
    // Punctuation before names: it is most tokens of a repr, and no name starts with it.
    const op = OP_TOKENS[c];
    if (op !== undefined) {
      if (c === "=" && src[i + 1] === "=") throw new LiteralError(`operator '==' is not allowed in a literal (at ${i})`);
      if (c === "(" || c === "[" || c === "{") {
        if (++level > MAX_NESTING) throw new LiteralError(`brackets nested deeper than ${MAX_NESTING} (at ${i})`);
      } else if ((c === ")" || c === "]" || c === "}") && level > 0) level--;
      toks.push(op);
      i++;
      continue;
    }
    const nm = matchAt(NAME, src, i);
    if (nm) {
      if (/^(?:[fF]|[fF][rR]|[rR][fF])$/.test(nm) && /['"]/.test(src[i + nm.length] ?? "")) {
        throw new LiteralError(`an f-string is not a literal (at ${i})`);
      }
      toks.push({ k: "name", text: nm });
      i += nm.length;
      continue;
    }
    throw new LiteralError(`unexpected '${c}' at ${i}: only literals are allowed`);
  }
  toks.push({ k: "end" });
  return toks;
}

// ---------------------------------------------------------------- parser
function parseNumber(text: string, digits = false): PyValue {
  if (digits && (text.length === 1 || text.charCodeAt(0) !== 48)) return { t: "int", v: BigInt(text) };
  if (/[jJ]$/.test(text)) throw new LiteralError(`complex number ${text} is not supported`);
  const t = text.replace(/_/g, "");
  if (/^0[xX]/.test(t) || /^0[oO]/.test(t) || /^0[bB]/.test(t)) return { t: "int", v: BigInt(t.toLowerCase()) };
  if (/^\d+$/.test(t)) {
    if (t.length > 1 && /^0+[1-9]/.test(t)) throw new LiteralError(`leading zeros in decimal integer '${text}'`);
    return { t: "int", v: BigInt(t) };
  }
  return { t: "float", v: Number(t) };
}

class Parser {
  pos = 0;
  constructor(readonly toks: Tok[]) {}

  peek(): Tok { return this.toks[this.pos]; }
  isOp(text: string): boolean { const t = this.peek(); return t.k === "op" && t.text === text; }
  expectOp(text: string): void {
    if (!this.isOp(text)) throw new LiteralError(`expected '${text}', found ${describe(this.peek())}`);
    this.pos++;
  }
  atEnd(): boolean { return this.peek().k === "end"; }

  /** One literal value (no top-level commas). */
  value(): PyValue {
    const t = this.peek();
    if (t.k === "op" && (t.text === "-" || t.text === "+")) {
      // one sign directly on a number (or inf/nan), as Python's literal_eval allows
      this.pos++;
      const n = this.peek();
      if (!(n.k === "num" || (n.k === "name" && (n.text === "inf" || n.text === "nan")))) {
        throw new LiteralError(`unary '${t.text}' applies only to a number, found ${describe(n)}`);
      }
      const v = this.value();
      if (v.t === "int") return t.text === "-" ? { t: "int", v: -v.v } : v;
      if (v.t === "float") return t.text === "-" ? { t: "float", v: -v.v } : v;
      throw new LiteralError(`unary '${t.text}' applies only to numbers`);
    }
    this.pos++;
    if (t.k === "num") return parseNumber(t.text, t.digits);
    if (t.k === "str") {
      let value = t.value;
      while (this.peek().k === "str") {
        const n = this.peek() as Extract<Tok, { k: "str" }>;
        if (n.bytes !== t.bytes) throw new LiteralError("cannot mix bytes and str literals");
        value += n.value;
        this.pos++;
      }
      return t.bytes ? { t: "bytes", v: value } : { t: "str", v: value };
    }
    if (t.k === "name") {
      switch (t.text) {
        case "True": return { t: "bool", v: true };
        case "False": return { t: "bool", v: false };
        case "None": return { t: "none" };
        case "inf": return { t: "float", v: Infinity };
        case "nan": return { t: "float", v: NaN };
        case "set":
          if (this.isOp("(")) { this.pos++; this.expectOp(")"); return { t: "set", items: [] }; }
      }
      throw new LiteralError(`name '${t.text}' is not a literal (calls and variables are not allowed)`);
    }
    if (t.k === "op" && t.text === "(") {
      if (this.isOp(")")) { this.pos++; return { t: "tuple", items: [] }; }
      const first = this.value();
      if (this.isOp(")")) { this.pos++; return first; } // parenthesised value
      const items = [first];
      while (this.isOp(",")) {
        this.pos++;
        if (this.isOp(")")) break;
        items.push(this.value());
      }
      this.expectOp(")");
      return { t: "tuple", items };
    }
    if (t.k === "op" && t.text === "[") return { t: "list", items: this.sequence("]") };
    if (t.k === "op" && t.text === "{") {
      if (this.isOp("}")) { this.pos++; return { t: "dict", entries: [] }; }
      const first = this.value();
      if (this.isOp(":")) {
        this.pos++;
        const entries: [PyValue, PyValue][] = [[first, this.value()]];
        while (this.isOp(",")) {
          this.pos++;
          if (this.isOp("}")) break;
          const k = this.value();
          this.expectOp(":");
          entries.push([k, this.value()]);
        }
        this.expectOp("}");
        return makeDict(entries);
      }
      const items = [first];
      while (this.isOp(",")) {
        this.pos++;
        if (this.isOp("}")) break;
        items.push(this.value());
      }
      this.expectOp("}");
      return makeSet(items);
    }
    throw new LiteralError(`unexpected ${describe(t)}`);
  }

  sequence(close: string): PyValue[] {
    const items: PyValue[] = [];
    while (!this.isOp(close)) {
      items.push(this.value());
      if (!this.isOp(",")) break;
      this.pos++;
    }
    this.expectOp(close);
    return items;
  }
}

function describe(t: Tok): string {
  return t.k === "end" ? "end of text" : t.k === "str" ? "a string" : `'${t.text}'`;
}

function assertHashable(v: PyValue, what: string): void {
  if (v.t === "list" || v.t === "dict" || v.t === "set") throw new LiteralError(`unhashable ${v.t} used as a ${what}`);
  if (v.t === "tuple") v.items.forEach((x) => assertHashable(x, what));
}

/** Python's dict display: later duplicate keys overwrite the value, the first key object stays. */
function makeDict(entries: [PyValue, PyValue][]): PyValue {
  const index = new Map<string, number>();
  const out: [PyValue, PyValue][] = [];
  for (const [k, v] of entries) {
    assertHashable(k, "dict key");
    const key = hashKey(k);
    const at = index.get(key);
    if (at === undefined) { index.set(key, out.length); out.push([k, v]); }
    else out[at] = [out[at][0], v];
  }
  return { t: "dict", entries: out };
}

function makeSet(items: PyValue[]): PyValue {
  const seen = new Set<string>();
  const out: PyValue[] = [];
  for (const x of items) {
    assertHashable(x, "set element");
    const key = hashKey(x);
    if (!seen.has(key)) { seen.add(key); out.push(x); }
  }
  return { t: "set", items: out };
}

// ---------------------------------------------------------------- public API
/** Parse one literal value. Top-level commas make a tuple, as Python's `eval("1, 2")` does. */
export function parseLiteral(text: string): PyValue {
  const p = new Parser(tokenize(text));
  if (p.atEnd()) throw new LiteralError("empty text is not a literal");
  const first = p.value();
  if (p.atEnd()) return first;
  const items = [first];
  while (p.isOp(",")) {
    p.pos++;
    if (p.atEnd()) break;
    items.push(p.value());
  }
  if (!p.atEnd()) throw new LiteralError(`unexpected ${describe(p.peek())} after the literal`);
  return { t: "tuple", items };
}

/** Parse a call's argument list: positional literals, then `name=literal` keywords. "" → no args. */
export function parseArgs(text: string): PyArgs {
  const p = new Parser(tokenize(text));
  const out: PyArgs = { positional: [], keywords: [] };
  while (!p.atEnd()) {
    const t = p.peek();
    const next = p.toks[p.pos + 1];
    if (t.k === "name" && next?.k === "op" && next.text === "=") {
      p.pos += 2;
      if (out.keywords.some(([n]) => n === t.text)) throw new LiteralError(`keyword argument '${t.text}' repeated`);
      out.keywords.push([t.text, p.value()]);
    } else {
      if (t.k === "op" && t.text === "*") throw new LiteralError("starred arguments are not allowed");
      if (out.keywords.length > 0) throw new LiteralError("positional argument follows keyword argument");
      out.positional.push(p.value());
    }
    if (p.atEnd()) break;
    p.expectOp(",");
  }
  return out;
}

/** Parse, or undefined when the text is not a literal (callers that only need a yes/no). */
export function tryParseLiteral(text: string): PyValue | undefined {
  try { return parseLiteral(text); } catch (e) { if (e instanceof LiteralError) return undefined; throw e; }
}

export function tryParseArgs(text: string): PyArgs | undefined {
  try { return parseArgs(text); } catch (e) { if (e instanceof LiteralError) return undefined; throw e; }
}

// ---------------------------------------------------------------- equality
function numeric(v: PyValue): { int: bigint } | { float: number } | undefined {
  if (v.t === "bool") return { int: v.v ? 1n : 0n };
  if (v.t === "int") return { int: v.v };
  if (v.t === "float") return { float: v.v };
  return undefined;
}

function numEqual(a: { int: bigint } | { float: number }, b: { int: bigint } | { float: number }): boolean {
  if ("int" in a && "int" in b) return a.int === b.int;
  if ("float" in a && "float" in b) return a.float === b.float || (Number.isNaN(a.float) && Number.isNaN(b.float));
  const [i, f] = "int" in a ? [a.int, (b as { float: number }).float] : [(b as { int: bigint }).int, (a as { float: number }).float];
  return Number.isInteger(f) && BigInt(f) === i; // exact, as Python compares int with float
}

/** Python `==` on parsed values, except that NaN equals NaN at the same position (§5.2). */
export function pyEqual(a: PyValue, b: PyValue): boolean {
  const na = numeric(a), nb = numeric(b);
  if (na || nb) return !!na && !!nb && numEqual(na, nb);
  if (a.t !== b.t) return false;
  switch (a.t) {
    case "none": return true;
    case "str": case "bytes": return a.v === (b as typeof a).v;
    case "tuple": case "list": {
      const bi = (b as typeof a).items;
      return a.items.length === bi.length && a.items.every((x, i) => pyEqual(x, bi[i]));
    }
    case "set": {
      const bs = b as typeof a;
      if (a.items.length !== bs.items.length) return false;
      const keys = new Set(bs.items.map(hashKey));
      return a.items.every((x) => keys.has(hashKey(x)));
    }
    case "dict": {
      const bd = b as typeof a;
      if (a.entries.length !== bd.entries.length) return false;
      const byKey = new Map(bd.entries.map(([k, v]) => [hashKey(k), v] as const));
      return a.entries.every(([k, v]) => { const w = byKey.get(hashKey(k)); return w !== undefined && pyEqual(v, w); });
    }
  }
  return false;
}

export function argsEqual(a: PyArgs, b: PyArgs): boolean {
  if (a.positional.length !== b.positional.length || a.keywords.length !== b.keywords.length) return false;
  if (!a.positional.every((x, i) => pyEqual(x, b.positional[i]))) return false;
  const kb = new Map(b.keywords);
  return a.keywords.every(([n, v]) => kb.has(n) && pyEqual(v, kb.get(n)!));
}

/**
 * A string key such that equal values (by {@link pyEqual}) get equal keys: ints, bools and
 * integral floats share one numeric form; dicts and sets are keyed order-independently.
 * Used for dict/set identity, de-duplication and the diversity counters.
 */
export function hashKey(v: PyValue): string {
  switch (v.t) {
    case "none": return "N";
    case "bool": return `n${v.v ? 1 : 0}`;
    case "int": return `n${v.v}`;
    case "float":
      if (Number.isNaN(v.v)) return "nan";
      if (Number.isInteger(v.v)) return `n${BigInt(v.v)}`;
      return `n${v.v}`;
    case "str": return `s${JSON.stringify(v.v)}`;
    case "bytes": return `b${JSON.stringify(v.v)}`;
    case "tuple": return `t(${v.items.map(hashKey).join(",")})`;
    case "list": return `l[${v.items.map(hashKey).join(",")}]`;
    case "set": return `S{${v.items.map(hashKey).sort().join(",")}}`;
    case "dict": return `d{${v.entries.map(([k, x]) => `${hashKey(k)}:${hashKey(x)}`).sort().join(",")}}`;
  }
}

/** Key of an argument list (positional in order, keywords by name). */
export function argsKey(a: PyArgs): string {
  const kw = [...a.keywords].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  return `(${a.positional.map(hashKey).join(",")};${kw.map(([n, v]) => `${n}=${hashKey(v)}`).join(",")})`;
}

/** Python's type name of a value (`int`, `str`, `dict`, …), for the value-type counters. */
export function pyTypeName(v: PyValue): string {
  return v.t === "none" ? "NoneType" : v.t;
}

/** Compare two repr texts as literals; false if either does not parse. */
export function literalTextsEqual(a: string, b: string): boolean {
  const x = tryParseLiteral(a), y = tryParseLiteral(b);
  return x !== undefined && y !== undefined && pyEqual(x, y);
}
