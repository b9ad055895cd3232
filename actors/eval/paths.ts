/**
 * Where the benchmark data lives: `AZR_BENCHMARKS`, else `../shared/benchmarks` beside the
 * project (the layout the issue names; the data is never copied into the project), else the
 * workplace's /work/shared/benchmarks (a clone made elsewhere on the same machine).
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * A benchmark or --data file that is missing, cut short or not in the expected shape: the user's
 * to fix (restore the file, point --benchmarks elsewhere), so `azr eval` exits 2 on it, naming the
 * file, rather than 1 with a bare ENOENT or "unexpected end of file".
 */
export class BenchmarkDataError extends Error {
  override name = "BenchmarkDataError";
  constructor(message: string, readonly file?: string) {
    super(message);
  }
}

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export function benchmarksDir(env: NodeJS.ProcessEnv = process.env): string {
  const beside = join(PROJECT_ROOT, "..", "shared", "benchmarks");
  const dir = env.AZR_BENCHMARKS ?? [beside, "/work/shared/benchmarks"].find((d) => existsSync(d)) ?? beside;
  if (!existsSync(dir)) {
    throw new BenchmarkDataError(`benchmark data not found at ${dir}: set AZR_BENCHMARKS (or --benchmarks) to the folder holding code/HumanEvalPlus.jsonl.gz, code/MbppPlus.jsonl and math/*/test.jsonl`);
  }
  return dir;
}
