/**
 * Code benchmarks as problems: HumanEval+ and MBPP+ (EvalPlus releases, read from the shared
 * benchmarks folder), and program extraction from a model's response.
 *
 * Covers: reading the files, the canonical program of each problem, the container types of the
 * arguments (JSON has no tuples; each MBPP+ problem's own contract says which arguments are
 * tuples, and we convert those, so a program sees what the benchmark's authors fed it), the
 * HumanEval/32 oracle (any root of the polynomial is right), the program a response gives.
 * Not: running anything (code-score.ts), LiveCodeBench / CruxEval (file-bench.ts).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { join } from "node:path";
import { extractAnswer, fencesOf } from "../../azr/answer.ts";
import { BenchmarkDataError } from "./paths.ts";
import { parsePyJson, rawField } from "./pyjson.ts";

export type CodeBenchmark = "humaneval+" | "mbpp+";
export type TupleMode = "self" | "items" | "values" | "deep" | "number";

export interface CodeProblem {
  id: string;
  benchmark: CodeBenchmark;
  /** The benchmark's prompt: a signature and docstring (HumanEval+) or a task statement with one assert (MBPP+). */
  prompt: string;
  entry: string;
  /** A complete program that solves the problem (the benchmark's canonical solution). */
  canonical: string;
  /** Argument lists as JSON text exactly as the benchmark wrote them (big ints, `1e+20` floats
   * and Infinity survive only that way; Python reads them), and how many each holds. */
  inputs: { base: string; plus: string; nBase: number; nPlus: number };
  /** Float tolerance of the benchmark (0 = exact, floats still get 1e-6 as in EvalPlus). */
  atol: number;
  /** Arguments to convert before each call, [position, how]: into tuples (JSON has none), or
   * strings into numbers (complex values are written as strings). */
  tupleArgs: [number, TupleMode][];
  /** "poly-root": any x with |poly(x)| ≤ atol is right; "not-none": only `output is not None` is compared. */
  oracle?: "poly-root" | "not-none";
}

export const CODE_FILES: Record<CodeBenchmark, string> = {
  "humaneval+": "code/HumanEvalPlus.jsonl.gz",
  "mbpp+": "code/MbppPlus.jsonl",
};

interface EvalPlusRow {
  task_id: string;
  prompt: string;
  entry_point: string;
  canonical_solution: string;
  base_input: unknown[][];
  plus_input: unknown[][] | Record<string, never>;
  atol: number | null;
  contract?: string;
}

/** Rows of a JSON-lines file (gzip allowed), each with its source line. */
export function readJsonl<T>(path: string): { row: T; line: string }[] {
  // Named here: a bare ENOENT or zlib's "unexpected end of file" said neither which file nor what to do.
  if (!existsSync(path)) throw new BenchmarkDataError(`${path}: no such file`, path);
  if (!statSync(path).isFile()) throw new BenchmarkDataError(`${path}: a folder, not a JSONL file`, path);
  const raw = readFileSync(path);
  let text: string;
  try {
    text = path.endsWith(".gz") ? gunzipSync(raw).toString("utf8") : raw.toString("utf8");
  } catch (e) {
    throw new BenchmarkDataError(`${path}: not a complete gzip file (${(e as Error).message}): it is truncated or damaged`, path);
  }
  const rows: { row: T; line: string }[] = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    try {
      rows.push({ row: parsePyJson(line) as T, line });
    } catch (e) {
      throw new BenchmarkDataError(`${path}:${i + 1}: not a JSON line (${(e as Error).message})`, path);
    }
  });
  return rows;
}

/** Parameter names of `def <entry>(...)` in a program (annotations and defaults dropped). */
export function parameterNames(program: string, entry: string): string[] {
  const m = new RegExp(`def\\s+${entry}\\s*\\(([^)]*)\\)`).exec(program);
  if (!m) return [];
  const names: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of m[1]) {
    if ("[({".includes(ch)) depth++;
    if ("])}".includes(ch)) depth--;
    if (ch === "," && depth === 0) {
      names.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (cur.trim()) names.push(cur);
  return names.map((n) => n.split(/[:=]/)[0].trim().replace(/^\*+/, "")).filter(Boolean);
}

/**
 * Which arguments the contract wants as tuples. Contract lines are asserts such as
 * `isinstance(test_tup, tuple)` (the argument itself), `all(isinstance(x, tuple) for x in lst)`
 * (its items), `... for x in d.values()` (a dict's values), or a recursive `tuple_check` (all
 * the way down). `isinstance(x, (list, tuple))` accepts a list, so it asks for nothing.
 */
export function tuplePlan(contract: string, params: string[]): [number, TupleMode][] {
  const plan: [number, TupleMode][] = [];
  const self = new Set<number>();
  const lines = contract.split("\n");
  const deep = /def\s+tuple_check/.test(contract);
  params.forEach((name, k) => {
    for (const line of lines) {
      if (new RegExp(`isinstance\\(\\s*${name}\\s*,\\s*tuple\\s*\\)`).test(line)) self.add(k);
      const items = new RegExp(`isinstance\\(\\s*(\\w+)\\s*,\\s*tuple\\s*\\).*for\\s+\\1\\s+in\\s+${name}(\\.values\\(\\))?\\b`).exec(line);
      if (items) plan.push([k, items[2] ? "values" : "items"]);
    }
    if (deep && new RegExp(`tuple_check\\(\\s*${name}\\s*\\)`).test(contract)) plan.push([k, "deep"]);
  });
  for (const k of self) plan.push([k, "self"]); // after "items": that one keeps the outer type
  // Complex arguments are written as strings ("1j"); with them come numbers as strings ("0").
  if (/\bcomplex\b/.test(contract)) params.forEach((_, k) => plan.push([k, "number"]));
  return plan;
}

/** MBPP+ problems whose output is compared only as "is it None?" (they return re.Match objects). */
const NOT_NONE_ENTRIES = new Set(["check_str", "text_match_three", "text_starta_endb"]);

function inputList(line: string, key: string, parsed: unknown): { text: string; n: number } {
  // An empty object stands for "no inputs" in one MBPP+ row.
  if (!Array.isArray(parsed)) return { text: "[]", n: 0 };
  return { text: rawField(line, key) ?? "[]", n: parsed.length };
}

function toProblem(row: EvalPlusRow, line: string, benchmark: CodeBenchmark): CodeProblem {
  const base = inputList(line, "base_input", row.base_input);
  const plus = inputList(line, "plus_input", row.plus_input);
  const canonical = benchmark === "humaneval+" ? row.prompt + row.canonical_solution : row.canonical_solution;
  return {
    id: row.task_id,
    benchmark,
    prompt: row.prompt,
    entry: row.entry_point,
    canonical,
    inputs: { base: base.text, plus: plus.text, nBase: base.n, nPlus: plus.n },
    atol: row.atol ?? 0,
    tupleArgs: tuplePlan(row.contract ?? "", parameterNames(canonical, row.entry_point)),
    oracle: row.task_id === "HumanEval/32" ? "poly-root" : benchmark === "mbpp+" && NOT_NONE_ENTRIES.has(row.entry_point) ? "not-none" : undefined,
  };
}

export function loadCodeBenchmark(benchmarksDir: string, benchmark: CodeBenchmark): CodeProblem[] {
  const path = join(benchmarksDir, CODE_FILES[benchmark]);
  const rows = readJsonl<EvalPlusRow>(path);
  for (const [i, { row: r }] of rows.entries()) {
    for (const key of ["task_id", "entry_point", "canonical_solution", "base_input", "plus_input"] as const) {
      if (r[key] === undefined) throw new BenchmarkDataError(`${path}: row ${i + 1} has no "${key}" (not an EvalPlus release file?)`, path);
    }
  }
  return rows.map(({ row, line }) => toProblem(row, line, benchmark));
}

/** Top-level import lines of a prompt (HumanEval's `from typing import List`), which a model's code may omit. */
export function promptImports(prompt: string): string {
  return prompt.split("\n").filter((l) => /^(import\s|from\s+\S+\s+import\s)/.test(l)).join("\n");
}

/**
 * The last ```python block of a text (spec §10); only when there is none, the last untagged
 * block (our leniency). An untagged block after the code (an example run, its output) is never
 * taken for the program.
 */
export function lastPythonBlock(text: string): string | undefined {
  return fencesOf(text, "python").at(-1) ?? fencesOf(text, "").at(-1);
}

/** EvalPlus's completion prompt for base models: the problem's prompt, stripped, and a newline. */
export function evalplusPrompt(problem: Pick<CodeProblem, "prompt">): string {
  return problem.prompt.trim() + "\n";
}

/** EvalPlus's prompt for chat models (its instruction and response prefixes). */
export const EVALPLUS_INSTRUCTION = "Please provide a self-contained Python script that solves the following problem in a markdown code block:";
export const EVALPLUS_RESPONSE = "Below is a Python script with a self-contained function that solves the problem and passes corresponding tests:";

/**
 * EvalPlus's chat prompt: the problem in a fenced block after its instruction, and the assistant's
 * turn opened with its response prefix and a ```python fence, so the model writes code at once.
 */
export function evalplusChatPrompt(problem: Pick<CodeProblem, "prompt">): { user: string; assistantPrefill: string } {
  return { user: `${EVALPLUS_INSTRUCTION}\n\`\`\`\n${problem.prompt.trim()}\n\`\`\`\n`, assistantPrefill: `${EVALPLUS_RESPONSE}\n\`\`\`python\n` };
}

/** EvalPlus's stop strings for direct completion (its EOS list and the per-dataset extras). */
export const EVALPLUS_STOP: Record<CodeBenchmark, readonly string[]> = {
  "humaneval+": ["<|endoftext|>", "<|endofmask|>", "</s>", "\nif __name__", "\ndef main(", "\nprint(", "\ndef ", "\nclass ", "\nimport ", "\nfrom ", "\nassert "],
  "mbpp+": ["<|endoftext|>", "<|endofmask|>", "</s>", "\nif __name__", "\ndef main(", "\nprint(", '\n"""', "\nassert"],
};

/** EvalPlus's stop strings with its chat prompt, besides the closing fence: its EOS list. */
export const EVALPLUS_CHAT_STOP: readonly string[] = ["<|endoftext|>", "<|endofmask|>", "</s>", "\nif __name__", "\ndef main(", "\nprint("];

function cutAt(text: string, stops: readonly string[]): string {
  let end = text.length;
  for (const stop of stops) {
    const at = text.indexOf(stop);
    if (at >= 0 && at < end) end = at;
  }
  return text.slice(0, end);
}

/** A completion cut where EvalPlus's generation would have stopped (greedy: the same text up to there). */
export function cutAtStop(completion: string, benchmark: CodeBenchmark): string {
  return cutAt(completion, EVALPLUS_STOP[benchmark]);
}

/** EvalPlus's decoders (hf, vllm) write each tab of a generation as four spaces. */
const untab = (generated: string) => generated.replace(/\t/g, "    ");

/**
 * The program in a response (spec §10): with the R1 prompt, the last ```python block inside
 * `<answer>`, the prompt's imports first; with the EvalPlus prompt, as EvalPlus takes it: the
 * prompt followed by the completion cut at EvalPlus's stop strings; with EvalPlus's chat prompt
 * (`chat`), the response up to its closing fence or another of EvalPlus's chat stops. EvalPlus's
 * generated text has its tabs as four spaces.
 */
export function extractProgram(response: string, problem: Pick<CodeProblem, "prompt" | "benchmark">, prompt: "r1" | "evalplus", chat = false): string | undefined {
  let code: string | undefined;
  if (prompt === "r1") code = lastPythonBlock(extractAnswer(response));
  else if (chat) {
    // the prompt opened the fence: the code runs to EvalPlus's chat stops ("\n```", its EOS list:
    // "\nprint(", "\ndef main(", ...), as EvalPlus takes it (no prompt text or imports added; its
    // sanitizer does the rest)
    const end = response.search(/(^|\n)```/); // the response starts inside the fence the prompt opened
    code = untab(cutAt(end >= 0 ? response.slice(0, end) : response, EVALPLUS_CHAT_STOP));
    return code.trim() ? code : undefined;
  } else {
    // EvalPlus's direct completion: its prompt, then the completion cut at its stops; its sanitizer
    // (at scoring) keeps the longest parsable run, so a markdown fence around the code falls away there
    const completion = untab(cutAtStop(response, problem.benchmark));
    return completion.trim() ? evalplusPrompt(problem) + completion : undefined;
  }
  if (code === undefined || !code.trim()) return undefined;
  const imports = promptImports(problem.prompt);
  return imports ? `${imports}\n${code}` : code;
}
