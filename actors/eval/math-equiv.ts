/**
 * Are two math answers equal? Exact after normalisation, else structure by structure (tuples
 * and intervals in order with the same brackets, sets and bare lists in any order, unions piece
 * by piece), each value compared numerically or symbolically by sympy in the sandboxed eval
 * worker, 3 s per comparison, a timeout being "not equal" (spec §10).
 *
 * Covers: the decision and its reason. Not: extraction and LaTeX reading (math-answer.ts).
 */
import { baseNumeral, LatexError, latexToSympy, normaliseMath, structure, type NormaliseOptions, type Structured } from "./math-answer.ts";
import type { EvalWorkerPool } from "./worker-pool.ts";

export const MATH_COMPARE_LIMIT_MS = 3000;

export interface MathVerdict {
  equal: boolean;
  /** How it was decided: "exact" text, "sympy", or why not: "malformed", "timeout", "different", "shape", "empty". */
  how: string;
  detail?: string;
}

export class MathJudge {
  constructor(private readonly pool: EvalWorkerPool, private readonly limitMs = MATH_COMPARE_LIMIT_MS) {}

  async equivalent(predicted: string, gold: string, o: NormaliseOptions = { units: true }): Promise<MathVerdict> {
    const a = normaliseMath(predicted, o);
    const b = normaliseMath(gold, o);
    if (!a) return { equal: false, how: "empty" };
    if (a === b) return { equal: true, how: "exact" };
    if (a.toLowerCase() === b.toLowerCase() && /[a-z]{2,}/i.test(b) && !b.includes("\\")) return { equal: true, how: "exact" };
    return this.structured(structure(a), structure(b));
  }

  private async structured(a: Structured, b: Structured): Promise<MathVerdict> {
    if (a.kind === "atom" && b.kind === "atom") return this.value(a.text, b.text);
    if (a.kind === "union" && b.kind === "union") {
      if (a.parts.length !== b.parts.length) return { equal: false, how: "shape" };
      return this.all(a.parts.map((p, i) => [p, b.parts[i]] as const));
    }
    if (a.kind === "seq" && b.kind === "seq") {
      if (a.items.length !== b.items.length) return { equal: false, how: "shape" };
      const ordered = [a.open, b.open].some((o) => o === "(" || o === "[" || o === "matrix");
      if (ordered) {
        if (a.open !== b.open || a.close !== b.close) {
          // (1, 2) written without brackets still means the tuple; interval ends must agree.
          if (a.open && b.open) return { equal: false, how: "shape", detail: `${a.open}…${a.close} vs ${b.open}…${b.close}` };
        }
        return this.all(a.items.map((x, i) => [x, b.items[i]] as const));
      }
      return this.unordered(a.items, b.items);
    }
    return { equal: false, how: "shape" };
  }

  private async all(pairs: readonly (readonly [string, string])[]): Promise<MathVerdict> {
    for (const [x, y] of pairs) {
      const v = await this.structured(structure(x), structure(y));
      if (!v.equal) return v;
    }
    return { equal: true, how: "sympy" };
  }

  private async unordered(xs: string[], ys: string[]): Promise<MathVerdict> {
    const left = [...ys];
    for (const x of xs) {
      let hit = -1;
      for (const [j, y] of left.entries()) {
        if ((await this.value(x, y)).equal) {
          hit = j;
          break;
        }
      }
      if (hit < 0) return { equal: false, how: "different", detail: `${x} has no match` };
      left.splice(hit, 1);
    }
    return { equal: true, how: "sympy" };
  }

  private async value(a: string, b: string): Promise<MathVerdict> {
    if (a === b) return { equal: true, how: "exact" };
    const based = baseVerdict(a, b);
    if (based) return based;
    let ea: string, eb: string;
    try {
      ea = latexToSympy(a);
      eb = latexToSympy(b);
    } catch (e) {
      if (e instanceof LatexError) return { equal: false, how: "malformed", detail: e.message };
      throw e;
    }
    const r = await this.pool.run({ kind: "math", a: ea, b: eb, limitMs: this.limitMs }, this.limitMs + 5000);
    if (r.equal === true) return { equal: true, how: "sympy" };
    return { equal: false, how: String(r.why ?? "different"), detail: r.detail === undefined ? undefined : String(r.detail) };
  }
}

/**
 * Numbers with a base subscript (`52_8`, `4210_{5}`): the question asked for that base, so the
 * answer is its digits, with the subscript or without (`52` answers "express in base 8": 52_8);
 * another base's digits, or the value in base 10 (42), are not what was asked. Undefined unless
 * one side has a subscript and both are numerals (sympy would read `_8` as a name).
 */
function baseVerdict(a: string, b: string): MathVerdict | undefined {
  const x = baseNumeral(a);
  const y = baseNumeral(b);
  if (!x || !y || (x.base === undefined && y.base === undefined)) return undefined;
  if (x.base !== undefined && y.base !== undefined && x.base !== y.base) return { equal: false, how: "different", detail: `base ${x.base} vs base ${y.base}` };
  return x.digits === y.digits ? { equal: true, how: "exact" } : { equal: false, how: "different" };
}
