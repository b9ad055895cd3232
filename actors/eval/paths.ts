/**
 * Where the benchmark data lives: `AZR_BENCHMARKS`, else `../shared/benchmarks` beside the
 * project (the layout the issue names; the data is never copied into the project).
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export function benchmarksDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.AZR_BENCHMARKS ?? join(PROJECT_ROOT, "..", "shared", "benchmarks");
  if (!existsSync(dir)) {
    throw new Error(`benchmark data not found at ${dir}: set AZR_BENCHMARKS (or --benchmarks) to the folder holding code/HumanEvalPlus.jsonl.gz, code/MbppPlus.jsonl and math/*/test.jsonl`);
  }
  return dir;
}
