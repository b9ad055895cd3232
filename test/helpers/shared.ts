/**
 * Where the shared data lives (seed files, benchmarks): `AZR_SHARED`, else `../shared` beside the
 * repository (as on developers' machines and in CI), else /work/shared.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export const SHARED_DIR: string =
  process.env.AZR_SHARED ?? [join(repoRoot, "../shared"), "/work/shared"].find((d) => existsSync(d)) ?? join(repoRoot, "../shared");

export const SEEDS_DIR = join(SHARED_DIR, "azr-seeds");
