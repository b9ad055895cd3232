/**
 * What the commands that run a recipe's actors (`azr selfplay`, `azr seed`, `azr eval`'s proposal
 * probe) build from it, built in one place so they start the same actors with the same settings.
 *
 * Covers: recipe → actor settings. Not: checking that a recipe can run (selfplay.ts), the actors.
 */
import type { Recipe } from "../../recipes/index.ts";

/**
 * The code executor's settings from a recipe. `workers` defaults to the recipe's; a caller that
 * sizes its own pool (eval's --workers) passes it.
 */
export function executorConfig(recipe: Recipe, workers: number = recipe.executor.workers) {
  return {
    mode: recipe.executor.mode, workers,
    limits: { timeoutMs: recipe.executor.timeoutSeconds * 1000, memoryMB: recipe.executor.memoryMB, maxOutputChars: recipe.validation.maxOutputChars },
    bannedWords: recipe.validation.bannedWords, determinismRuns: recipe.validation.determinismRuns, hashSeed: recipe.executor.hashSeed, hashSeedCheck: recipe.validation.hashSeedCheck,
  };
}
