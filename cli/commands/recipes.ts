/** `azr recipes`: list the built-in recipes, or print one fully resolved (defaults merged, validated). */
import type { CommandModule } from "yargs";
import { applySettings, getRecipe, listRecipes, loadRecipe } from "../../recipes/index.ts";

export const recipesCommand: CommandModule<object, { name?: string; set: string[] }> = {
  command: "recipes [name]",
  describe: "list the built-in recipes, or print one resolved with its defaults (a name or a .json/.ts file)",
  builder: (y) =>
    y
      .positional("name", { type: "string", describe: "recipe to print" })
      .option("set", { type: "string", array: true, default: [], describe: "apply overrides before printing, e.g. --set selfplay.steps=5" }) as never,
  handler: async (argv) => {
    if (!argv.name) {
      for (const n of listRecipes()) {
        const r = getRecipe(n);
        console.log(`${n.padEnd(10)} ${r.model.engine.padEnd(6)} ${String(r.resources.gpus).padStart(2)} GPU  ${r.description}`);
      }
      return;
    }
    try {
      console.log(JSON.stringify(applySettings(await loadRecipe(argv.name), argv.set), null, 2));
    } catch (e) {
      console.error(`azr recipes: ${(e as Error).message}`);
      process.exitCode = 2;
    }
  },
};
