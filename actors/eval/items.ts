/**
 * A suite as scored items, with the scorers it needs started: what `azr eval` and the
 * in-training evaluation (in-training.ts) both run. One place decides which problems a suite
 * holds (`--limit` = the first N of each benchmark) and which scorer checks them.
 *
 * Covers: code (HumanEval+, MBPP+), math (six sets), LiveCodeBench generation files, executor
 * tasks (CruxEval, LCB-Execution, the tiny held-out set). Not: generation and resume
 * (runner.ts), prompts and per-problem scoring (suites.ts), usage checks of the CLI.
 */
import { readFileSync } from "node:fs";
import { CodeExecutor } from "../code-executor/index.ts";
import { loadCodeBenchmark, type CodeProblem } from "./code-bench.ts";
import { CodeScorer } from "./code-score.ts";
import { isLcbGenerationRow, loadCruxEval, loadLcbExecution, loadLcbGeneration, loadTinyHeldOut, type ExecProblem } from "./file-bench.ts";
import { lcbPrompt, lcbProgram, scoreLcb } from "./lcb-score.ts";
import { loadMathBenchmark, MATH_BENCHMARKS, type MathProblem } from "./math-bench.ts";
import { MathJudge } from "./math-equiv.ts";
import { BenchmarkDataError } from "./paths.ts";
import type { SuiteItem } from "./runner.ts";
import { codeItems, DEFAULT_MAX_NEW, execItems, mathItems, type AnswerChecker, type PromptOptions } from "./suites.ts";
import { EvalWorkerPool } from "./worker-pool.ts";

export const SUITES = ["code", "math", "tiny", "all", "file"] as const;
export type SuiteName = (typeof SUITES)[number];
export type FileFormat = "lcb" | "cruxeval";

export interface SuiteSpec {
  suite: SuiteName;
  /** First N problems of each benchmark (undefined = all). */
  limit?: number;
  /** The JSONL file of `tiny` (held-out set) and `file` suites. */
  data?: string;
  format?: FileFormat;
  prompt: PromptOptions;
  /** Sandboxed scoring workers of the scorers started here. */
  workers: number;
  /** Folder of the shipped benchmarks (code, math). */
  benchmarks: string;
  /** Checks executor tasks (tiny, CruxEval, LCB-Execution); when absent one is started here. */
  executor?: AnswerChecker;
}

export interface BuiltSuite {
  items: SuiteItem[];
  /** Stops the scorers started for this suite. */
  close(): Promise<void>;
}

const limited = <T>(xs: T[], limit: number | undefined): T[] => (limit === undefined ? xs : xs.slice(0, limit));

export function codeProblems(dir: string, limit: number | undefined): CodeProblem[] {
  return [...limited(loadCodeBenchmark(dir, "humaneval+"), limit), ...limited(loadCodeBenchmark(dir, "mbpp+"), limit)];
}

export function mathProblems(dir: string, limit: number | undefined): MathProblem[] {
  return MATH_BENCHMARKS.flatMap((b) => limited(loadMathBenchmark(dir, b), limit));
}

/** A LiveCodeBench file holds code generation rows (question_content) or execution rows (code, input, output). */
export function isLcbGenerationFile(path: string): boolean {
  const first = readFileSync(path, "utf8").split("\n").find((l) => l.trim());
  if (first === undefined) return false;
  let row: Record<string, unknown>;
  try {
    row = JSON.parse(first) as Record<string, unknown>;
  } catch (e) {
    // as readJsonl says it (a bare SyntaxError named no file)
    throw new BenchmarkDataError(`${path}:1: not a JSON line (${(e as Error).message})`, path);
  }
  return isLcbGenerationRow(row);
}

/** The executor tasks of a `tiny` or `file` suite (CruxEval: output prediction first, then input prediction). */
export function execProblems(s: Pick<SuiteSpec, "suite" | "data" | "format" | "limit">): ExecProblem[] {
  if (!s.data) throw new Error(`the ${s.suite} suite needs its JSONL file (--data, or eval.data in a recipe)`);
  if (s.suite === "tiny") return limited(loadTinyHeldOut(s.data), s.limit);
  if (s.format === "cruxeval") {
    const ps = loadCruxEval(s.data);
    return [...limited(ps.filter((p) => p.benchmark === "cruxeval-o"), s.limit), ...limited(ps.filter((p) => p.benchmark === "cruxeval-i"), s.limit)];
  }
  if (s.format === "lcb") return limited(loadLcbExecution(s.data), s.limit);
  throw new Error("a file suite needs its format (--format lcb|cruxeval, or eval.format in a recipe)");
}

/** The suite's items; on failure the scorers started so far are closed. */
export async function suiteItems(s: SuiteSpec): Promise<BuiltSuite> {
  const items: SuiteItem[] = [];
  const closers: (() => Promise<void>)[] = [];
  const close = async () => { for (const c of closers.reverse()) await c().catch(() => {}); };
  try {
    if (s.suite === "code" || s.suite === "all") {
      const scorer = await CodeScorer.start({ workers: s.workers });
      closers.push(() => scorer.close());
      items.push(...codeItems(codeProblems(s.benchmarks, s.limit), scorer, s.prompt));
    }
    if (s.suite === "math" || s.suite === "all") {
      const pool = await EvalWorkerPool.start({ workers: s.workers, math: true });
      closers.push(() => pool.close());
      items.push(...mathItems(mathProblems(s.benchmarks, s.limit), new MathJudge(pool), s.prompt));
    }
    if (s.suite === "file" && s.format === "lcb" && s.data && isLcbGenerationFile(s.data)) {
      const pool = await EvalWorkerPool.start({ workers: s.workers });
      closers.push(() => pool.close());
      items.push(...limited(loadLcbGeneration(s.data), s.limit).map((p): SuiteItem => ({
        benchmark: "lcb",
        id: p.id,
        prompt: lcbPrompt(p, s.prompt.chatTemplate),
        maxNewTokens: s.prompt.maxNewTokens ?? DEFAULT_MAX_NEW.code,
        score: async (response) => {
          const v = await scoreLcb(pool, p, lcbProgram(response));
          return { correct: v.pass, detail: v.detail };
        },
      })));
    } else if (s.suite === "tiny" || s.suite === "file") {
      const problems = execProblems(s);
      let executor = s.executor;
      if (!executor) {
        const own = await CodeExecutor.start({ workers: s.workers });
        closers.push(() => own.close());
        executor = own;
      }
      items.push(...execItems(problems, executor, s.prompt));
    }
    return { items, close };
  } catch (e) {
    await close();
    throw e;
  }
}
