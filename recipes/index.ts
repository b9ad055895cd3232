/**
 * The recipe catalogue: `getRecipe(name)` for the built-in recipes, `loadRecipe(nameOrPath)` for
 * those or a user's JSON / TS file, `listRecipes()`, `--set` overrides, seed paths (with the
 * reference scripts' `OUTPUT_SEED_PATH`-style variables) and a flat listing for `azr recipes show`.
 *
 * A recipe file holds overrides: `{ extends?: "<recipe name>", ...settings }` (default parent:
 * the schema's BASE), exported as `recipe` (or default) from TS, or the whole object in JSON.
 * Covers: resolution and validation. Not: checking model paths or GPUs on this machine.
 */
import { existsSync, readFileSync } from "node:fs";
import { extname, isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { BASE, RULES, type Recipe, type RecipeOverrides } from "./schema.ts";
import { applySetting, applySettingsTogether, mergeRecipe, RecipeError, validateRecipe } from "./validate.ts";
import { levenshtein } from "../azr/reward-registry.ts";
import { recipe as tiny } from "./tiny.ts";
import { recipe as r3b } from "./3b.ts";
import { recipe as r7b } from "./7b.ts";
import { recipe as r14b } from "./14b.ts";
import { recipe as coder3b } from "./coder3b.ts";
import { recipe as coder7b } from "./coder7b.ts";
import { recipe as coder14b } from "./coder14b.ts";
import { recipe as llama8b } from "./llama8b.ts";
import { recipe as qwen34b } from "./qwen3-4b.ts";

export { BASE, RULES, RecipeError, applySetting, validateRecipe, type Recipe, type RecipeOverrides };

/** Built-in recipe files by name (the name inside each file must match its key). */
const BUILTIN: Readonly<Record<string, RecipeOverrides>> = {
  tiny, "3b": r3b, "7b": r7b, "14b": r14b, coder3b, coder7b, coder14b, llama8b, "qwen3-4b": qwen34b,
};

/** A built-in recipe's overrides; own keys only, so `--recipe constructor` is no recipe. */
function builtin(name: string): RecipeOverrides | undefined {
  return Object.hasOwn(BUILTIN, name) ? BUILTIN[name] : undefined;
}

/** Names of the built-in recipes, `tiny` (the default) first. */
export function listRecipes(): string[] {
  return Object.keys(BUILTIN);
}

function unknownName(name: string): RecipeError {
  const names = listRecipes();
  const guess = names.map((n) => [n, levenshtein(n, name)] as const).sort((a, b) => a[1] - b[1])[0];
  const hint = guess && guess[1] <= 2 ? `did you mean '${guess[0]}'? ` : "";
  return new RecipeError(name, [{ path: "(name)", problem: "no such recipe", fix: `${hint}known recipes: ${names.join(", ")} (\`azr recipes list\`), or give a path to a .json/.ts recipe file` }]);
}

/** Resolve overrides against their parent chain (cycle-checked), merge and validate. */
export function buildRecipe(overrides: RecipeOverrides, label: string, seen: string[] = []): Recipe {
  const parentName = overrides.extends;
  let parent: Recipe = BASE;
  if (parentName !== undefined && parentName !== "base") {
    if (seen.includes(parentName)) throw new RecipeError(label, [{ path: "extends", problem: `cycle ${[...seen, parentName].join(" → ")}`, fix: "make one recipe extend another without a loop" }]);
    const p = builtin(parentName);
    if (!p) throw unknownName(parentName);
    parent = buildRecipe(p, parentName, [...seen, parentName]);
  }
  return validateRecipe(mergeRecipe(parent, overrides), label);
}

/** A built-in recipe by name, validated. */
export function getRecipe(name: string): Recipe {
  const o = builtin(name);
  if (!o) throw unknownName(name);
  const r = buildRecipe(o, name, [name]);
  if (r.name !== name) throw new RecipeError(name, [{ path: "name", problem: `the file for '${name}' says name '${r.name}'`, fix: `set name: "${name}"` }]);
  return r;
}

/**
 * A built-in recipe by name, or a recipe file by path (.json, or .ts/.js/.mjs exporting `recipe`
 * or a default). A file's `extends` names its parent (default BASE).
 */
export async function loadRecipe(nameOrPath: string): Promise<Recipe> {
  if (builtin(nameOrPath)) return getRecipe(nameOrPath);
  const ext = extname(nameOrPath).toLowerCase();
  if (!ext) throw unknownName(nameOrPath);
  const file = resolve(nameOrPath);
  if (!existsSync(file)) throw new RecipeError(nameOrPath, [{ path: "(file)", problem: `${file} does not exist`, fix: "check the path, or name a built-in recipe (`azr recipes list`)" }]);
  let overrides: unknown;
  if (ext === ".json") {
    let text: string;
    try { text = readFileSync(file, "utf8"); } catch (e) {
      // a folder or an unreadable file: not a JSON problem
      throw new RecipeError(nameOrPath, [{ path: "(file)", problem: `cannot be read: ${(e as Error).message}`, fix: "name a readable recipe file" }]);
    }
    try { overrides = JSON.parse(text); } catch (e) {
      throw new RecipeError(nameOrPath, [{ path: "(file)", problem: `not valid JSON: ${(e as Error).message}`, fix: "fix the JSON syntax" }]);
    }
  } else if ([".ts", ".mts", ".js", ".mjs"].includes(ext)) {
    let mod: { recipe?: unknown; default?: unknown };
    try {
      mod = (await import(pathToFileURL(file).href)) as typeof mod;
    } catch (e) {
      // a syntax error or a throw in the user's file is the user's to fix: one line, no stack trace
      throw new RecipeError(nameOrPath, [{ path: "(file)", problem: `cannot be loaded: ${String((e as Error).message ?? e).replace(/\s*\n\s*/g, " ")}`, fix: "fix the error in the file" }]);
    }
    overrides = mod.recipe ?? mod.default;
    if (overrides === undefined) throw new RecipeError(nameOrPath, [{ path: "(file)", problem: "exports neither `recipe` nor a default", fix: "add `export const recipe: RecipeOverrides = { … }`" }]);
  } else {
    throw new RecipeError(nameOrPath, [{ path: "(file)", problem: `unsupported extension '${ext}'`, fix: "use a .json or .ts recipe file" }]);
  }
  if (typeof overrides !== "object" || overrides === null || Array.isArray(overrides)) {
    throw new RecipeError(nameOrPath, [{ path: "(file)", problem: "the recipe is not an object", fix: "write { \"extends\": \"tiny\", … }" }]);
  }
  const o = overrides as RecipeOverrides;
  if (o.extends !== undefined && typeof o.extends !== "string") throw new RecipeError(nameOrPath, [{ path: "extends", problem: "must be a recipe name", fix: `one of ${listRecipes().join(", ")}` }]);
  return buildRecipe({ name: nameOrPath, ...o }, nameOrPath);
}

/** Apply `--set path=value` assignments in order (a later one wins); each is parsed by its field's rule, the result validated once. */
export function applySettings(recipe: Recipe, assignments: readonly string[]): Recipe {
  return applySettingsTogether(recipe, assignments);
}

/**
 * The reference scripts' seed-path variables, passed explicitly (never read from process.env
 * here): OUTPUT_SEED_PATH → seed.triplets, OUTPUT_CODE_F_SEED_PATH → seed.induction,
 * OUTPUT_ERROR_SEED_PATH → seed.errors.
 */
export const SEED_ENV = { OUTPUT_SEED_PATH: "triplets", OUTPUT_CODE_F_SEED_PATH: "induction", OUTPUT_ERROR_SEED_PATH: "errors" } as const;

export function applySeedEnv(recipe: Recipe, env: Readonly<Record<string, string | undefined>>): Recipe {
  const next = structuredClone(recipe);
  for (const [variable, key] of Object.entries(SEED_ENV)) {
    const v = env[variable];
    if (v !== undefined && v !== "") next.seed[key] = v;
  }
  return validateRecipe(next, recipe.name);
}

/** Absolute seed file paths (null where the recipe makes its own): relative names resolve against seed.dir under `root`. */
export function resolveSeedPaths(recipe: Recipe, root: string): { triplets: string | null; induction: string | null; errors: string | null } {
  const at = (p: string | null) => (p === null ? null : isAbsolute(p) ? p : resolve(root, recipe.seed.dir, p));
  return { triplets: at(recipe.seed.triplets), induction: at(recipe.seed.induction), errors: at(recipe.seed.errors) };
}

/** Every setting as `[path, value]`, in schema order (for `azr recipes show`). */
export function flattenRecipe(recipe: Recipe): [string, unknown][] {
  const out: [string, unknown][] = [];
  const walk = (v: unknown, path: string) => {
    if (path in RULES || typeof v !== "object" || v === null || Array.isArray(v)) { out.push([path, v]); return; }
    for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
  };
  walk(recipe, "");
  return out;
}
