/**
 * A small Python tokenizer, enough to read a proposed program's structure without running it:
 * its `def`s (count, names, order), its import statements, renaming the entry function, a
 * whitespace-insensitive key for de-duplication, token counts for the complexity rewards, and
 * the comment / docstring / module-statement stripping of seeding (§4.2). Tests check the def,
 * import and stripping results against CPython's `ast` on every published seed program.
 *
 * Covers: names, numbers, strings (all prefixes, triple quotes, escapes), comments, operators,
 * bracket depth, logical lines (implicit joins inside brackets, backslash continuations) and
 * indentation levels. Not: a full grammar — scope analysis and AST checks belong to the
 * executor's Python side (the sandbox parses with `ast` before it runs anything). When this
 * tokenizer and Python disagree (nested f-string quotes of Python 3.12), the worst case is a
 * wrong def count on a program that Python's own parse then rejects or accepts on its own.
 *
 * Departures from the reference (azr-spec §5.1):
 * - the entry function is renamed by tokens, not text substitution: names inside strings and
 *   comments, attribute names (`obj.name(`) and keyword-argument names are left alone; names
 *   inside f-string replacement fields are renamed. Not scope-resolved: a parameter or local
 *   variable that shadows the entry function's own name is renamed with it (CPython agrees on
 *   every published seed program apart from such shadowing).
 */

export type PyTokKind = "name" | "number" | "string" | "op" | "comment";

export interface PyTok {
  kind: PyTokKind;
  text: string;
  start: number;
  end: number;
  /** Bracket depth before this token. */
  depth: number;
  /** Index of the logical line this token belongs to. */
  line: number;
  /** Indentation level (0 = module level) of its logical line. */
  indent: number;
}

const STRING_START = /^(?:[rRbBuUfF]|[rR][bBfF]|[bBfF][rR])?(?='|")/;

export class PySourceError extends Error {
  override name = "PySourceError";
}

/** Tokens of a Python source text, comments included. Throws {@link PySourceError} on an unterminated string. */
export function tokenizePython(src: string): PyTok[] {
  const toks: PyTok[] = [];
  const indents = [0];
  let i = 0, depth = 0, line = 0, indent = 0;
  let atLineStart = true; // at the start of a physical line that may begin a logical line
  let lineHasTokens = false;
  while (i < src.length) {
    if (atLineStart && depth === 0) {
      // measure indentation of a new logical line (blank and comment-only lines do not count)
      let j = i, width = 0;
      while (src[j] === " " || src[j] === "\t") { width += src[j] === "\t" ? 8 - (width % 8) : 1; j++; }
      if (src[j] !== "\n" && src[j] !== "\r" && src[j] !== "#" && j < src.length) {
        while (width < indents[indents.length - 1]) indents.pop();
        if (width > indents[indents.length - 1]) indents.push(width);
        indent = indents.length - 1;
      }
      i = j;
      atLineStart = false;
      continue;
    }
    const c = src[i];
    if (c === "\n" || c === "\r") {
      if (depth === 0 && lineHasTokens) { line++; lineHasTokens = false; }
      i++;
      atLineStart = depth === 0; // inside brackets the next physical line continues this one
      continue;
    }
    if (c === " " || c === "\t" || c === "\f") { i++; continue; }
    if (c === "\\" && (src[i + 1] === "\n" || src[i + 1] === "\r")) { i += src[i + 1] === "\r" && src[i + 2] === "\n" ? 3 : 2; continue; }
    const push = (kind: PyTokKind, end: number) => {
      toks.push({ kind, text: src.slice(i, end), start: i, end, depth, line, indent });
      if (kind !== "comment") lineHasTokens = true;
      i = end;
    };
    if (c === "#") {
      const nl = src.slice(i).search(/[\r\n]/);
      push("comment", nl < 0 ? src.length : i + nl);
      continue;
    }
    const rest = src.slice(i, i + 4);
    const pre = STRING_START.exec(rest);
    if (pre) {
      let j = i + pre[0].length;
      const q = src[j];
      const quote = src.startsWith(q.repeat(3), j) ? q.repeat(3) : q;
      j += quote.length;
      for (;;) {
        if (j >= src.length) throw new PySourceError(`unterminated string starting at offset ${i}`);
        if (src[j] === "\\") { j += 2; continue; }
        if (quote.length === 1 && src[j] === "\n") throw new PySourceError(`unterminated string on the line at offset ${i}`);
        if (src.startsWith(quote, j)) break;
        j++;
      }
      push("string", j + quote.length);
      continue;
    }
    const name = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*/.exec(src.slice(i, i + 256));
    if (name) { push("name", i + name[0].length); continue; }
    const num = /^(?:0[xXoObB][0-9a-fA-F_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?[jJ]?)/.exec(src.slice(i, i + 256));
    if (num && num[0] !== ".") { push("number", i + num[0].length); continue; }
    const op = /^(?:\*\*=|\/\/=|>>=|<<=|->|:=|\.\.\.|\*\*|\/\/|<<|>>|<=|>=|==|!=|[-+*/%&|^@]=|[-+*/%&|^~<>=.,:;@()[\]{}!])/.exec(src.slice(i, i + 3));
    if (op) {
      if ("([{".includes(op[0])) { push("op", i + 1); depth++; continue; }
      if (")]}".includes(op[0])) { depth = Math.max(0, depth - 1); push("op", i + 1); continue; }
      push("op", i + op[0].length);
      continue;
    }
    push("op", i + 1); // an unknown character: keep it as an operator so nothing is lost
  }
  return toks;
}

const code = (toks: PyTok[]) => toks.filter((t) => t.kind !== "comment");

/** Every `def` (module level, nested and methods alike) in text order. */
export function functionDefs(src: string): { name: string; indent: number; offset: number }[] {
  const t = code(tokenizePython(src));
  const out: { name: string; indent: number; offset: number }[] = [];
  for (let k = 0; k + 1 < t.length; k++) {
    if (t[k].kind === "name" && t[k].text === "def" && t[k + 1].kind === "name") {
      out.push({ name: t[k + 1].text, indent: t[k].indent, offset: t[k + 1].start });
    }
  }
  return out;
}

/** Statements split at `;` into simple statements: [first token index, last token index]. */
function simpleStatements(t: PyTok[]): [number, number][] {
  const out: [number, number][] = [];
  let start = 0;
  for (let k = 0; k <= t.length; k++) {
    const boundary = k === t.length || t[k].line !== t[start].line || (t[k].kind === "op" && t[k].text === ";" && t[k].depth === 0);
    if (!boundary) continue;
    if (k > start) out.push([start, k - 1]);
    start = k < t.length && t[k].text === ";" ? k + 1 : k;
  }
  return out.filter(([a, b]) => a <= b);
}

/**
 * The program's import statements, anywhere in the tree (inside functions too), as they appear
 * in the source with continuation lines joined by single spaces.
 */
export function importStatements(src: string): string[] {
  const t = code(tokenizePython(src));
  const out: string[] = [];
  for (const [a, b] of simpleStatements(t)) {
    // a statement begins a simple statement, or follows the ':' of a one-line compound header
    let s = a;
    for (let k = a; k <= b; k++) {
      if (t[k].kind === "op" && t[k].text === ":" && t[k].depth === 0 && k + 1 <= b && (t[k + 1].text === "import" || t[k + 1].text === "from")) s = k + 1;
    }
    if (t[s].kind === "name" && (t[s].text === "import" || (t[s].text === "from" && t.slice(s, b + 1).some((x) => x.text === "import")))) {
      out.push(src.slice(t[s].start, t[b].end).replace(/\\\r?\n/g, " ").replace(/\s+/g, " ").trim());
    }
  }
  return out;
}

/**
 * Rename every reference to function `from` to `to`: the `def` name and every use of the bare
 * name — not attribute names after `.`, not keyword-argument names (`name=` inside a call), not
 * strings or comments.
 */
export function renameFunction(src: string, from: string, to: string): string {
  const t = tokenizePython(src);
  const edits: { start: number; end: number; text: string }[] = [];
  for (let k = 0; k < t.length; k++) {
    const tok = t[k];
    if (tok.kind === "string") {
      const f = renameInFString(tok.text, from, to);
      if (f !== tok.text) edits.push({ start: tok.start, end: tok.end, text: f });
      continue;
    }
    if (tok.kind !== "name" || tok.text !== from) continue;
    let p = k - 1;
    while (p >= 0 && t[p].kind === "comment") p--;
    const prev = p >= 0 ? t[p] : undefined;
    const next = t.slice(k + 1).find((x) => x.kind !== "comment");
    if (prev?.kind === "op" && prev.text === ".") continue; // obj.from(...)
    if (tok.depth > 0 && next?.kind === "op" && next.text === "=") continue; // call(from=1)
    edits.push({ start: tok.start, end: tok.end, text: to });
  }
  let out = src;
  for (const e of edits.reverse()) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

/** Rename inside the `{…}` replacement fields of an f-string token (other strings are returned as they are). */
function renameInFString(tokText: string, from: string, to: string): string {
  const prefix = /^[A-Za-z]*/.exec(tokText)![0];
  if (!/f/i.test(prefix) || !tokText.includes(from)) return tokText;
  let out = "";
  let i = 0;
  while (i < tokText.length) {
    const c = tokText[i];
    if (c === "{" && tokText[i + 1] === "{") { out += "{{"; i += 2; continue; }
    if (c !== "{") { out += c; i++; continue; }
    // a replacement field: find its matching close brace, skipping nested quotes
    let depth = 0, j = i, quote = "";
    for (; j < tokText.length; j++) {
      const d = tokText[j];
      if (quote) { if (d === quote) quote = ""; continue; }
      if (d === "'" || d === '"') { quote = d; continue; }
      if (d === "{") depth++;
      else if (d === "}" && --depth === 0) break;
    }
    const expr = tokText.slice(i + 1, j);
    let renamed = expr;
    try { renamed = renameFunction(expr, from, to); } catch { /* leave an unreadable field alone */ }
    out += "{" + renamed + (j < tokText.length ? "}" : "");
    i = j + 1;
  }
  return out;
}

/**
 * A key equal for two programs that differ only in whitespace between tokens, blank lines and
 * the width of indentation — while distinct indentation *structure*, string contents and
 * comments keep programs distinct (azr-spec §4.1 "program text with whitespace normalised").
 */
export function normalisedProgramKey(src: string): string {
  let t: PyTok[];
  try { t = tokenizePython(src); } catch { return src.replace(/\s+/g, " ").trim(); }
  const lines: string[] = [];
  let cur = -1;
  for (const tok of t) {
    if (tok.line !== cur) { cur = tok.line; lines.push(`${"\t".repeat(tok.indent)}`); }
    lines[lines.length - 1] += (lines[lines.length - 1].endsWith("\t") || lines[lines.length - 1] === "" ? "" : " ") + tok.text;
  }
  return lines.join("\n");
}

/** Keywords that open a branch or a loop: the decision points of cyclomatic complexity. */
const DECISION_KEYWORDS = new Set(["if", "elif", "for", "while", "except", "and", "or", "case", "assert"]);
const PY_KEYWORDS = new Set([
  "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif",
  "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or",
  "pass", "raise", "return", "try", "while", "with", "yield",
]);

/** McCabe-style cyclomatic complexity over tokens: 1 + decision points (comprehension `if`/`for` count). */
export function cyclomaticComplexity(src: string): number {
  const t = code(tokenizePython(src));
  return 1 + t.filter((x) => x.kind === "name" && DECISION_KEYWORDS.has(x.text)).length;
}

/**
 * Halstead measures from tokens: operators are keywords and operator symbols, operands are
 * names, numbers and strings. Returns volume V, difficulty D, effort E = D·V and the program
 * length N. A token-level reading (radon works on the AST); close enough for a research reward.
 */
export function halstead(src: string): { volume: number; difficulty: number; effort: number; length: number } {
  const t = code(tokenizePython(src)).filter((x) => !(x.kind === "op" && ")]}".includes(x.text)));
  const ops = new Map<string, number>(), opnds = new Map<string, number>();
  for (const x of t) {
    const isOp = x.kind === "op" || (x.kind === "name" && PY_KEYWORDS.has(x.text));
    const m = isOp ? ops : opnds;
    m.set(x.text, (m.get(x.text) ?? 0) + 1);
  }
  const n1 = ops.size, n2 = opnds.size;
  const N1 = [...ops.values()].reduce((a, b) => a + b, 0), N2 = [...opnds.values()].reduce((a, b) => a + b, 0);
  const n = n1 + n2, N = N1 + N2;
  const volume = n > 0 ? N * Math.log2(n) : 0;
  const difficulty = n2 > 0 ? (n1 / 2) * (N2 / n2) : 0;
  return { volume, difficulty, effort: difficulty * volume, length: N };
}

interface LogicalLine {
  first: PyTok;
  last: PyTok;
  /** Code tokens of the line (no comments). */
  toks: PyTok[];
}

function logicalLines(all: PyTok[]): LogicalLine[] {
  const lines: LogicalLine[] = [];
  for (const t of all) {
    if (t.kind === "comment") continue;
    const cur = lines.at(-1);
    if (cur && cur.first.line === t.line) { cur.toks.push(t); cur.last = t; }
    else lines.push({ first: t, last: t, toks: [t] });
  }
  return lines;
}

/**
 * The first module-level statement (outside every def and class body; blocks such as
 * `if __name__ == "__main__":` count as module level) that is test code: an `assert`, a call of
 * `print`, or a call of one of `callees` (the entry function). What
 * `validation.rejectTestCodeInProgram` refuses (azr-spec §5.3, check 8). Undefined when none.
 */
export function moduleLevelTestCode(src: string, callees: readonly string[]): string | undefined {
  let bodyOf = -1; // indentation of the def/class whose body the following lines belong to; -1: none
  for (const l of logicalLines(tokenizePython(src))) {
    const indent = l.first.indent;
    if (bodyOf >= 0 && indent > bodyOf) continue;
    bodyOf = -1;
    const head = l.first.text === "async" ? l.toks[1]?.text : l.first.text;
    if (head === "def" || head === "class") { bodyOf = indent; continue; }
    if (l.first.text === "@") continue; // a decorator: its def follows
    const t = l.toks;
    for (let k = 0; k < t.length; k++) {
      if (t[k].kind !== "name" || (k > 0 && t[k - 1].text === ".")) continue;
      const called = t[k + 1]?.text === "(" && (t[k].text === "print" || callees.includes(t[k].text));
      if (t[k].text === "assert" || called) return src.slice(l.first.start, l.last.end);
    }
  }
  return undefined;
}

/**
 * What seeding keeps of a program (azr-spec §4.2): comments, docstrings and module-level
 * statements other than imports, functions (with their decorators) and classes are removed;
 * a body left empty by a removed docstring gets `pass`. Self-play proposals are never stripped.
 */
export function stripForSeeding(src: string): string {
  const all = tokenizePython(src);
  const lines = logicalLines(all);
  const lineStart = (pos: number) => src.lastIndexOf("\n", pos - 1) + 1;
  const lineEnd = (pos: number) => { const n = src.indexOf("\n", pos); return n < 0 ? src.length : n + 1; };
  const cuts: { from: number; to: number; insert?: string }[] = [];
  const KEEP_AT_TOP = new Set(["import", "from", "def", "class", "async", "@"]);
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const span = { from: lineStart(l.first.start), to: lineEnd(l.last.end - 1) };
    if (l.first.indent === 0 && !KEEP_AT_TOP.has(l.first.text)) {
      // a module-level statement and the block under it, up to the next module-level line
      let j = i + 1;
      while (j < lines.length && lines[j].first.indent > 0) j++;
      cuts.push({ from: span.from, to: j < lines.length ? lineStart(lines[j].first.start) : src.length });
      i = j - 1;
      continue;
    }
    const onlyStrings = l.toks.every((t) => t.kind === "string");
    if (!onlyStrings) continue;
    const prev = lines[i - 1];
    const opensBody = prev && prev.last.text === ":" && ["def", "class", "async"].includes(prev.first.text) && l.first.indent > prev.first.indent;
    if (!opensBody) continue;
    const next = lines[i + 1];
    const bodyEmpty = !next || next.first.indent <= prev.first.indent;
    const indentText = src.slice(span.from, l.first.start);
    cuts.push({ ...span, insert: bodyEmpty ? `${indentText}pass\n` : undefined });
  }
  for (const c of all) if (c.kind === "comment") cuts.push({ from: c.start, to: c.end });
  // merge overlapping cuts (a comment inside a removed block, a block inside a removed block)
  cuts.sort((a, b) => a.from - b.from || b.to - a.to);
  const merged: typeof cuts = [];
  for (const c of cuts) {
    const m = merged.at(-1);
    if (m && c.from < m.to) { if (c.to > m.to) { m.to = c.to; m.insert = undefined; } continue; }
    merged.push({ ...c });
  }
  let out = src;
  for (const c of merged.reverse()) out = out.slice(0, c.from) + (c.insert ?? "") + out.slice(c.to);
  // drop lines left blank (only whitespace) outside strings, and trailing spaces before newlines
  const strings = tokenizePython(out).filter((t) => t.kind === "string");
  const inString = (pos: number) => strings.some((s) => pos > s.start && pos < s.end);
  const kept: string[] = [];
  let pos = 0;
  for (const line of out.split("\n")) {
    const keep = line.trim() !== "" || inString(pos);
    if (keep) kept.push(inString(pos + line.length) ? line : line.replace(/[ \t]+$/, ""));
    pos += line.length + 1;
  }
  const text = kept.join("\n");
  return out.endsWith("\n") && text !== "" ? text + "\n" : text;
}
