/**
 * The tiny model's held-out evaluation set and its trivial baselines.
 *
 * The set is made from a generator seed never used for pretraining, and any pretraining program
 * equal to a held-out one up to whitespace and the names of its own variables (`programOverlapKey`:
 * `def f(n): return n + 1` is `def f(x): return x + 1`) is removed from pretraining (`withoutHeldOut`).
 * Tasks per held-out program: one deduction (pair 0), one abduction (pair 1), one induction
 * (the first N pairs: ⌊N/2⌋ shown with the message, the rest hidden).
 *
 * Trivial baselines — what a model gets without reading the program:
 *   constant  deduction: the most frequent output of the pretraining corpus;
 *             abduction: the most frequent pretraining input with the same parameter types;
 *             induction: `f` returning the most frequent shown output, whatever its arguments;
 *   copy      deduction: the input text as the output; abduction: the output text as the input;
 *             induction: `f` returning its first argument.
 * Covers: building tasks and baseline answers, accuracy with a bootstrap interval. Not: running
 * answers (abduction and induction need execution: actors/base-model/heldout.ts does that).
 */
import { normalisedProgramKey, tokenizePython, type PyTok } from "../pysource.ts";
import { splitInductionPairs } from "../prompts.ts";
import type { ExecutedProgram } from "./format.ts";
import { Rng } from "./rng.ts";

export type HeldOutTask =
  | { type: "deduction"; programId: string; program: string; input: string; output: string }
  | { type: "abduction"; programId: string; program: string; input: string; output: string }
  | { type: "induction"; programId: string; program: string; message: string; shown: IoPair[]; hidden: IoPair[] };

export interface IoPair {
  input: string;
  output: string;
}

export function heldOutTasks(programs: readonly ExecutedProgram[], nInputs: number): HeldOutTask[] {
  const out: HeldOutTask[] = [];
  for (const p of programs) {
    if (p.pairs.length < Math.max(2, nInputs)) throw new Error(`held-out program ${p.id} has ${p.pairs.length} pairs; needs ${nInputs}`);
    out.push({ type: "deduction", programId: p.id, program: p.source, ...p.pairs[0] });
    out.push({ type: "abduction", programId: p.id, program: p.source, ...p.pairs[1] });
    const { shown, hidden } = splitInductionPairs(p.pairs.slice(0, nInputs));
    out.push({ type: "induction", programId: p.id, program: p.source, message: p.message, shown, hidden });
  }
  return out;
}

/** The first program of each normalised text (self-play's buffers de-duplicate the same way). */
export function dedupeBySource<T extends { source: string }>(programs: readonly T[]): { kept: T[]; removed: number } {
  const seen = new Set<string>();
  const kept = programs.filter((p) => {
    const key = normalisedProgramKey(p.source);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return { kept, removed: programs.length - kept.length };
}

/** Tokens by logical line, comments dropped. */
function logicalLines(t: readonly PyTok[]): PyTok[][] {
  const lines: PyTok[][] = [];
  for (const tok of t) if (tok.kind !== "comment") (lines[tok.line] ??= []).push(tok);
  return lines.filter(Boolean);
}

const KEYWORDS = new Set([
  "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else", "except",
  "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try",
  "while", "with", "yield",
]);
const ASSIGN = /^(?:=|[-+*/%&|^@]=|\/\/=|\*\*=|>>=|<<=)$/;

/** In `def f(a, b=1):`, whether token i of the line is at the parameter list's own depth. */
const inDefParams = (line: readonly PyTok[], i: number) => line[0].text === "def" && line[i].depth === line[0].depth + 1;

/** Names a program binds itself: parameters, assignment, loop, comprehension, lambda, `as` and walrus targets. */
function boundNames(t: readonly PyTok[]): Set<string> {
  const bound = new Set<string>();
  for (const line of logicalLines(t)) {
    // `a = …`, `a, b = …`, `a += …` at the statement's start
    let j = 0;
    while (j < line.length && line[j].depth === line[0].depth && ((line[j].kind === "name" && !KEYWORDS.has(line[j].text)) || line[j].text === ",")) j++;
    if (j > 0 && j < line.length && ASSIGN.test(line[j].text)) for (const x of line.slice(0, j)) if (x.kind === "name") bound.add(x.text);
    line.forEach((tok, i) => {
      const prev = line[i - 1]?.text ?? "";
      if (tok.kind === "name" && inDefParams(line, i) && ["(", ",", "*", "**"].includes(prev)) bound.add(tok.text);
      if (tok.kind === "name" && (prev === "as" || line[i + 1]?.text === ":=")) bound.add(tok.text);
      if (tok.text !== "for" && tok.text !== "lambda") return;
      // `for a, b in`, `lambda a, b:` (targets end at `in` / `:` at the same depth)
      const end = tok.text === "for" ? "in" : ":";
      for (let k = i + 1; k < line.length && !(line[k].text === end && line[k].depth === tok.depth); k++)
        if (line[k].kind === "name" && line[k - 1].text !== "=") bound.add(line[k].text);
    });
  }
  return bound;
}

/**
 * Equal for programs that differ only in whitespace (as `normalisedProgramKey`) and in the names
 * of the variables they bind themselves, renamed consistently in order of first use
 * (alpha-equivalence): such programs compute the same function, so a held-out task on one is
 * answered by a model that memorised the other. Names they do not bind (builtins, `f`, attributes,
 * keyword arguments of calls) stay as written.
 */
export function programOverlapKey(src: string): string {
  let t: PyTok[];
  try { t = tokenizePython(src); } catch { return normalisedProgramKey(src); }
  const bound = boundNames(t);
  const canonical = new Map<string, string>();
  let out = "", at = 0;
  for (const line of logicalLines(t))
    line.forEach((tok, i) => {
      if (tok.kind !== "name" || !bound.has(tok.text) || line[i - 1]?.text === "." || line[i - 1]?.text === "def") return;
      if (tok.depth > 0 && line[i + 1]?.text === "=" && !inDefParams(line, i)) return; // call(key=…)
      if (!canonical.has(tok.text)) canonical.set(tok.text, `_v${canonical.size}`);
      out += src.slice(at, tok.start) + canonical.get(tok.text);
      at = tok.end;
    });
  return normalisedProgramKey(out + src.slice(at));
}

/** Pretraining programs minus those equal to a held-out program up to whitespace and variable names (`programOverlapKey`). */
/**
 * How two programs count as the same: `names` (programOverlapKey: whitespace and bound variable
 * names ignored, the default) or `text` (normalisedProgramKey: whitespace only — how data/tiny's
 * corpus was cut, which `make base-model` must repeat to rebuild it).
 */
export type OverlapMatch = "names" | "text";

export function withoutHeldOut<T extends { source: string }>(train: readonly T[], heldOut: readonly { source: string }[], match: OverlapMatch = "names"): { kept: T[]; removed: number } {
  const key = match === "names" ? programOverlapKey : normalisedProgramKey;
  const keys = new Set(heldOut.map((p) => key(p.source)));
  const kept = train.filter((p) => !keys.has(key(p.source)));
  return { kept, removed: train.length - kept.length };
}

function mostFrequent(items: Iterable<string>): string | undefined {
  const counts = new Map<string, number>();
  for (const x of items) counts.set(x, (counts.get(x) ?? 0) + 1);
  let best: string | undefined, bestN = 0;
  for (const [x, n] of counts) if (n > bestN || (n === bestN && best !== undefined && x < best)) [best, bestN] = [x, n];
  return best;
}

/** What the constant baseline answers, learned from the pretraining programs only. */
export interface ConstantAnswers {
  output: string;
  /** Most frequent input per parameter signature (`int,str`). */
  inputBySignature: Record<string, string>;
}

export function constantAnswers(train: readonly ExecutedProgram[]): ConstantAnswers {
  const output = mostFrequent(train.flatMap((p) => p.pairs.map((x) => x.output))) ?? "0";
  const bySig = new Map<string, string[]>();
  for (const p of train) {
    const sig = p.params.join(",");
    const list = bySig.get(sig) ?? [];
    list.push(...p.pairs.map((x) => x.input));
    bySig.set(sig, list);
  }
  const inputBySignature: Record<string, string> = {};
  for (const [sig, inputs] of bySig) inputBySignature[sig] = mostFrequent(inputs)!;
  return { output, inputBySignature };
}

export type BaselineName = "constant" | "copy";

/** A baseline's answer to a task: a literal (deduction), an argument list (abduction) or a program (induction). */
export function baselineAnswer(task: HeldOutTask, baseline: BaselineName, consts: ConstantAnswers, signature: string): string {
  switch (task.type) {
    case "deduction":
      return baseline === "constant" ? consts.output : task.input;
    case "abduction":
      return baseline === "constant" ? (consts.inputBySignature[signature] ?? "0") : task.output;
    case "induction":
      return baseline === "constant"
        ? `def f(*args):\n    return ${mostFrequent(task.shown.map((p) => p.output)) ?? "0"}`
        : "def f(a, *rest):\n    return a";
  }
}

export interface Accuracy {
  correct: number;
  total: number;
  accuracy: number;
  /** 95% percentile bootstrap interval. */
  low: number;
  high: number;
}

export interface PairedDifference {
  /** Tasks scored by both. */
  total: number;
  /** after − before accuracy, as a fraction. */
  difference: number;
  /** 95% percentile bootstrap interval of the difference, resampling tasks (pairs stay together). */
  low: number;
  high: number;
  /** Tasks right after and wrong before, and the reverse. */
  gained: number;
  lost: number;
}

/**
 * The change in accuracy between two models on the same tasks, with a paired bootstrap: each
 * resample draws tasks, not outcomes, so a task both models find easy (or hard) counts once —
 * far tighter than comparing two separate intervals when most tasks agree.
 */
export function pairedDifference(before: readonly boolean[], after: readonly boolean[], seed = 0, resamples = 2000): PairedDifference {
  if (before.length !== after.length) throw new Error(`paired difference of ${before.length} and ${after.length} outcomes: the two runs must score the same tasks`);
  const n = before.length;
  const delta = before.map((b, i) => Number(after[i]) - Number(b));
  const gained = delta.filter((d) => d > 0).length;
  const lost = delta.filter((d) => d < 0).length;
  if (n === 0) return { total: 0, difference: 0, low: 0, high: 0, gained, lost };
  return { total: n, difference: (gained - lost) / n, ...bootstrapMean(delta, Rng.derive(seed, "paired-bootstrap"), resamples), gained, lost };
}

/** The 95% percentile bootstrap interval of the mean of `values` (not empty): `resamples` draws of n with replacement. */
function bootstrapMean(values: readonly number[], rng: Rng, resamples: number): { low: number; high: number } {
  const n = values.length;
  const means: number[] = [];
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += values[rng.int(0, n - 1)];
    means.push(sum / n);
  }
  means.sort((a, b) => a - b);
  return { low: means[Math.floor(0.025 * resamples)], high: means[Math.ceil(0.975 * resamples) - 1] };
}

/** Accuracy with a seeded 95% percentile bootstrap interval (1,000 resamples). */
export function accuracyWithInterval(outcomes: readonly boolean[], seed = 0, resamples = 1000): Accuracy {
  const n = outcomes.length;
  const correct = outcomes.filter(Boolean).length;
  if (n === 0) return { correct: 0, total: 0, accuracy: 0, low: 0, high: 0 };
  return { correct, total: n, accuracy: correct / n, ...bootstrapMean(outcomes.map(Number), Rng.derive(seed, "bootstrap"), resamples) };
}
