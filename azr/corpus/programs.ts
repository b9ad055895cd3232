/**
 * The program generator: small, deterministic, terminating Python functions `f` of graded
 * difficulty, for the tiny base model's pretraining corpus and its held-out evaluation.
 *
 * Levels (each a family of templates whose holes ExprGen fills):
 *   0  one `return` expression;
 *   1  one branch (if/else, if/elif/else, ternary), a local variable, or a comprehension;
 *   2  one loop with an accumulator (sum, string or list builder, digit loop, counting dict, max);
 *   3  loops with nested conditions, two accumulators, enumerate, early return, bounded while;
 *   4  nested loops, two stages, prefix sums with resets, neighbour runs, nested string loops,
 *      and (optionally) a helper function.
 * Covers: program text, parameter types, a plain-words message per program (the induction hint).
 * Not: running programs (actors/base-model does that) — a template may still produce a program
 * that fails on some input (e.g. a too-long output); execution filters those out.
 *
 * Helper functions are off by default: the `tiny` recipe rejects programs with more than one
 * `def` (azr-spec §11), so the corpus must not teach the model to propose them.
 */
import { ExprGen, mentions, type Expr, type Var } from "./expressions.ts";
import { Rng } from "./rng.ts";
import { PARAM_TYPES, type ValueType } from "./values.ts";

export const LEVELS = [0, 1, 2, 3, 4] as const;
export type Level = (typeof LEVELS)[number];

export interface GeneratedProgram {
  /** `<seed>:<index>`: where the program came from, stable across runs. */
  id: string;
  level: Level;
  /** The template family, for statistics. */
  template: string;
  params: ValueType[];
  returns: ValueType;
  /** The whole program: `def f(...):` and its body, 4-space indents, no trailing newline. */
  source: string;
  /** A one-line hint in words (never the code): the induction message. */
  message: string;
}

export interface GeneratorOptions {
  /** Relative weight of each level; default favours the easy ones (a tiny model learns those first). */
  levelWeights?: Record<Level, number>;
  /** Allow a helper `def g` at level 4 (default false: the tiny recipe rejects multiple functions). */
  helperFunctions?: boolean;
}

export const DEFAULT_LEVEL_WEIGHTS: Record<Level, number> = { 0: 0.3, 1: 0.25, 2: 0.2, 3: 0.15, 4: 0.1 };

const PARAM_NAMES: Record<ValueType, string[]> = {
  int: ["n", "x", "k", "num", "a", "b", "m"],
  str: ["s", "text", "word", "t", "name"],
  bool: ["flag"],
  "list[int]": ["nums", "xs", "values", "items", "arr", "data"],
  "list[str]": ["words", "names", "tokens", "parts"],
  "tuple[int, int]": ["pair", "point", "p"],
  "dict[str, int]": ["d", "counts", "scores", "table"],
};

const TYPE_WORDS: Record<ValueType, string> = {
  int: "an int",
  str: "a string",
  bool: "a bool",
  "list[int]": "a list of ints",
  "list[str]": "a list of strings",
  "tuple[int, int]": "a pair of ints",
  "dict[str, int]": "a dict from strings to ints",
};

const SEQ_TYPES: ValueType[] = ["list[int]", "str", "list[str]", "dict[str, int]"];

/** What a template returns: body lines (indented from level 1), the return type and a phrase. */
interface Body {
  lines: string[];
  returns: ValueType;
  phrase: string;
  /** Extra top-level lines placed before `def f` (a helper function). */
  before?: string[];
}

interface Ctx {
  rng: Rng;
  params: Var[];
  gen: ExprGen;
}

type Template = { name: string; params: (rng: Rng) => ValueType[]; body: (c: Ctx) => Body | null };

const I = (n: number) => "    ".repeat(n);

function anyParams(rng: Rng, max: number): ValueType[] {
  const n = rng.weighted([[1, 5], [2, max >= 2 ? 2 : 0]]);
  return Array.from({ length: n }, () => rng.pick(PARAM_TYPES));
}

function returnType(rng: Rng): ValueType {
  return rng.weighted<ValueType>([["int", 5], ["str", 3], ["bool", 1.5], ["list[int]", 2], ["list[str]", 1], ["tuple[int, int]", 0.7], ["dict[str, int]", 0.5]]);
}

/** How to loop over a sequence variable: header and the bound variables. */
function iterate(seq: Var, params: Var[], rng: Rng, withIndex = false): { header: string; bound: Var[] } {
  // Loop variables never reuse a parameter's name: shadowing one would silently change the program.
  const free = (names: string[]) => names.filter((n) => n !== seq.name && !params.some((p) => p.name === n));
  const idx = withIndex ? "i, " : "";
  const wrap = (s: string) => (withIndex ? `enumerate(${s})` : s);
  const bound: Var[] = withIndex ? [{ name: "i", type: "int" }] : [];
  switch (seq.type) {
    case "list[int]": {
      const v = rng.pick(free(["v", "x", "num", "item"]));
      return { header: `for ${idx}${v} in ${wrap(seq.name)}:`, bound: [...bound, { name: v, type: "int" }] };
    }
    case "str": {
      const v = rng.pick(free(["ch", "c"]));
      return { header: `for ${idx}${v} in ${wrap(seq.name)}:`, bound: [...bound, { name: v, type: "str" }] };
    }
    case "list[str]": {
      const v = rng.pick(free(["w", "word", "part"]));
      return { header: `for ${idx}${v} in ${wrap(seq.name)}:`, bound: [...bound, { name: v, type: "str" }] };
    }
    case "dict[str, int]": {
      if (withIndex) return iterate({ name: `sorted(${seq.name})`, type: "list[str]" }, params, rng, true);
      return { header: `for key, val in ${seq.name}.items():`, bound: [{ name: "key", type: "str" }, { name: "val", type: "int" }] };
    }
    default:
      throw new Error(`iterate: cannot loop over ${seq.type}`);
  }
}

/** Generate with `make` until the result mentions every name in `names` (or give up: null). */
function mentioning(make: () => Expr, names: string[], tries = 12): Expr | null {
  for (let i = 0; i < tries; i++) {
    const e = make();
    if (names.every((n) => mentions(e.code, n))) return e;
  }
  return null;
}

/** Run `body` with loop variables in scope. */
function scoped<T>(gen: ExprGen, vars: Var[], body: () => T): T {
  if (vars.length === 0) return body();
  const [first, ...rest] = vars;
  return gen.withVar(first, () => scoped(gen, rest, body));
}

const seqParam = (rng: Rng) => [rng.pick(SEQ_TYPES)];

// ---------------------------------------------------------------------------------------------
// Level 0: one expression.
const level0: Template[] = [
  {
    name: "expression",
    params: (rng) => anyParams(rng, 2),
    body: ({ rng, params, gen }) => {
      const ret = returnType(rng);
      const e = mentioning(() => gen.expr(ret, rng.int(1, 2)), params.map((p) => p.name));
      if (!e) return null;
      return { lines: [`${I(1)}return ${e.code}`], returns: ret, phrase: `computes ${TYPE_WORDS[ret]} in one expression` };
    },
  },
];

// Level 1: one decision or one intermediate value.
const level1: Template[] = [
  {
    name: "if-else",
    params: (rng) => anyParams(rng, 2),
    body: ({ rng, params, gen }) => {
      const ret = returnType(rng);
      const cond = mentioning(() => gen.expr("bool", 1), [params[0].name]);
      const a = gen.expr(ret, rng.int(1, 2));
      const b = gen.expr(ret, rng.int(0, 2));
      if (!cond || a.code === b.code) return null;
      return {
        lines: [`${I(1)}if ${cond.code}:`, `${I(2)}return ${a.code}`, `${I(1)}return ${b.code}`],
        returns: ret,
        phrase: `checks a condition and returns one of two ${TYPE_WORDS[ret].replace(/^an? /, "")} results`,
      };
    },
  },
  {
    name: "if-elif-else",
    params: (rng) => [rng.pick<ValueType>(["int", "str", "list[int]"])],
    body: ({ rng, params, gen }) => {
      const ret = returnType(rng);
      const c1 = mentioning(() => gen.expr("bool", 1), [params[0].name]);
      const c2 = mentioning(() => gen.expr("bool", 1), [params[0].name]);
      if (!c1 || !c2 || c1.code === c2.code) return null;
      return {
        lines: [
          `${I(1)}if ${c1.code}:`, `${I(2)}return ${gen.expr(ret, rng.int(0, 2)).code}`,
          `${I(1)}elif ${c2.code}:`, `${I(2)}return ${gen.expr(ret, rng.int(0, 2)).code}`,
          `${I(1)}else:`, `${I(2)}return ${gen.expr(ret, rng.int(0, 2)).code}`,
        ],
        returns: ret,
        phrase: "sorts its input into one of three cases",
      };
    },
  },
  {
    name: "ternary",
    params: (rng) => anyParams(rng, 2),
    body: ({ rng, params, gen }) => {
      const ret = rng.pick<ValueType>(["int", "str", "list[int]"]);
      const cond = mentioning(() => gen.expr("bool", 1), [params[0].name]);
      if (!cond) return null;
      const a = gen.expr(ret, 1), b = gen.expr(ret, rng.int(0, 1));
      if (a.code === b.code) return null;
      const wrap = (e: Expr) => (e.prec >= 9 ? `(${e.code})` : e.code);
      return { lines: [`${I(1)}return ${wrap(a)} if ${cond.code} else ${wrap(b)}`], returns: ret, phrase: "picks between two values with a condition" };
    },
  },
  {
    name: "local-variable",
    params: (rng) => anyParams(rng, 2),
    body: ({ rng, params, gen }) => {
      const midType = rng.pick<ValueType>(["int", "str", "list[int]", "list[str]"]);
      const mid = mentioning(() => gen.expr(midType, rng.int(1, 2)), [params[0].name]);
      if (!mid) return null;
      const name = rng.pick(["y", "tmp", "val", "res"]);
      const ret = returnType(rng);
      const out = gen.withVar({ name, type: midType }, () => mentioning(() => gen.expr(ret, rng.int(1, 2)), [name]));
      if (!out) return null;
      return { lines: [`${I(1)}${name} = ${mid.code}`, `${I(1)}return ${out.code}`], returns: ret, phrase: "computes an intermediate value, then the result from it" };
    },
  },
  {
    name: "comprehension",
    params: (rng) => [rng.pick<ValueType>(["list[int]", "str", "list[str]"])],
    body: ({ rng, params, gen }) => {
      const ret = params[0].type === "list[str]" ? rng.pick<ValueType>(["list[str]", "list[int]"]) : "list[int]";
      const e = mentioning(() => gen.expr(ret, 2), [params[0].name]);
      if (!e || !e.code.includes(" for ")) return null;
      return { lines: [`${I(1)}return ${e.code}`], returns: ret, phrase: `builds a list from each element of ${TYPE_WORDS[params[0].type]}` };
    },
  },
];

// Level 2: one loop with an accumulator.
const level2: Template[] = [
  {
    name: "sum-loop",
    params: seqParam,
    body: ({ rng, params, gen }) => {
      const loop = iterate(params[0], params, rng);
      const acc = rng.pick(["total", "acc", "score", "count"]);
      const init = rng.pick(["0", "0", "1", String(rng.int(2, 9))]);
      return scoped(gen, loop.bound, () => {
        const item = loop.bound[loop.bound.length - 1];
        const step = mentioning(() => gen.expr("int", rng.int(0, 2)), [item.name === "key" ? "val" : item.name], 6) ?? { code: "1", prec: 0 };
        const op = rng.weighted([["+=", 4], ["-=", 1], ["*=", 0.5]]);
        const lines = [`${I(1)}${acc} = ${init}`, `${I(1)}${loop.header}`];
        if (rng.chance(0.65)) {
          const cond = gen.condOn(item);
          lines.push(`${I(2)}if ${cond.code}:`, `${I(3)}${acc} ${op} ${step.code}`);
          if (rng.chance(0.3)) lines.push(`${I(2)}else:`, `${I(3)}${acc} ${rng.pick(["-=", "+="])} ${rng.int(1, 3)}`);
        } else lines.push(`${I(2)}${acc} ${op} ${step.code}`);
        lines.push(`${I(1)}return ${acc}`);
        return { lines, returns: "int" as ValueType, phrase: `loops over ${TYPE_WORDS[params[0].type]} and accumulates a number` };
      });
    },
  },
  {
    name: "build-string",
    params: (rng) => [rng.pick<ValueType>(["str", "list[str]"])],
    body: ({ rng, params, gen }) => {
      const loop = iterate(params[0], params, rng);
      const out = rng.pick(["out", "result", "res"]);
      return scoped(gen, loop.bound, () => {
        const item = loop.bound[0];
        const cond = gen.condOn(item);
        const a = mentioning(() => gen.expr("str", 1), [item.name]) ?? { code: item.name, prec: 0 };
        const lines = [`${I(1)}${out} = ''`, `${I(1)}${loop.header}`, `${I(2)}if ${cond.code}:`, `${I(3)}${out} += ${a.code}`];
        if (rng.chance(0.5)) lines.push(`${I(2)}else:`, `${I(3)}${out} += ${gen.expr("str", rng.int(0, 1)).code}`);
        lines.push(`${I(1)}return ${out}`);
        return { lines, returns: "str" as ValueType, phrase: `builds a string piece by piece from ${TYPE_WORDS[params[0].type]}` };
      });
    },
  },
  {
    name: "build-list",
    params: seqParam,
    body: ({ rng, params, gen }) => {
      const loop = iterate(params[0], params, rng);
      const out = rng.pick(["result", "out", "kept"]);
      return scoped(gen, loop.bound, () => {
        const item = loop.bound[loop.bound.length - 1];
        const elemType: ValueType = item.type;
        const e = mentioning(() => gen.expr(elemType, rng.int(0, 2)), [item.name]) ?? { code: item.name, prec: 0 };
        const lines = [`${I(1)}${out} = []`, `${I(1)}${loop.header}`];
        if (rng.chance(0.6)) lines.push(`${I(2)}if ${gen.condOn(item).code}:`, `${I(3)}${out}.append(${e.code})`);
        else lines.push(`${I(2)}${out}.append(${e.code})`);
        lines.push(`${I(1)}return ${out}`);
        return { lines, returns: `list[${elemType}]` as ValueType, phrase: `collects transformed elements of ${TYPE_WORDS[params[0].type]} into a list` };
      });
    },
  },
  {
    name: "digit-loop",
    params: () => ["int"],
    body: ({ rng, params }) => {
      const n = params[0].name;
      const base = rng.pick([10, 10, 2, 3, 5]);
      const acc = rng.pick(["total", "acc", "count", "digits"]);
      const step = rng.pick([`${n} % ${base}`, `(${n} % ${base}) ** 2`, "1", `${n} % ${base} * ${rng.int(2, 3)}`]);
      const filtered = rng.chance(0.4);
      const lines = [`${I(1)}${n} = abs(${n})`, `${I(1)}${acc} = 0`, `${I(1)}while ${n} > 0:`];
      if (filtered) lines.push(`${I(2)}if ${n} % ${base} ${rng.pick([">", "<", "!="])} ${rng.int(0, base - 1)}:`, `${I(3)}${acc} += ${step}`);
      else lines.push(`${I(2)}${acc} += ${step}`);
      lines.push(`${I(2)}${n} //= ${base}`, `${I(1)}return ${acc}`);
      return { lines, returns: "int", phrase: `works through the base-${base} digits of a number` };
    },
  },
  {
    name: "count-dict",
    params: (rng) => [rng.pick<ValueType>(["str", "list[str]", "list[int]"])],
    body: ({ rng, params, gen }) => {
      const loop = iterate(params[0], params, rng);
      const out = rng.pick(["counts", "seen", "freq"]);
      return scoped(gen, loop.bound, () => {
        const item = loop.bound[0];
        const keyExpr = item.type === "int"
          ? `str(${rng.pick([item.name, `${item.name} % ${rng.int(2, 4)}`])})`
          : rng.pick([item.name, `${item.name}.lower()`, `${item.name}[:1]`, `${item.name}[-1:]`]);
        const lines = [`${I(1)}${out} = {}`, `${I(1)}${loop.header}`];
        const update = `${out}[${keyExpr}] = ${out}.get(${keyExpr}, 0) + ${rng.pick(["1", "1", item.type === "int" ? item.name : `len(${item.name})`])}`;
        if (rng.chance(0.35)) lines.push(`${I(2)}if ${gen.condOn(item).code}:`, `${I(3)}${update}`);
        else lines.push(`${I(2)}${update}`);
        lines.push(`${I(1)}return ${out}`);
        return { lines, returns: "dict[str, int]", phrase: `counts things in ${TYPE_WORDS[params[0].type]} with a dict` };
      });
    },
  },
  {
    name: "range-loop",
    params: () => ["int"],
    body: ({ rng, params, gen }) => {
      const n = params[0].name;
      const acc = rng.pick(["total", "acc", "out"]);
      const bound = rng.pick([`min(abs(${n}), ${rng.int(6, 12)})`, `abs(${n}) % ${rng.int(5, 10)}`, String(rng.int(3, 8))]);
      return gen.withVar({ name: "i", type: "int" }, () => {
        const step = mentioning(() => gen.expr("int", rng.int(1, 2)), ["i"]) ?? { code: "i", prec: 0 };
        const lines = [`${I(1)}${acc} = 0`, `${I(1)}for i in range(${bound}):`];
        if (rng.chance(0.5)) lines.push(`${I(2)}if ${gen.condOn({ name: "i", type: "int" }).code}:`, `${I(3)}${acc} += ${step.code}`);
        else lines.push(`${I(2)}${acc} += ${step.code}`);
        lines.push(`${I(1)}return ${acc}`);
        return { lines, returns: "int" as ValueType, phrase: "counts up with a range loop and adds terms" };
      });
    },
  },
  {
    name: "track-best",
    params: (rng) => [rng.pick<ValueType>(["list[int]", "list[str]"])],
    body: ({ rng, params, gen }) => {
      const loop = iterate(params[0], params, rng);
      const item = loop.bound[0];
      const mod = rng.int(3, 7);
      const key: (name: string) => string = item.type === "int"
        ? rng.pick([(x: string) => x, (x: string) => `abs(${x})`, (x: string) => `${x} % ${mod}`, (x: string) => `-${x}`])
        : rng.pick([(x: string) => `len(${x})`, (x: string) => `${x}.count('a')`]);
      const cmp = rng.pick([">", "<", ">="]);
      return {
        lines: [
          `${I(1)}best = None`, `${I(1)}${loop.header}`,
          `${I(2)}if best is None or ${key(item.name)} ${cmp} ${key("best")}:`, `${I(3)}best = ${item.name}`,
          `${I(1)}return best`,
        ],
        returns: item.type,
        phrase: `finds the element of ${TYPE_WORDS[params[0].type]} that is best by some measure`,
      };
    },
  },
];

// Level 3: nested conditions, two accumulators, enumerate, early exit, bounded while.
const level3: Template[] = [
  {
    name: "two-accumulators",
    params: (rng) => [rng.pick<ValueType>(["list[int]", "str", "list[str]"])],
    body: ({ rng, params, gen }) => {
      const loop = iterate(params[0], params, rng, rng.chance(0.5));
      const [a, b] = rng.pick([["a", "b"], ["lo", "hi"], ["evens", "odds"], ["left", "right"]]);
      return scoped(gen, loop.bound, () => {
        const item = loop.bound[loop.bound.length - 1];
        const c1 = gen.condOn(item);
        const c2 = mentioning(() => gen.expr("bool", 1), [loop.bound[0].name]) ?? gen.condOn(item);
        const s1 = gen.expr("int", rng.int(0, 1)), s2 = gen.expr("int", rng.int(0, 1));
        const ret = rng.pick([`(${a}, ${b})`, `${a} * ${rng.int(2, 9)} + ${b}`, `[${a}, ${b}]`, `${a} - ${b}`]);
        const returns: ValueType = ret.startsWith("(") ? "tuple[int, int]" : ret.startsWith("[") ? "list[int]" : "int";
        return {
          lines: [
            `${I(1)}${a}, ${b} = 0, 0`, `${I(1)}${loop.header}`,
            `${I(2)}if ${c1.code}:`, `${I(3)}${a} += ${s1.code}`,
            `${I(2)}elif ${c2.code}:`, `${I(3)}${b} += ${s2.code}`,
            ...(rng.chance(0.4) ? [`${I(2)}else:`, `${I(3)}${a} -= 1`] : []),
            `${I(1)}return ${ret}`,
          ],
          returns,
          phrase: `keeps two running totals while scanning ${TYPE_WORDS[params[0].type]}`,
        };
      });
    },
  },
  {
    name: "early-return",
    params: (rng) => (rng.chance(0.5) ? [rng.pick<ValueType>(["list[int]", "str", "list[str]"])] : [rng.pick<ValueType>(["list[int]", "list[str]"]), "int"]),
    body: ({ rng, params, gen }) => {
      const loop = iterate(params[0], params, rng, rng.chance(0.4));
      return scoped(gen, loop.bound, () => {
        const item = loop.bound[loop.bound.length - 1];
        const names = [item.name, ...(params[1] ? [params[1].name] : [])];
        const cond = mentioning(() => gen.expr("bool", 2), names) ?? gen.condOn(item);
        const ret = rng.pick<ValueType>(["int", "str", "int"]);
        const hit = gen.expr(ret, rng.int(0, 2));
        const miss = gen.expr(ret, 0);
        return {
          lines: [`${I(1)}${loop.header}`, `${I(2)}if ${cond.code}:`, `${I(3)}return ${hit.code}`, `${I(1)}return ${miss.code}`],
          returns: ret,
          phrase: `searches ${TYPE_WORDS[params[0].type]} and stops at the first match`,
        };
      });
    },
  },
  {
    name: "threshold-loop",
    params: (rng) => [rng.pick<ValueType>(["list[int]", "list[str]"]), "int"],
    body: ({ rng, params, gen }) => {
      const loop = iterate(params[0], params, rng);
      const limit = params[1].name;
      return scoped(gen, loop.bound, () => {
        const item = loop.bound[0];
        const measure = item.type === "int" ? item.name : `len(${item.name})`;
        const inner = gen.condOn(item);
        const acc = rng.pick(["count", "total", "hits"]);
        return {
          lines: [
            `${I(1)}${acc} = 0`, `${I(1)}${loop.header}`,
            `${I(2)}if ${measure} ${rng.pick([">", "<", ">=", "<="])} ${limit}:`,
            `${I(3)}if ${inner.code}:`, `${I(4)}${acc} += ${rng.int(2, 3)}`,
            `${I(3)}else:`, `${I(4)}${acc} += 1`,
            `${I(2)}elif ${measure} == ${limit}:`, `${I(3)}${acc} -= 1`,
            `${I(1)}return ${acc}`,
          ],
          returns: "int",
          phrase: `compares each element of ${TYPE_WORDS[params[0].type]} with a threshold and scores it`,
        };
      });
    },
  },
  {
    name: "bounded-while",
    params: () => ["int"],
    body: ({ rng, params }) => {
      const n = params[0].name;
      const cap = rng.int(8, 20);
      const [m, add] = [rng.pick([3, 2, 5]), rng.pick([1, 1, 3])];
      const div = rng.pick([2, 3]);
      return {
        lines: [
          `${I(1)}steps = 0`, `${I(1)}while ${n} ${rng.pick(["> 1", "!= 1"])} and steps < ${cap}:`,
          `${I(2)}if ${n} % ${div} == 0:`, `${I(3)}${n} //= ${div}`,
          `${I(2)}else:`, `${I(3)}${n} = ${m} * ${n} + ${add}`,
          `${I(2)}steps += 1`,
          `${I(1)}return ${rng.pick(["steps", `(steps, ${n})`, `${n}`])}`,
        ],
        returns: "int", // fixed below from the return expression
        phrase: `repeats a divide-or-grow step at most ${cap} times`,
      };
    },
  },
  {
    name: "run-length",
    params: () => ["str"],
    body: ({ rng, params }) => {
      const s = params[0].name;
      const kind = rng.pick(["encode", "longest", "dedupe"]);
      const joined = rng.chance(0.6);
      if (kind === "encode")
        return {
          lines: [
            `${I(1)}out = []`, `${I(1)}prev = ''`, `${I(1)}run = 0`, `${I(1)}for ch in ${s}:`,
            `${I(2)}if ch == prev:`, `${I(3)}run += 1`, `${I(2)}else:`,
            `${I(3)}if run:`, `${I(4)}out.append(prev + str(run))`, `${I(3)}prev = ch`, `${I(3)}run = 1`,
            `${I(1)}if run:`, `${I(2)}out.append(prev + str(run))`, `${I(1)}return ${joined ? "''.join(out)" : "out"}`,
          ],
          returns: joined ? "str" : "list[str]",
          phrase: "describes runs of repeated characters",
        };
      if (kind === "longest")
        return {
          lines: [
            `${I(1)}best = 0`, `${I(1)}run = 0`, `${I(1)}prev = ''`, `${I(1)}for ch in ${s}:`,
            `${I(2)}run = run + 1 if ch ${rng.pick(["==", ">=", ">"])} prev else 1`,
            `${I(2)}best = max(best, run)`, `${I(2)}prev = ch`, `${I(1)}return best`,
          ],
          returns: "int",
          phrase: "measures the longest run of characters that follow a rule",
        };
      return {
        lines: [
          `${I(1)}out = ''`, `${I(1)}for ch in ${s}:`, `${I(2)}if not out or out[-1] != ch:`, `${I(3)}out += ${rng.pick(["ch", "ch.upper()"])}`,
          `${I(1)}return out`,
        ],
        returns: "str",
        phrase: "drops characters that repeat the previous one",
      };
    },
  },
];

// Level 4: nested loops, two stages, prefix sums with resets, neighbours, nested string loops.
const level4: Template[] = [
  {
    name: "pairs",
    params: (rng) => (rng.chance(0.6) ? ["list[int]", "int"] : ["list[int]"]),
    body: ({ rng, params }) => {
      const [l, t] = [params[0].name, params[1]?.name ?? String(rng.int(3, 10))];
      const rel = rng.pick([`${l}[i] + ${l}[j] == ${t}`, `${l}[i] > ${l}[j]`, `(${l}[i] * ${l}[j]) % ${rng.int(2, 5)} == 0`, `abs(${l}[i] - ${l}[j]) <= ${t}`]);
      const act = rng.pick([["count = 0", "count += 1", "count -= 1", "count"], ["found = []", "found.append(i)", "found.append(-j)", "found"], ["best = 0", `best = max(best, ${l}[i] + ${l}[j])`, `best = max(best, ${l}[i] - ${l}[j])`, "best"]]);
      const lines = [`${I(1)}${act[0]}`, `${I(1)}for i in range(len(${l})):`, `${I(2)}for j in range(i + 1, len(${l})):`, `${I(3)}if ${rel}:`, `${I(4)}${act[1]}`];
      if (rng.chance(0.5)) lines.push(`${I(3)}elif ${l}[i] == ${l}[j]:`, `${I(4)}${act[2]}`);
      lines.push(`${I(1)}return ${act[3]}`);
      return { lines, returns: act[3] === "found" ? "list[int]" : "int", phrase: "checks every pair of positions in a list" };
    },
  },
  {
    name: "two-stage",
    params: (rng) => [rng.pick<ValueType>(["list[int]", "str", "list[str]"])],
    body: ({ rng, params, gen }) => {
      const loop = iterate(params[0], params, rng);
      return scoped(gen, loop.bound, () => {
        const item = loop.bound[0];
        const e = mentioning(() => gen.expr("int", rng.int(1, 2)), [item.name]) ?? { code: item.type === "int" ? item.name : `len(${item.name})`, prec: 0 };
        const other = mentioning(() => gen.expr("int", 1), [item.name]) ?? { code: "0", prec: 0 };
        const cond = gen.condOn(item);
        const stage2 = rng.pick([
          ["sum(v for v in vals if v % 2 == 0)", "int"],
          ["sorted(vals)[:3]", "list[int]"],
          ["max(vals, default=0) - min(vals, default=0)", "int"],
          ["[v - vals[0] for v in vals]", "list[int]"],
          ["len(set(vals))", "int"],
          ["[v for i, v in enumerate(vals) if i % 2 == 0]", "list[int]"],
        ] as const);
        return {
          lines: [
            `${I(1)}vals = []`, `${I(1)}${loop.header}`, `${I(2)}if ${cond.code}:`, `${I(3)}vals.append(${e.code})`,
            `${I(2)}elif vals:`, `${I(3)}vals[-1] += ${other.code}`,
            `${I(1)}return ${stage2[0]}`,
          ],
          returns: stage2[1] as ValueType,
          phrase: `first collects numbers from ${TYPE_WORDS[params[0].type]}, then summarises them`,
        };
      });
    },
  },
  {
    name: "prefix",
    params: () => ["list[int]"],
    body: ({ rng, params }) => {
      const l = params[0].name;
      const op = rng.pick([["acc + v", "running sums"], ["max(acc, v)", "a running maximum"], ["acc * 2 + v", "a rolling value"], ["acc - v if acc > v else acc + v", "a zig-zag running value"]]);
      const cap = rng.int(8, 30);
      const reset = rng.pick([[`if acc > ${cap}:`, `acc -= ${cap}`], ["if v < 0:", "acc = 0"], [`if acc % ${rng.int(3, 5)} == 0:`, "acc //= 2"]]);
      return {
        lines: [
          `${I(1)}acc = ${rng.int(0, 2)}`, `${I(1)}out = []`, `${I(1)}for v in ${l}:`,
          `${I(2)}acc = ${op[0]}`, `${I(2)}${reset[0]}`, `${I(3)}${reset[1]}`, `${I(2)}out.append(acc)`, `${I(1)}return out`,
        ],
        returns: "list[int]",
        phrase: `returns ${op[1]} over a list, with a reset rule`,
      };
    },
  },
  {
    name: "neighbours",
    params: (rng) => [rng.pick<ValueType>(["list[int]", "str"])],
    body: ({ rng, params }) => {
      const l = params[0].name;
      const cmp = rng.pick([">", "<", "==", "!="]);
      const act = rng.pick([["up, down = 0, 0", "up += 1", "down += 1", "(up, down)"], ["idx = []", "idx.append(i)", "idx.append(-i)", "idx"], ["run, best = 1, 1", "run += 1", "run = 1", "max(best, run)"]]);
      const lines = [`${I(1)}${act[0]}`, `${I(1)}for i in range(1, len(${l})):`, `${I(2)}if ${l}[i] ${cmp} ${l}[i - 1]:`, `${I(3)}${act[1]}`];
      if (act[3] === "max(best, run)") lines.push(`${I(3)}best = max(best, run)`);
      lines.push(`${I(2)}else:`, `${I(3)}${act[2]}`, `${I(1)}return ${act[3]}`);
      return {
        lines,
        returns: act[3] === "idx" ? "list[int]" : act[3].startsWith("(") ? "tuple[int, int]" : "int",
        phrase: "compares each element with the one before it",
      };
    },
  },
  {
    name: "nested-strings",
    params: () => ["list[str]"],
    body: ({ rng, params, gen }) => {
      const ws = params[0].name;
      const w: Var = { name: "w", type: "str" }, ch: Var = { name: "ch", type: "str" };
      return scoped(gen, [w, ch], () => {
        const cond = gen.condOn(ch);
        const kind = rng.pick(["dict", "list"]);
        const lines = kind === "dict"
          ? [`${I(1)}result = {}`, `${I(1)}for w in ${ws}:`, `${I(2)}n = 0`, `${I(2)}for ch in w:`, `${I(3)}if ${cond.code}:`, `${I(4)}n += 1`, `${I(2)}result[w] = n`, `${I(1)}return result`]
          : [`${I(1)}result = []`, `${I(1)}for w in ${ws}:`, `${I(2)}n = 0`, `${I(2)}for ch in w:`, `${I(3)}if ${cond.code}:`, `${I(4)}n += ${rng.int(1, 3)}`, `${I(3)}else:`, `${I(4)}n -= 1`, `${I(2)}result.append(n)`, `${I(1)}return result`];
        return { lines, returns: (kind === "dict" ? "dict[str, int]" : "list[int]") as ValueType, phrase: "scores each string of a list by its characters" };
      });
    },
  },
];

/** Level 4 with a helper: `def g` used in a loop of `f`. Only with `helperFunctions`. */
const helperTemplate: Template = {
  name: "helper",
  params: (rng) => [rng.pick<ValueType>(["list[int]", "list[str]"])],
  body: ({ rng, params }) => {
    const itemType: ValueType = params[0].type === "list[int]" ? "int" : "str";
    const hg = new ExprGen(rng, [{ name: "v", type: itemType }]);
    const cond = hg.condOn({ name: "v", type: itemType });
    const a = hg.expr("int", 1), b = hg.expr("int", 1);
    return {
      before: ["def g(v):", `${I(1)}if ${cond.code}:`, `${I(2)}return ${a.code}`, `${I(1)}return ${b.code}`, ""],
      lines: [`${I(1)}total = 0`, `${I(1)}for item in ${params[0].name}:`, `${I(2)}total += g(item)`, `${I(1)}return total`],
      returns: "int",
      phrase: "applies a helper rule to each element and adds the results",
    };
  },
};

const TEMPLATES: Record<Level, Template[]> = { 0: level0, 1: level1, 2: level2, 3: level3, 4: level4 };

/** Chooses parameter names: distinct, from the pools of their types. */
function nameParams(types: ValueType[], rng: Rng): Var[] {
  const used = new Set<string>();
  return types.map((type) => {
    const pool = PARAM_NAMES[type].filter((n) => !used.has(n));
    const name = rng.pick(pool);
    used.add(name);
    return { name, type };
  });
}

/** The type a `return` of a literal tuple/list/int expression has, for templates that choose late. */
function fixReturn(body: Body): ValueType {
  const last = body.lines[body.lines.length - 1].trim();
  if (body.returns === "int" && /^return \(/.test(last) && /, /.test(last)) return "tuple[int, int]";
  return body.returns;
}

/** One program of `level`, drawn from `rng`. Retries templates whose holes could not be filled. */
export function generateProgram(rng: Rng, level: Level, id: string, opts: GeneratorOptions = {}): GeneratedProgram {
  const templates = level === 4 && opts.helperFunctions ? [...TEMPLATES[4], helperTemplate] : TEMPLATES[level];
  for (let attempt = 0; attempt < 50; attempt++) {
    const t = rng.pick(templates);
    const params = nameParams(t.params(rng), rng);
    const gen = new ExprGen(rng, params.slice());
    const body = t.body({ rng, params, gen });
    if (!body) continue;
    const text = [...(body.before ?? []), `def f(${params.map((p) => p.name).join(", ")}):`, ...body.lines].join("\n");
    if (!params.every((p) => mentions(body.lines.join("\n"), p.name))) continue;
    const returns = fixReturn(body);
    const message = `Takes ${params.map((p) => TYPE_WORDS[p.type]).join(" and ")}; ${body.phrase}; returns ${TYPE_WORDS[returns]}.`;
    return { id, level, template: t.name, params: params.map((p) => p.type), returns, source: text, message };
  }
  throw new Error(`generateProgram: level ${level} templates failed 50 times in a row for ${id}; a template is broken`);
}

export interface GenerateManyOptions extends GeneratorOptions {
  seed: number;
  count: number;
}

/**
 * `count` programs from `seed`. Program i depends only on (seed, i): its level and text come from
 * the stream `Rng.derive(seed, "program", i)`, so asking for more programs extends the list without changing it.
 */
export function generatePrograms(opts: GenerateManyOptions): GeneratedProgram[] {
  // The streams hash the seed's low 32 bits: 1.5, 2^32 + 1 and -4294967295 would all draw seed 1's programs
  // under other ids, so a "different" held-out seed could repeat the pretraining set.
  if (!Number.isInteger(opts.seed) || opts.seed < 0 || opts.seed >= 2 ** 32) throw new Error(`generator seed must be an integer in [0, 2^32), got ${opts.seed}: other values would repeat another seed's programs`);
  if (!Number.isInteger(opts.count) || opts.count < 0) throw new Error(`program count must be a non-negative integer, got ${opts.count}`);
  const weights = opts.levelWeights ?? DEFAULT_LEVEL_WEIGHTS;
  const levelTable = LEVELS.map((l) => [l, weights[l]] as const);
  const out: GeneratedProgram[] = [];
  for (let i = 0; i < opts.count; i++) {
    const rng = Rng.derive(opts.seed, "program", i);
    out.push(generateProgram(rng, rng.weighted(levelTable), `${opts.seed}:${i}`, opts));
  }
  return out;
}
