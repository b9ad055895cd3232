/**
 * Typed random Python expressions: the holes the program templates fill. Given the variables in
 * scope and a wanted type, `ExprGen.expr` returns an expression of that type built from
 * arithmetic, comparisons, string and list methods and comprehensions, parenthesised by Python's
 * precedence. Every production is chosen so it cannot raise on any input our value generator
 * makes (constant divisors, `default=` on max/min, guarded indexing), and cannot grow without
 * bound (repetition and powers only by small constants). Covers: expressions. Not: statements
 * (programs.ts), inputs (values.ts).
 */
import type { Rng } from "./rng.ts";
import type { ValueType } from "./values.ts";
import { pyStr } from "./values.ts";

/** A variable in scope. */
export interface Var {
  name: string;
  type: ValueType;
}

/**
 * Python precedence, low number binds tighter: 0 atom (name, literal, call, subscript),
 * 1 power, 2 unary minus, 3 * // %, 4 + -, 5 comparison / in, 6 not, 7 and, 8 or, 9 if-else.
 */
export interface Expr {
  code: string;
  prec: number;
  /** Both operands are the same text (`x - x`, `max(n, n)`): legal but pointless; redrawn. */
  degenerate?: boolean;
}

const atom = (code: string): Expr => ({ code, prec: 0 });

/** Wraps `e` in parentheses when it binds looser than an operand at precedence `prec` must. */
function operand(e: Expr, prec: number, rightSide = false): string {
  return e.prec > prec || (rightSide && e.prec === prec) ? `(${e.code})` : e.code;
}

function binary(a: Expr, op: string, b: Expr, prec: number): Expr {
  // Comparisons chain in Python (`a < b == c` means something else): always wrap a nested one.
  const left = prec === 5 && a.prec === 5 ? `(${a.code})` : operand(a, prec);
  return { code: `${left} ${op} ${operand(b, prec, true)}`, prec, degenerate: a.code === b.code };
}

const LETTERS = "aeiosnrt";
const SEPARATORS = ["", "-", " ", ",", "_"];

/** Names for comprehension and loop variables by type, so bound names read naturally. */
const BOUND_NAMES: Partial<Record<ValueType, string[]>> = {
  int: ["v", "y", "m", "e"],
  str: ["w", "c", "ch", "part"],
};

export class ExprGen {
  constructor(
    private readonly rng: Rng,
    /** Variables in scope, params first. */
    private readonly scope: Var[],
  ) {}

  private vars(type: ValueType): Var[] {
    return this.scope.filter((v) => v.type === type);
  }

  /** A fresh name for a comprehension variable of `type`, not clashing with anything in scope. */
  freshName(type: ValueType): string {
    const taken = new Set(this.scope.map((v) => v.name));
    for (const n of BOUND_NAMES[type] ?? ["q"]) if (!taken.has(n)) return n;
    for (let i = 0; ; i++) if (!taken.has(`q${i}`)) return `q${i}`;
  }

  /** Runs `body` with `v` temporarily in scope (comprehension and loop variables). */
  withVar<T>(v: Var, body: () => T): T {
    this.scope.push(v);
    try {
      return body();
    } finally {
      this.scope.pop();
    }
  }

  smallInt(lo = 0, hi = 9): Expr {
    const k = this.rng.int(lo, hi);
    return k < 0 ? { code: String(k), prec: 2 } : atom(String(k));
  }

  letter(): Expr {
    return atom(pyStr(this.rng.pick([...LETTERS])));
  }

  /** A leaf of `type`: a variable when one is in scope (usually), else a constant. */
  leaf(type: ValueType): Expr {
    const vs = this.vars(type);
    if (vs.length > 0 && (this.rng.chance(0.8) || !hasConstant(type))) return atom(this.rng.pick(vs).name);
    switch (type) {
      case "int":
        return this.smallInt(0, 10);
      case "str":
        return atom(pyStr(this.rng.pick(["a", "ab", "x", "hi", "ok", "z"])));
      case "bool":
        return atom(this.rng.pick(["True", "False"]));
      case "list[int]":
        return atom(`[${this.rng.int(0, 5)}, ${this.rng.int(1, 9)}]`);
      case "list[str]":
        return atom(`[${pyStr(this.rng.pick(["a", "b", "cat"]))}]`);
      case "tuple[int, int]":
        return atom(`(${this.rng.int(0, 5)}, ${this.rng.int(0, 5)})`);
      case "dict[str, int]":
        return atom("{}");
    }
  }

  /** Is a variable of `type` in scope? */
  private has(type: ValueType): boolean {
    return this.vars(type).length > 0;
  }

  /** An expression of `type`; `depth` 0 gives a leaf, each level allows one more operator. */
  expr(type: ValueType, depth: number): Expr {
    if (depth <= 0) return this.leaf(type);
    const options = this.productions(type, depth - 1);
    if (options.length === 0) return this.leaf(type);
    // Redraw pointless results: `x - x`, or an operator over constants only (`(7 + 9) % 3`).
    const pointless = (e: Expr) => e.degenerate || !this.scope.some((v) => mentions(e.code, v.name));
    let e = this.rng.weighted(options)();
    for (let i = 0; i < 4 && pointless(e); i++) e = this.rng.weighted(options)();
    return e;
  }

  /** The productions that apply with the current scope, each with a weight. */
  private productions(type: ValueType, d: number): [() => Expr, number][] {
    const r = this.rng;
    const I = () => this.expr("int", d);
    const S = () => this.expr("str", d);
    const B = () => this.expr("bool", d);
    const LI = () => this.expr("list[int]", d);
    const LS = () => this.expr("list[str]", d);
    const out: [() => Expr, number][] = [];
    const hasInt = this.has("int"), hasStr = this.has("str"), hasLI = this.has("list[int]");
    const hasLS = this.has("list[str]"), hasT = this.has("tuple[int, int]"), hasD = this.has("dict[str, int]");
    const tupleVar = () => this.rng.pick(this.vars("tuple[int, int]")).name;
    const dictVar = () => this.rng.pick(this.vars("dict[str, int]")).name;
    switch (type) {
      case "int":
        out.push([() => binary(I(), "+", this.rng.chance(0.5) ? I() : this.smallInt(1, 9), 4), 3]);
        out.push([() => binary(I(), "-", this.rng.chance(0.5) ? I() : this.smallInt(1, 9), 4), 2]);
        out.push([() => binary(I(), "*", this.smallInt(2, 5), 3), 2]);
        out.push([() => binary(I(), r.pick(["//", "%"]), this.smallInt(2, 9), 3), 2]);
        out.push([() => atom(`abs(${I().code})`), 1]);
        out.push([() => { const [a, b] = [I().code, I().code]; return { ...atom(`${r.pick(["max", "min"])}(${a}, ${b})`), degenerate: a === b }; }, 1]);
        out.push([() => ({ code: `${operand(this.leaf("int"), 0)} ** 2`, prec: 1 }), 0.5]);
        out.push([() => ({ code: `-${operand(I(), 2)}`, prec: 2 }), 0.3]);
        if (hasStr) {
          out.push([() => atom(`len(${S().code})`), 2]);
          out.push([() => atom(`${operand(S(), 0)}.${r.pick(["count", "find"])}(${this.letter().code})`), 1.5]);
        }
        if (hasLI) {
          out.push([() => atom(`${r.pick(["sum", "len"])}(${LI().code})`), 3]);
          out.push([() => atom(`${r.pick(["max", "min"])}(${LI().code}, default=${this.smallInt(0, 3).code})`), 1.5]);
          out.push([() => atom(`${operand(LI(), 0)}.count(${this.smallInt(0, 5).code})`), 0.7]);
          out.push([() => {
            const l = this.rng.pick(this.vars("list[int]")).name;
            const i = this.rng.pick(["0", "-1"]);
            return { code: `${l}[${i}] if ${l} else ${this.smallInt(0, 3).code}`, prec: 9 };
          }, 0.8]);
        }
        if (hasLS) out.push([() => atom(`len(${LS().code})`), 1.5]);
        if (hasT) out.push([() => atom(`${tupleVar()}[${r.int(0, 1)}]`), 3]);
        if (hasD) {
          out.push([() => atom(`${dictVar()}.get(${pyStr(r.pick(["apple", "cat", "dog", "echo", "code"]))}, ${this.smallInt(0, 2).code})`), 1.5]);
          out.push([() => atom(`sum(${dictVar()}.values())`), 1]);
          out.push([() => atom(`${r.pick(["max", "min"])}(${dictVar()}.values(), default=0)`), 0.7]);
          out.push([() => atom(`len(${dictVar()})`), 0.7]);
        }
        out.push([() => atom(`int(${B().code})`), 0.3]);
        break;
      case "str":
        out.push([() => atom(`${operand(S(), 0)}.${r.pick(["upper", "lower", "strip", "title", "capitalize", "swapcase"])}()`), 3]);
        out.push([() => atom(`${operand(S(), 0)}[${r.pick(["::-1", "1:", "::2", ":3", "-2:", "1:-1"])}]`), 3]);
        out.push([() => binary(S(), "+", this.rng.chance(0.5) ? S() : this.leaf("str"), 4), 2]);
        out.push([() => binary(S(), "*", this.smallInt(2, 3), 3), 0.7]);
        out.push([() => atom(`${operand(S(), 0)}.replace(${this.letter().code}, ${atom(pyStr(r.pick(["", "-", "*", "o", "A"]))).code})`), 1.5]);
        if (hasInt) out.push([() => atom(`str(${I().code})`), 1.5]);
        if (hasLS || hasStr) out.push([() => atom(`${pyStr(r.pick(SEPARATORS))}.join(${LS().code})`), 1.5]);
        if (hasLI) out.push([() => { const v = this.freshName("int"); return atom(`${pyStr(r.pick(SEPARATORS))}.join(str(${v}) for ${v} in ${this.rng.pick(this.vars("list[int]")).name})`); }, 0.7]);
        break;
      case "bool":
        if (hasInt || hasLI || hasStr) {
          out.push([() => binary(I(), r.pick([">", "<", ">=", "<=", "==", "!="]), this.rng.chance(0.6) ? this.smallInt(0, 9) : I(), 5), 4]);
          out.push([() => binary(binary(I(), "%", this.smallInt(2, 5), 3), r.pick(["==", "!="]), atom("0"), 5), 2]);
        }
        if (hasStr) {
          out.push([() => atom(`${operand(S(), 0)}.${r.pick(["startswith", "endswith"])}(${this.letter().code})`), 1.5]);
          out.push([() => binary(this.letter(), r.pick(["in", "not in"]), S(), 5), 1.5]);
          out.push([() => atom(`${operand(S(), 0)}.${r.pick(["isalpha", "isupper", "islower", "isdigit"])}()`), 0.8]);
          out.push([() => { const s = this.rng.pick(this.vars("str")).name; return { code: `${s} == ${s}[::-1]`, prec: 5 }; }, 0.5]);
        }
        if (hasLI) out.push([() => binary(this.smallInt(0, 9), r.pick(["in", "not in"]), LI(), 5), 1]);
        if (hasD) out.push([() => binary(atom(pyStr(r.pick(["apple", "cat", "dog", "code"]))), "in", atom(dictVar()), 5), 0.8]);
        if (d > 0) {
          out.push([() => ({ code: `not ${operand(B(), 6)}`, prec: 6 }), 0.4]);
          out.push([() => binary(B(), r.pick(["and", "or"]), B(), 7), 0.8]);
        }
        break;
      case "list[int]":
        if (hasLI) {
          out.push([() => atom(`sorted(${LI().code}${r.chance(0.3) ? ", reverse=True" : ""})`), 2]);
          out.push([() => atom(`${operand(LI(), 0)}[${r.pick(["::-1", "1:", ":3", "::2", "1:-1"])}]`), 2]);
          out.push([() => this.comprehension("list[int]", "int", () => this.expr("int", Math.min(d, 1) + 1)), 3]);
          out.push([() => this.filter("list[int]", "int"), 2.5]);
          out.push([() => binary(LI(), "+", atom(`[${I().code}]`), 4), 1]);
          out.push([() => atom(`sorted(set(${LI().code}))`), 0.7]);
        }
        if (hasStr) out.push([() => this.comprehension("str", "str", () => this.expr("int", 1)), 1.5]);
        if (hasLS) out.push([() => { const w = this.freshName("str"); return atom(`[len(${w}) for ${w} in ${this.rng.pick(this.vars("list[str]")).name}]`); }, 1.5]);
        if (hasT) out.push([() => atom(`list(${tupleVar()})`), 0.5]);
        if (hasD) out.push([() => atom(`sorted(${dictVar()}.values())`), 1]);
        if (hasInt) out.push([() => atom(`list(range(${r.pick([`min(abs(${I().code}), 8)`, String(r.int(2, 6))])}))`), 1]);
        break;
      case "list[str]":
        if (hasStr) {
          out.push([() => atom(`${operand(S(), 0)}.split(${r.chance(0.3) ? this.letter().code : ""})`), 2]);
          out.push([() => atom(`list(${S().code})`), 1]);
        }
        if (hasLS) {
          out.push([() => atom(`sorted(${LS().code}${r.chance(0.3) ? ", reverse=True" : ""})`), 2]);
          out.push([() => this.comprehension("list[str]", "str", () => this.expr("str", 1)), 2.5]);
          out.push([() => this.filter("list[str]", "str"), 2]);
          out.push([() => atom(`${operand(LS(), 0)}[::-1]`), 1]);
        }
        if (hasD) out.push([() => atom(`sorted(${dictVar()})`), 1.5]);
        break;
      case "tuple[int, int]":
        out.push([() => atom(`(${I().code}, ${I().code})`), 3]);
        if (hasInt) out.push([() => atom(`divmod(${I().code}, ${this.smallInt(2, 9).code})`), 1]);
        if (hasLI) out.push([() => { const l = LI().code; return atom(`(min(${l}, default=0), max(${l}, default=0))`); }, 1]);
        break;
      case "dict[str, int]":
        if (hasLS) out.push([() => { const l = this.rng.pick(this.vars("list[str]")).name; return atom(`{w: ${r.pick(["len(w)", "w.count('a')", "len(w) % 3"])} for w in ${l}}`); }, 2]);
        if (hasStr) out.push([() => atom(`{c: ${operand(S(), 0)}.count(c) for c in ${operand(S(), 0)}}`), 1]);
        if (hasD) {
          out.push([() => { const dv = dictVar(); return atom(`{k: ${operand(this.withVar({ name: "x", type: "int" }, () => binaryOnX(this)), 0)} for k, x in ${dv}.items()}`); }, 2]);
          out.push([() => { const dv = dictVar(); return atom(`{k: x for k, x in ${dv}.items() if x ${r.pick([">", "<", "!="])} ${r.int(0, 6)}}`); }, 1.5]);
        }
        break;
    }
    return out;
  }

  /** `[E(v) for v in SEQ]` over a sequence of `seqType` whose items are `itemType`. */
  private comprehension(seqType: ValueType, itemType: ValueType, body: () => Expr): Expr {
    const seq = this.expr(seqType, 0);
    const v: Var = { name: this.freshName(itemType), type: itemType };
    let e = this.withVar(v, body);
    for (let i = 0; i < 6 && !mentions(e.code, v.name); i++) e = this.withVar(v, body);
    if (!mentions(e.code, v.name)) e = itemType === "int" ? binary(atom(v.name), "*", this.smallInt(2, 4), 3) : atom(`len(${v.name})`);
    return atom(`[${e.code} for ${v.name} in ${seq.code}]`);
  }

  /** `[v for v in SEQ if COND(v)]`. */
  private filter(seqType: ValueType, itemType: ValueType): Expr {
    const seq = this.expr(seqType, 0);
    const v: Var = { name: this.freshName(itemType), type: itemType };
    const cond = this.withVar(v, () => this.condOn(v));
    return atom(`[${v.name} for ${v.name} in ${seq.code} if ${cond.code}]`);
  }

  /** A condition that mentions `v` (so a filter is not constant). */
  condOn(v: Var): Expr {
    for (let i = 0; i < 8; i++) {
      const c = this.expr("bool", 1);
      if (mentions(c.code, v.name)) return c;
    }
    return v.type === "int" ? binary(atom(v.name), ">", this.smallInt(0, 5), 5) : atom(`${v.name}.isalpha()`);
  }
}

function hasConstant(type: ValueType): boolean {
  return type !== "dict[str, int]";
}

/** A small int expression over `x` for dict comprehensions. */
function binaryOnX(g: ExprGen): Expr {
  const e = g.expr("int", 1);
  return mentions(e.code, "x") ? e : binary(atom("x"), "*", g.smallInt(2, 4), 3);
}

/** Does `code` use the identifier `name` (as a whole word, outside string literals)? */
export function mentions(code: string, name: string): boolean {
  const noStrings = code.replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"/g, "''");
  return new RegExp(`(?<![\\w.])${name}(?!\\w)`).test(noStrings);
}
