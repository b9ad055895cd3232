/**
 * The start-up that the commands running a recipe's actors share (`azr selfplay`, `azr seed`, and
 * `azr eval`'s proposal probe): load the recipe with its overrides, check it can run here before
 * any actor starts, and build each actor's settings from it, so every command starts the same
 * actors with the same settings.
 *
 * Covers: recipe → checked recipe → actor settings, the shared --recipe/--set options, and how a
 * setup problem is reported. Not: the actors, the cluster, what each command runs.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { Argv } from "yargs";
import { findPython } from "../../model/python.ts";
import { applySeedEnv, applySettings, loadRecipe, resolveSeedPaths, type Recipe } from "../../recipes/index.ts";
import { preflight, type MachineProbe } from "../../recipes/preflight.ts";
import { describeGpus, detectGpusSync } from "../../runtime/index.ts";

/** A recipe that cannot run here, or a command-line value that is off: printed without a stack trace. */
export class RecipeSetupError extends Error {
  override name = "RecipeSetupError";
}

/**
 * What the machine offers, for the recipe preflight: GPUs (nvidia-smi) and, for torch recipes,
 * PyTorch — one that sees CUDA for a GPU recipe (Debian's python3-torch imports but is a CPU build).
 */
export function probeMachine(root: string, recipe: Pick<Recipe, "model" | "resources">): MachineProbe {
  const engine = recipe.model.engine;
  const found = detectGpusSync();
  const gpus = found.gpus.length;
  const gpuDetail = gpus ? describeGpus(found.gpus) : found.reason;
  const gpuMemoryMB = found.gpus.map((g) => g.memoryMB); // 0 where the driver did not say
  if (engine !== "torch") return { root, gpus, gpuDetail, gpuMemoryMB, torch: { available: false, reason: "not needed" } };
  const py = findPython();
  try {
    execFileSync(py.path, ["-c", "import torch"], { stdio: "ignore" });
  } catch {
    return { root, gpus, gpuDetail, gpuMemoryMB, torch: { available: false, reason: `${py.path} cannot import torch (${py.reason})` } };
  }
  if (recipe.resources.gpus > 0) {
    try {
      execFileSync(py.path, ["-c", "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)"], { stdio: "ignore" });
    } catch {
      return { root, gpus, gpuDetail, gpuMemoryMB, torch: { available: false, reason: `${py.path}'s torch has no CUDA (a CPU-only build, or no usable driver) (${py.reason})` } };
    }
  }
  return { root, gpus, gpuDetail, gpuMemoryMB, torch: { available: true } };
}

/** Everything that must hold before any actor starts (spec §11: a missing model stops the run first). */
export function checkRecipeRunnable(r: Recipe, root: string, probe: MachineProbe = probeMachine(root, r)): Recipe {
  const problems = preflight(r, probe);
  if (problems.length) throw new RecipeSetupError(`recipe '${r.name}' cannot start here:\n` + problems.map((p) => `  - ${p.what}\n    fix: ${p.fix}`).join("\n"));
  // Absolute paths from here on, so actors started elsewhere read the same files.
  const seeds = resolveSeedPaths(r, root);
  return { ...r, model: { ...r.model, path: resolve(root, r.model.path!) }, seed: { ...r.seed, ...seeds }, eval: evalRunnable(r, root) };
}

/**
 * The in-training evaluation's settings with its data path made absolute; a held-out or
 * benchmark file that is not there turns the evaluation off with a warning rather than
 * stopping the run (evaluation is a measurement, not part of the algorithm).
 */
function evalRunnable(r: Recipe, root: string): Recipe["eval"] {
  const data = r.eval.data === null ? null : resolve(root, r.eval.data);
  const files = r.eval.files.map((f) => ({ ...f, data: resolve(root, f.data) }));
  const evaluating = r.eval.every > 0 && r.eval.suites.length > 0;
  if (evaluating && data !== null && !existsSync(data) && r.eval.suites.some((s) => s === "tiny" || s === "file")) {
    console.warn(`azr: warning: eval.data ${data} does not exist, so this run has no in-training evaluation; give eval.data (or --set eval.every=0 to silence this)`);
    return { ...r.eval, data, files, every: 0 };
  }
  const missing = evaluating && r.eval.suites.includes("file") ? files.find((f) => !existsSync(f.data)) : undefined;
  if (missing) {
    console.warn(`azr: warning: eval.files names ${missing.data}, which does not exist, so this run has no in-training evaluation; fix eval.files (or --set eval.every=0 to silence this)`);
    return { ...r.eval, data, files, every: 0 };
  }
  return { ...r.eval, data, files };
}

/**
 * The recipe a run starts from: built-in or file, the seed paths of the environment
 * (OUTPUT_SEED_PATH, …), then `--set` overrides; `adjust` makes the command's own changes before
 * the checks, which run against the current folder.
 */
export async function runnableRecipe(name: string, set: readonly string[], adjust: (r: Recipe) => Recipe = (r) => r): Promise<Recipe> {
  const loaded = applySettings(applySeedEnv(await loadRecipe(name), process.env), [...set]);
  return checkRecipeRunnable(adjust(loaded), process.cwd());
}

/** The model every model actor loads: folder, engine, and a GPU where the recipe asks for one. */
export function modelConfig(recipe: Recipe): { modelDir: string; engine: Recipe["model"]["engine"]; device: "cuda" | "cpu"; dtype: Recipe["model"]["dtype"] } {
  return { modelDir: recipe.model.path!, engine: recipe.model.engine, device: recipe.resources.gpus > 0 ? "cuda" : "cpu", dtype: recipe.model.dtype };
}

/** The rollout engine's settings (the self-play actor and `azr seed`'s in-process engine alike). */
export function rolloutConfig(recipe: Recipe, threads: number) {
  return { ...modelConfig(recipe), maxPromptTokens: recipe.data.maxPromptTokens, threads, thinkTokensAsText: recipe.model.thinkTokensAsText,
    tensorParallel: recipe.resources.rolloutTensorParallel };
}

/**
 * The code executor's settings from a recipe. `workers` defaults to the recipe's; a caller that
 * sizes its own pool (eval's --workers) passes it.
 */
export function executorConfig(recipe: Recipe, workers: number = recipe.executor.workers) {
  return {
    mode: recipe.executor.mode, workers,
    limits: { timeoutMs: recipe.executor.timeoutSeconds * 1000, memoryMB: recipe.executor.memoryMB, maxOutputChars: recipe.validation.maxOutputChars },
    bannedWords: recipe.validation.bannedWords, determinismRuns: recipe.validation.determinismRuns, hashSeed: recipe.executor.hashSeed, hashSeedCheck: recipe.validation.hashSeedCheck,
    infraRetries: recipe.executor.infraRetries,
  };
}

/** --recipe and --set, as every recipe-running command takes them; `setExample` shows an override that command cares about. */
export function recipeOptions<T>(y: Argv<T>, setExample: string) {
  return y
    .option("recipe", { type: "string", default: "tiny", describe: "built-in recipe name (azr recipes) or a .json/.ts recipe file" })
    .option("set", { type: "string", array: true, default: [], describe: `override a recipe field, e.g. --set ${setExample} (repeatable)` });
}

/** Errors that mean "fix the recipe, the machine or the arguments", not a bug: no stack trace for them. */
const SETUP_ERRORS = new Set(["RecipeSetupError", "RecipeError", "RunFolderError"]);

/** Runs a command's body; a setup error is printed as `azr <command>: <message>` with exit code 2. */
export async function reportSetupErrors(command: string, run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (e) {
    if (!(e instanceof Error) || !SETUP_ERRORS.has(e.name)) throw e;
    console.error(`azr ${command}: ${e.message}`);
    process.exitCode = 2;
  }
}
