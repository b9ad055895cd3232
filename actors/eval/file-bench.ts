/**
 * Benchmarks given by path (`--suite file --data <path> --format lcb|cruxeval`) and the tiny
 * model's held-out set: loaders that turn public JSONL rows into solver tasks the executor
 * checks (CruxEval-O and LiveCodeBench-Execution as deduction, CruxEval-I as abduction, spec
 * §10), and LiveCodeBench code-generation rows into problems with their tests.
 *
 * Formats read (one JSON object per line):
 *   cruxeval:       {id, code, input, output}                 → cruxeval-o and cruxeval-i
 *   lcb execution:  {id|question_id, code, input, output[, function_name]}
 *                   (input may be written as a call, `name(args)`; the call is stripped)
 *   lcb generation: {question_id, question_title, question_content, starter_code,
 *                    public_test_cases, private_test_cases, metadata}; the test lists are
 *                   JSON text, and private ones may be base64 → zlib → pickle(str) as in the
 *                   published "lite" release (we read only that pickle shape).
 *   tiny held-out:  what actors/base-model/make-corpus.ts writes to heldout.jsonl.
 * Not: scoring (the executor's checkAnswers; lcb-score.ts for code generation).
 */
import { inflateSync } from "node:zlib";
import type { SolverTask as PromptTask } from "../../azr/prompts.ts";
import type { SolverTask as CheckTask } from "../code-executor/index.ts";
import { readJsonl } from "./code-bench.ts";
import { BenchmarkDataError } from "./paths.ts";

export type ExecBenchmark = "cruxeval-o" | "cruxeval-i" | "lcb-execution" | "tiny";

/** A task the solver answers (shown by `prompt`) and the executor checks (`check`). */
export interface ExecProblem {
  id: string;
  benchmark: ExecBenchmark;
  prompt: PromptTask;
  check: CheckTask;
}

export interface LcbTest {
  input: string;
  output: string;
  testtype: "stdin" | "functional";
}

export interface LcbProblem {
  id: string;
  title: string;
  question: string;
  starterCode: string;
  funcName?: string;
  tests: LcbTest[];
}

function need<T>(row: Record<string, unknown>, key: string, where: string): T {
  if (row[key] === undefined || row[key] === null) throw new BenchmarkDataError(`${where}: missing "${key}"`);
  return row[key] as T;
}

export function loadCruxEval(path: string): ExecProblem[] {
  const out: ExecProblem[] = [];
  for (const [i, { row }] of readJsonl<Record<string, unknown>>(path).entries()) {
    const where = `${path}:${i + 1}`;
    const id = String(row.id ?? i);
    const program = need<string>(row, "code", where);
    const input = need<string>(row, "input", where);
    const output = need<string>(row, "output", where);
    out.push({ id, benchmark: "cruxeval-o", prompt: { type: "deduction", program, input }, check: { type: "deduction", program, input, output } });
    out.push({ id, benchmark: "cruxeval-i", prompt: { type: "abduction", program, output }, check: { type: "abduction", program, input, output } });
  }
  return out;
}

/** Whether the `(` at `open` is closed by the text's last character (strings and brackets skipped). */
function closesAtEnd(t: string, open: number): boolean {
  let depth = 0;
  let quote: string | undefined;
  for (let i = open; i < t.length; i++) {
    const ch = t[i];
    if (quote) {
      if (ch === "\\") i++;
      else if (ch === quote) quote = undefined;
      continue;
    }
    if (ch === "'" || ch === '"') quote = ch;
    else if ("([{".includes(ch)) depth++;
    else if (")]}".includes(ch) && --depth === 0) return i === t.length - 1;
  }
  return false;
}

/**
 * `name(1, 2)` → `1, 2` when name is the function's and that one call is the whole text; any
 * other text (`g(1) + g(2)`, `f(1)(2)`) is already an argument list.
 */
export function stripCall(input: string, name: string | undefined): string {
  const t = input.trim();
  const m = /^([A-Za-z_]\w*)\(([\s\S]*)\)$/.exec(t);
  if (m && (name === undefined || m[1] === name || m[1] === "f") && closesAtEnd(t, m[1].length)) return m[2];
  return t;
}

/** The program with an entry `f` (the executor's and the prompts' name) calling the named function. */
function withEntryF(code: string, name: string | undefined): string {
  if (!name || name === "f" || /^def f\(/m.test(code)) return code;
  return `${code}\n\ndef f(*args, **kwargs):\n    return ${name}(*args, **kwargs)\n`;
}

export function isLcbGenerationRow(row: Record<string, unknown>): boolean {
  return "question_content" in row;
}

export function loadLcbExecution(path: string): ExecProblem[] {
  return readJsonl<Record<string, unknown>>(path).map(({ row }, i) => {
    const where = `${path}:${i + 1}`;
    const name = row.function_name as string | undefined;
    const program = withEntryF(need<string>(row, "code", where), name);
    const input = stripCall(need<string>(row, "input", where), name);
    const output = need<string>(row, "output", where);
    const id = String(row.id ?? row.question_id ?? i);
    return { id, benchmark: "lcb-execution" as const, prompt: { type: "deduction" as const, program, input }, check: { type: "deduction" as const, program, input, output } };
  });
}

/**
 * A pickled Python str, the only shape the LCB "lite" private tests use: PROTO, optional FRAME,
 * one (SHORT_)BINUNICODE(8), optional MEMOIZE, STOP. Anything else is refused (never unpickled).
 */
export function unpickleString(buf: Buffer): string {
  let i = 0;
  if (buf[i] === 0x80) i += 2; // PROTO n
  if (buf[i] === 0x95) i += 9; // FRAME u64
  const op = buf[i++];
  let len: number;
  if (op === 0x8c) len = buf.readUInt8(i++); // SHORT_BINUNICODE
  else if (op === 0x58) (len = buf.readUInt32LE(i), (i += 4)); // BINUNICODE
  else if (op === 0x8d) (len = Number(buf.readBigUInt64LE(i)), (i += 8)); // BINUNICODE8
  else throw new Error(`not a pickled string (opcode 0x${(op ?? 0).toString(16)})`);
  const s = buf.subarray(i, i + len).toString("utf8");
  i += len;
  if (buf[i] === 0x94) i++; // MEMOIZE
  if (buf[i] !== 0x2e) throw new Error("pickled string does not end after the string");
  return s;
}

function testList(value: unknown, where: string): LcbTest[] {
  if (Array.isArray(value)) return value as LcbTest[];
  if (typeof value !== "string" || !value.trim()) return [];
  const text = value.trim();
  if (text.startsWith("[")) return JSON.parse(text) as LcbTest[];
  try {
    return JSON.parse(unpickleString(inflateSync(Buffer.from(text, "base64")))) as LcbTest[];
  } catch (e) {
    throw new BenchmarkDataError(`${where}: private_test_cases is neither JSON nor base64/zlib/pickle(str) (${(e as Error).message})`);
  }
}

export function loadLcbGeneration(path: string): LcbProblem[] {
  return readJsonl<Record<string, unknown>>(path).map(({ row }, i) => {
    const where = `${path}:${i + 1}`;
    // The release writes metadata as JSON text; a copy saved through `datasets` may hold the object.
    let meta: { func_name?: string } = {};
    if (typeof row.metadata === "string" && row.metadata.trim()) meta = JSON.parse(row.metadata) as { func_name?: string };
    else if (row.metadata && typeof row.metadata === "object") meta = row.metadata as { func_name?: string };
    return {
      id: String(row.question_id ?? i),
      title: String(row.question_title ?? ""),
      question: need<string>(row, "question_content", where),
      starterCode: String(row.starter_code ?? ""),
      funcName: meta.func_name,
      tests: [...testList(row.public_test_cases, where), ...testList(row.private_test_cases, where)],
    };
  });
}

interface HeldOutRow {
  type: "deduction" | "abduction" | "induction";
  programId: string;
  program: string;
  input?: string;
  output?: string;
  message?: string;
  shown?: { input: string; output: string }[];
  hidden?: { input: string; output: string }[];
}

/** The tiny base model's held-out tasks (make-corpus's heldout.jsonl). */
export function loadTinyHeldOut(path: string): ExecProblem[] {
  return readJsonl<HeldOutRow>(path).map(({ row: r }, i) => {
    const where = `${path}:${i + 1}`;
    const id = `${r.programId}/${r.type}/${i}`;
    if (r.type === "deduction" || r.type === "abduction") {
      if (r.input === undefined || r.output === undefined) throw new BenchmarkDataError(`${where}: ${r.type} task without input/output`);
      const check = { type: r.type, program: r.program, input: r.input, output: r.output } as CheckTask;
      const prompt: PromptTask = r.type === "deduction" ? { type: "deduction", program: r.program, input: r.input } : { type: "abduction", program: r.program, output: r.output };
      return { id, benchmark: "tiny" as const, prompt, check };
    }
    if (!r.shown || !r.hidden || r.message === undefined) throw new BenchmarkDataError(`${where}: induction task without shown/hidden/message`);
    return {
      id,
      benchmark: "tiny" as const,
      prompt: { type: "induction", shown: r.shown, message: r.message },
      check: { type: "induction", program: r.program, message: r.message, imports: [], shown: r.shown, hidden: r.hidden },
    };
  });
}
