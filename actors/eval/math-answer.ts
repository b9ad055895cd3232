/**
 * Math answers as text: extraction from a response, normalisation, and a LaTeX reader that
 * writes a sympy expression (spec §10).
 *
 * Covers: the last `\boxed{}` inside `<answer>` with the spec's fallbacks; normalisation
 * (`\left`/`\right`, `\text{}`, `$`, degrees, percent, `\dfrac`/`\tfrac`, thousands separators,
 * trailing `.0`, units except for Minerva, `x =` prefixes); splitting tuples, intervals and
 * lists, `a \pm b` as its two values; numbers with a base subscript (`1011_2`); LaTeX → a sympy expression limited to an allowlist of names, so the text handed to
 * sympy's parser can only be arithmetic. Not: deciding equality (math-equiv.ts).
 *
 * Departures: the reference uses math_verify (an ANTLR LaTeX grammar); we read the subset that
 * benchmark answers use and call anything else malformed (then only exact text matches).
 */
import { extractAnswer } from "../../azr/answer.ts";

/** Content of every `\boxed{…}` / `\fbox{…}` (braces balanced), in order; `\boxed 5` too. */
export function boxedContents(text: string): string[] {
  const out: string[] = [];
  const re = /\\(?:boxed|fbox)\s*/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    let i = m.index + m[0].length;
    if (text[i] === "{") {
      let depth = 0;
      const start = i + 1;
      for (; i < text.length; i++) {
        if (text[i] === "{") depth++;
        else if (text[i] === "}" && --depth === 0) break;
      }
      if (depth === 0) out.push(text.slice(start, i));
    } else {
      const word = /^[^\s$]+/.exec(text.slice(i));
      if (word) out.push(word[0]);
    }
  }
  return out;
}

/**
 * The answer of a response: with `<answer>`, the last `\boxed{}` inside it, else its text;
 * without, the last `\boxed{}` anywhere, else the first `\[…\]` block, else "".
 */
export function extractMathAnswer(response: string): string {
  if (response.includes("<answer>")) {
    const ans = extractAnswer(response);
    return boxedContents(ans).at(-1) ?? ans;
  }
  const boxed = boxedContents(response).at(-1);
  if (boxed !== undefined) return boxed;
  const display = /\\\[([\s\S]*?)\\\]/.exec(response);
  return display ? display[1].trim() : "";
}

const UNIT_WORDS = [
  "units?", "square units", "sq units", "cm", "centimeters?", "mm", "m", "meters?", "km", "kilometers?", "inch(es)?", "in", "feet", "foot", "ft",
  "yards?", "miles?", "mph", "hours?", "minutes?", "seconds?", "sec", "days?", "weeks?", "years?", "dollars?", "cents?", "degrees?", "points?",
  "people", "students?", "ways", "pounds?", "lbs?", "kg", "grams?", "g", "liters?", "ml", "gallons?", "cubic \\w+", "square \\w+",
];
const UNIT_TAIL = new RegExp(`^(.*?\\d[\\d.]*)\\s*(?:\\\\(?:text|mbox|mathrm)\\{\\s*(?:${UNIT_WORDS.join("|")})\\s*\\}|\\s(?:${UNIT_WORDS.join("|")}))(\\^?\\{?[23]\\}?)?$`, "i");

/** Replace `\cmd{x}` by `x` for the given commands (balanced braces). */
function unwrapCommand(s: string, cmds: string[]): string {
  const re = new RegExp(`\\\\(?:${cmds.join("|")})\\s*\\{`, "g");
  for (let m = re.exec(s); m; m = re.exec(s)) {
    let depth = 1;
    let i = m.index + m[0].length;
    for (; i < s.length && depth > 0; i++) {
      if (s[i] === "{") depth++;
      else if (s[i] === "}") depth--;
    }
    if (depth !== 0) break;
    s = s.slice(0, m.index) + s.slice(m.index + m[0].length, i - 1) + s.slice(i);
    re.lastIndex = m.index;
  }
  return s;
}

export interface NormaliseOptions {
  /** Strip units (off for Minerva, whose answers are physical quantities with their units). */
  units: boolean;
}

/** The canonical text of an answer; equal texts are equal answers. */
export function normaliseMath(answer: string, o: NormaliseOptions = { units: true }): string {
  let s = answer.trim();
  s = s.replace(/^\$+|\$+$/g, "").replace(/\\\$/g, "").replace(/\$/g, "");
  s = s.replace(/\\\[|\\\]|\\\(|\\\)/g, "");
  // `\\` (a matrix row break) is matched first and kept, so `\\ ` is not read as `\` + the space command `\ `
  s = s.replace(/\\\\|\\left|\\right|\\displaystyle|\\!|\\,|\\;|\\:|\\ |~/g, (m) => (m === "\\\\" ? m : " "));
  s = s.replace(/\{,\}/g, ","); // 12{,}000: LaTeX's thousands separator
  s = s.replace(/\\[dt]frac/g, "\\frac");
  s = s.replace(/\^\s*\{?\s*\\circ\s*\}?|°|\\degree/g, "");
  s = s.replace(/\\%|%/g, "");
  if (o.units) {
    const m = UNIT_TAIL.exec(s.trim());
    if (m) s = m[1];
  }
  s = unwrapCommand(s, ["text", "textbf", "mathrm", "mathbf", "mbox", "operatorname"]);
  s = s.replace(/\\le\b/g, "\\leq").replace(/\\ge\b/g, "\\geq");
  s = s.replace(/\\sqrt\s*(\w)/g, "\\sqrt{$1}");
  s = s.replace(/\\frac\s*(\d)\s*(\d)/g, "\\frac{$1}{$2}");
  // Spaces go, except one that ends a command before a letter: `\pi r`, `\sin x` glued would be
  // the unknown commands `\pir`, `\sinx`.
  s = s.replace(/(\\[a-zA-Z]+)?\s+(?=([a-zA-Z])?)/g, (_m, cmd: string | undefined, next: string | undefined) => (cmd ? cmd + (next ? " " : "") : ""));
  s = s.replace(/\.$/, "");
  // "x = 5", "k=3", "x \in [-2,7]": the value (only one =, a plain variable on the left).
  const eq = /^([a-zA-Z](?:_\{?\w+\}?)?|\\[a-zA-Z]+)(?:=|\\in(?![a-zA-Z]))([^=]+)$/.exec(s);
  if (eq) s = eq[2];
  if (/^-?\d{1,3}(,\d{3})+(\.\d+)?$/.test(s)) s = s.replace(/,/g, "");
  s = s.replace(/(^|[^\d])\.(\d)/g, "$10.$2");
  s = s.replace(/^(-?\d+)\.0+$/, "$1");
  s = s.replace(/^(-?\d+\.\d*?[1-9])0+$/, "$1");
  return s;
}

/** Split on commas at depth 0 (outside (), [], {}). */
export function splitTopLevel(s: string, sep = ","): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = "";
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if ("([{".includes(ch)) depth++;
    else if (")]}".includes(ch)) depth--;
    if (depth === 0 && s.startsWith(sep, i)) {
      parts.push(cur);
      cur = "";
      i += sep.length - 1;
      continue;
    }
    cur += ch;
  }
  parts.push(cur);
  return parts;
}

export type Structured =
  | { kind: "atom"; text: string }
  /** A tuple (…), an interval (…] etc., a set \{…\}, or a bare comma list. */
  | { kind: "seq"; open: string; close: string; items: string[] }
  | { kind: "union"; parts: string[] };

function matching(s: string): boolean {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    if ("([{".includes(s[i])) depth++;
    else if (")]}".includes(s[i])) depth--;
    if (depth === 0 && i < s.length - 1) return false;
  }
  return depth === 0;
}

const PLUS_MINUS = /\\(pm|mp)(?![a-zA-Z])/g;

/**
 * The values an answer with `\pm` / `\mp` stands for: `1 \pm \sqrt{2}` is the two values
 * `1+\sqrt{2}` and `1-\sqrt{2}` (MATH's golds list roots this way). Every `\pm` of one
 * expression takes the same sign and every `\mp` the other, as in `a \pm b \mp c`; an
 * expression without either is itself.
 */
export function expandPlusMinus(s: string): string[] {
  if (!s.match(PLUS_MINUS)) return [s];
  return ["+", "-"].map((sign) => s.replace(PLUS_MINUS, (_m, op: string) => (op === "pm" ? sign : sign === "+" ? "-" : "+")));
}

/**
 * A whole number written with its base as a subscript, `1011_2` or `4210_{5}` (MATH's
 * number-theory golds), or bare digits: its digits (upper case, no leading zeros) and base.
 * Undefined for anything else, including digits the base does not have (`19_8`) and letters
 * alone (`a_{12}` is a variable).
 */
export function baseNumeral(s: string): { digits: string; base?: number } | undefined {
  const m = /^([0-9A-Za-z]+)(?:_\{?(\d+)\}?)?$/.exec(s);
  if (!m || !/\d/.test(m[1])) return undefined;
  const base = m[2] === undefined ? undefined : Number(m[2]);
  if (base !== undefined && (base < 2 || base > 36)) return undefined;
  const digits = m[1].toUpperCase().replace(/^0+(?=.)/, "");
  if ([...digits].some((d) => parseInt(d, 36) >= (base ?? 10))) return undefined;
  return { digits, base };
}

/** The shape of a normalised answer: a union of pieces, a bracketed sequence, a bare list, or one value. */
export function structure(s: string): Structured {
  const union = splitTopLevel(s, "\\cup");
  if (union.length > 1) return { kind: "union", parts: union };
  // A matrix (MATH's vectors are pmatrix columns): its rows in order, each row's cells in order.
  const matrix = /^\\begin\{([pbBvV]?matrix)\}([\s\S]*)\\end\{\1\}$/.exec(s);
  if (matrix) {
    const rows = splitTopLevel(matrix[2], "\\\\").filter((r) => r !== "").map((r) => splitTopLevel(r, "&"));
    return { kind: "seq", open: "matrix", close: "matrix", items: rows.map((cells) => (cells.length > 1 ? `(${cells.join(",")})` : cells[0])) };
  }
  // A set or a bare list of roots may give some as `a \pm b`: each stands for its two values.
  if (s.startsWith("\\{") && s.endsWith("\\}")) {
    return { kind: "seq", open: "{", close: "}", items: splitTopLevel(s.slice(2, -2)).flatMap(expandPlusMinus) };
  }
  if (/^[([]/.test(s) && /[)\]]$/.test(s) && matching(s.replace(/^\[/, "(").replace(/\]$/, ")"))) {
    const items = splitTopLevel(s.slice(1, -1));
    if (items.length > 1) return { kind: "seq", open: s[0], close: s.at(-1)!, items };
  }
  // Tuple and interval items keep their \pm: which of a point's coordinates go together is not said.
  const items = splitTopLevel(s).flatMap(expandPlusMinus);
  if (items.length > 1) return { kind: "seq", open: "", close: "", items };
  return { kind: "atom", text: s };
}

const FUNCTIONS: Record<string, string> = {
  sin: "sin", cos: "cos", tan: "tan", cot: "cot", sec: "sec", csc: "csc", arcsin: "asin", arccos: "acos", arctan: "atan",
  ln: "log", log: "log", exp: "exp", sqrt: "sqrt",
};
const CONSTANTS: Record<string, string> = { pi: "pi", infty: "oo", infinity: "oo" };
const OPERATORS: Record<string, string> = { cdot: "*", times: "*", div: "/" };
const GREEK = ["alpha", "beta", "gamma", "delta", "theta", "phi", "lambda", "mu", "omega", "sigma", "rho", "tau", "epsilon"];
const ALLOWED_NAMES = new Set(["sqrt", "pi", "oo", "E", "I", "log", "exp", "sin", "cos", "tan", "cot", "sec", "csc", "asin", "acos", "atan", "binomial", "Abs"]);

export class LatexError extends Error {
  override name = "LatexError";
}

/** A braced group `{…}` or one token at i; returns its content and the index after it. */
function group(s: string, i: number): [string, number] {
  while (s[i] === " ") i++;
  if (s[i] === "{") {
    let depth = 0;
    for (let j = i; j < s.length; j++) {
      if (s[j] === "{") depth++;
      else if (s[j] === "}" && --depth === 0) return [s.slice(i + 1, j), j + 1];
    }
    throw new LatexError("unbalanced braces");
  }
  if (s[i] === "\\") {
    const m = /^\\[a-zA-Z]+/.exec(s.slice(i));
    if (m) return [m[0], i + m[0].length];
  }
  if (i >= s.length) throw new LatexError("missing argument");
  return [s[i], i + 1];
}

/** LaTeX (normalised) → sympy expression text, or throws LatexError for anything outside the subset. */
export function latexToSympy(s: string): string {
  let out = "";
  let i = 0;
  while (i < s.length) {
    const ch = s[i];
    if (ch === "\\") {
      const m = /^\\([a-zA-Z]+)/.exec(s.slice(i));
      if (!m) throw new LatexError(`stray backslash at ${i}`);
      const name = m[1];
      i += m[0].length;
      if (name === "frac") {
        const [a, j] = group(s, i);
        const [b, k] = group(s, j);
        out += `((${latexToSympy(a)})/(${latexToSympy(b)}))`;
        i = k;
      } else if (name === "binom") {
        const [a, j] = group(s, i);
        const [b, k] = group(s, j);
        out += `binomial(${latexToSympy(a)},${latexToSympy(b)})`;
        i = k;
      } else if (name === "sqrt") {
        if (s[i] === "[") {
          const close = s.indexOf("]", i);
          if (close < 0) throw new LatexError("unclosed \\sqrt[");
          const n = s.slice(i + 1, close);
          const [a, k] = group(s, close + 1);
          out += `((${latexToSympy(a)})**(1/(${latexToSympy(n)})))`;
          i = k;
        } else {
          const [a, k] = group(s, i);
          out += `sqrt(${latexToSympy(a)})`;
          i = k;
        }
      } else if (name in FUNCTIONS) {
        out += ` ${FUNCTIONS[name]} `; // apart from its argument: `\log 8` is log(8), not a name log8
      } else if (name in CONSTANTS) {
        out += ` ${CONSTANTS[name]} `;
      } else if (name in OPERATORS) {
        out += OPERATORS[name];
      } else if (GREEK.includes(name)) {
        out += ` ${name === "lambda" ? "lamda" : name} `; // lambda is a Python keyword; sympy spells it lamda
      } else {
        throw new LatexError(`unsupported command \\${name}`);
      }
      continue;
    }
    if (ch === "^") {
      const [a, k] = group(s, i + 1);
      out += `**(${latexToSympy(a)})`;
      i = k;
      continue;
    }
    if (ch === "_") {
      const [a, k] = group(s, i + 1);
      if (!/^\w+$/.test(a)) throw new LatexError("unsupported subscript");
      out += `_${a}`;
      i = k;
      continue;
    }
    if (ch === "{") out += "(";
    else if (ch === "}") out += ")";
    else if (ch === "[") out += "(";
    else if (ch === "]") out += ")";
    else if (/[0-9a-zA-Z+\-*/().,! ]/.test(ch)) out += ch;
    else throw new LatexError(`unsupported character ${JSON.stringify(ch)}`);
    i++;
  }
  // Python reads 025 as 0 followed by 25 (then 0·25): integers lose their leading zeros.
  return checkSympyText(out.replace(/(^|[^\d.])0+(?=\d)/g, "$1"));
}

/** Only numbers, operators, brackets, single-letter symbols (with _n), and allowlisted names. */
function checkSympyText(t: string): string {
  // Euler's e as a lone letter is the constant; i alone is the imaginary unit.
  let text = t.replace(/(^|[^A-Za-z_])e(?![A-Za-z_(])/g, "$1E").replace(/(^|[^A-Za-z_])i(?![A-Za-z_(])/g, "$1I");
  // 4.5e33 (Minerva's golds) is Python's float literal 4.5E33 by now, not a name E33.
  for (const m of text.replace(/(?<![\w.])(\d+\.?\d*|\.\d+)E[+-]?\d+(?![\w.])/g, "0").matchAll(/[A-Za-z_][A-Za-z_0-9]*/g)) {
    const w = m[0];
    if (ALLOWED_NAMES.has(w) || w === "oo") continue;
    if (/^[A-Za-z](_[A-Za-z0-9]+)?$/.test(w)) continue;
    if (GREEK.includes(w) || w === "lamda") continue;
    throw new LatexError(`name ${w} is not allowed`);
  }
  if (/\.\s*[A-Za-z_]/.test(text) || /__/.test(text)) throw new LatexError("attribute access is not allowed");
  text = text.replace(/\s+/g, " ").trim();
  if (!text) throw new LatexError("empty expression");
  return text;
}
