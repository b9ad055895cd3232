/**
 * Optional extra proposer rewards (azr-spec §6.3), as a typed registry users extend.
 *
 * Each term computes a value from the proposal and its context; the reward adds
 * c_k = min(coef_k · value_k, max_k) for every *enabled* term, only when F = 1 and r_prop > 0,
 * combined with r_prop by `sum` (r + Σc), `multiply` (r · Πc), `sum-multiply` (r + Πc) or
 * `multiply-sum` (r · Σc). All terms are off in every published recipe.
 *
 * Covers: the registry, the combiner, built-in terms (answer diversity, hierarchical
 * diversity, edit distance to the references, cyclomatic complexity, Halstead). Not: the
 * counters' storage (the task buffer keeps them; {@link countValue} updates a plain object).
 *
 * Departures from the reference:
 * - complexity and Halstead are read from tokens (pysource.ts), not from Python's AST;
 *   the edit distance is Levenshtein over normalised program text, not over AST dumps.
 *   Both are documented research signals, not reproduced numbers.
 */
import { cyclomaticComplexity, halstead, normalisedProgramKey } from "./pysource.ts";
import { hashKey, pyTypeName, tryParseLiteral } from "./literal.ts";
import type { TaskType } from "./tasks.ts";

/** How often each value and each type was seen in a buffer: `{ types: {int: 3}, values: {int: {"n1": 2}} }`. */
export interface ValueCounters {
  total: number;
  types: Record<string, number>;
  values: Record<string, Record<string, number>>;
}

export function emptyCounters(): ValueCounters {
  return { total: 0, types: {}, values: {} };
}

/** Type name and canonical key of a literal text (unparsable text counts as its own `text` type). */
export function valueIdentity(text: string): { type: string; key: string } {
  const v = tryParseLiteral(text);
  return v ? { type: pyTypeName(v), key: hashKey(v) } : { type: "text", key: text.trim() };
}

/** Record one value in the counters (mutates and returns them). */
export function countValue(c: ValueCounters, text: string): ValueCounters {
  const { type, key } = valueIdentity(text);
  c.total++;
  c.types[type] = (c.types[type] ?? 0) + 1;
  (c.values[type] ??= {})[key] = (c.values[type][key] ?? 0) + 1;
  return c;
}

/** Surprise of a value against the counters: 1 − count/total, 1 if unseen (or nothing seen yet). */
export function surprise(c: ValueCounters, text: string): number {
  if (c.total === 0) return 1;
  const { type, key } = valueIdentity(text);
  const n = c.values[type]?.[key] ?? 0;
  return n === 0 ? 1 : 1 - n / c.total;
}

/** Hierarchical surprise: first by type (1 − share of the type), then by value within the type, averaged. */
export function hierarchicalSurprise(c: ValueCounters, text: string): number {
  if (c.total === 0) return 1;
  const { type, key } = valueIdentity(text);
  const nType = c.types[type] ?? 0;
  if (nType === 0) return 1;
  const nValue = c.values[type]?.[key] ?? 0;
  return 0.5 * (1 - nType / c.total) + 0.5 * (nValue === 0 ? 1 : 1 - nValue / nType);
}

/** Everything a term may look at. */
export interface ExtraRewardContext {
  type: TaskType;
  program: string;
  /** Deduction / abduction / error: the one input and output; induction: all of them. */
  inputs: string[];
  outputs: string[];
  /** The programs shown as references (deduction / abduction). */
  referencePrograms: string[];
  /** The buffer's counters for this task type's inputs and outputs. */
  inputCounters: ValueCounters;
  outputCounters: ValueCounters;
}

export interface ExtraRewardTerm {
  name: string;
  /** A short description for `azr recipes show`. */
  describe: string;
  /** The raw value (before coef and max), usually in [0, 1]. */
  value(ctx: ExtraRewardContext): number;
}

export interface TermSettings {
  enabled: boolean;
  coef: number;
  max: number;
}

export type CombineMode = "sum" | "multiply" | "sum-multiply" | "multiply-sum";

export type RewardRegistry = ReadonlyMap<string, ExtraRewardTerm>;

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/** The built-in terms. */
export const BUILTIN_TERMS: readonly ExtraRewardTerm[] = [
  {
    name: "inputDiversity",
    describe: "surprise of the proposed input(s) against the buffer's input counters",
    value: (c) => mean(c.inputs.map((x) => surprise(c.inputCounters, x))),
  },
  {
    name: "outputDiversity",
    describe: "surprise of the produced output(s) against the buffer's output counters",
    value: (c) => mean(c.outputs.map((x) => surprise(c.outputCounters, x))),
  },
  {
    name: "hierarchicalInputDiversity",
    describe: "surprise of the input(s) by type, then by value within the type",
    value: (c) => mean(c.inputs.map((x) => hierarchicalSurprise(c.inputCounters, x))),
  },
  {
    name: "hierarchicalOutputDiversity",
    describe: "surprise of the output(s) by type, then by value within the type",
    value: (c) => mean(c.outputs.map((x) => hierarchicalSurprise(c.outputCounters, x))),
  },
  {
    name: "editDistance",
    describe: "mean normalised Levenshtein distance of the program to the reference programs",
    value: (c) => {
      const p = normalisedProgramKey(c.program);
      return mean(c.referencePrograms.map((r) => { const q = normalisedProgramKey(r); return levenshtein(p, q) / Math.max(p.length, q.length, 1); }));
    },
  },
  {
    name: "complexity",
    describe: "cyclomatic complexity of the program, normalised: min((C − 1) / 10, 1)",
    value: (c) => { try { return Math.min((cyclomaticComplexity(c.program) - 1) / 10, 1); } catch { return 0; } },
  },
  {
    name: "halstead",
    describe: "0.5·min(E/10000, 1) + 0.3·min(C/10, 1) + 0.2·min(V/500, 1)",
    value: (c) => {
      try {
        const h = halstead(c.program);
        return 0.5 * Math.min(h.effort / 10000, 1) + 0.3 * Math.min(cyclomaticComplexity(c.program) / 10, 1) + 0.2 * Math.min(h.volume / 500, 1);
      } catch { return 0; }
    },
  },
];

/** A registry with the built-ins plus `extra` terms (a name clash is an error, not a silent override). */
export function createRewardRegistry(extra: readonly ExtraRewardTerm[] = []): RewardRegistry {
  const m = new Map<string, ExtraRewardTerm>();
  for (const t of [...BUILTIN_TERMS, ...extra]) {
    if (m.has(t.name)) throw new Error(`reward term '${t.name}' is registered twice; give your term another name`);
    m.set(t.name, t);
  }
  return m;
}

/** c_k = min(coef · value, max) for every enabled term, in settings order. Unknown names are an error. */
export function extraTerms(registry: RewardRegistry, settings: Readonly<Record<string, TermSettings>>, ctx: ExtraRewardContext): { name: string; value: number; c: number }[] {
  const out: { name: string; value: number; c: number }[] = [];
  for (const [name, s] of Object.entries(settings)) {
    const term = registry.get(name);
    if (!term) throw new Error(`reward term '${name}' is not registered; known: ${[...registry.keys()].join(", ")}`);
    if (!s.enabled) continue;
    const value = term.value(ctx);
    out.push({ name, value, c: Math.min(s.coef * value, s.max) });
  }
  return out;
}

/** Combine r_prop with the enabled terms' c_k; no enabled terms → r_prop unchanged. */
export function combineExtras(rProp: number, cs: readonly number[], mode: CombineMode): number {
  if (cs.length === 0) return rProp;
  const sum = cs.reduce((a, b) => a + b, 0), prod = cs.reduce((a, b) => a * b, 1);
  switch (mode) {
    case "sum": return rProp + sum;
    case "multiply": return rProp * prod;
    case "sum-multiply": return rProp + prod;
    case "multiply-sum": return rProp * sum;
  }
}
