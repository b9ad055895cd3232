/**
 * `azr recipes`: list the built-in recipes, print one fully resolved (defaults merged, validated),
 * or (`show`) every setting of one as the `path = value` lines that `--set` takes. Recipe errors
 * point users at `azr recipes list` and `azr recipes show <name>`, so both must exist.
 */
import type { Argv, CommandModule } from "yargs";
import { applySettings, flattenRecipe, getRecipe, listRecipes, loadRecipe, type Recipe } from "../../recipes/index.ts";
import { RecipeSetupError, reportSetupErrors } from "./recipe-setup.ts";

function printList(): void {
  for (const n of listRecipes()) {
    const r = getRecipe(n);
    console.log(`${n.padEnd(10)} ${r.model.engine.padEnd(6)} ${String(r.resources.gpus).padStart(2)} GPU  ${r.description}`);
  }
}

/** Loads the recipe with its overrides and prints it; a recipe error is one message and exit code 2, not a stack trace. */
function printRecipe(name: string, set: string[], format: (r: Recipe) => string): Promise<void> {
  return reportSetupErrors("recipes", async () => console.log(format(applySettings(await loadRecipe(name), set))));
}

// Not global (yargs's default for options and positionals): declared on `recipes`, --set and <name>
// were shown by `recipes list --help` and accepted (and ignored) by `recipes list --set x=1`.
const setOption = <T>(y: Argv<T>) =>
  y.option("set", { type: "string", array: true, default: [] as string[], global: false, describe: "apply overrides before printing, e.g. --set selfplay.steps=5" });

const listCommand: CommandModule = {
  command: "list",
  describe: "list the built-in recipes (as `azr recipes` alone)",
  handler: () => printList(),
};

const showCommand: CommandModule<object, { name: string; set: string[] }> = {
  command: "show <name>",
  describe: "every setting of a recipe as `path = value`, the keys --set takes",
  builder: (y) => setOption(y.positional("name", { type: "string", demandOption: true, describe: "recipe name or .json/.ts file" })) as never,
  handler: (a) => printRecipe(a.name, a.set, (r) => flattenRecipe(r).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join("\n")),
};

export const recipesCommand: CommandModule<object, { name?: string; set: string[] }> = {
  command: "recipes [name]",
  describe: "list the built-in recipes, or print one resolved with its defaults (a name or a .json/.ts file); `recipes show <name>`: its settings as path = value",
  builder: (y) => {
    const named = y.command(listCommand).command(showCommand).positional("name", { type: "string", describe: "recipe to print" });
    // .positional() takes no `global` setting; yargs's global(key, false) (missing from its types) makes it local.
    return setOption((named as unknown as { global(key: string, global: boolean): typeof named }).global("name", false)) as never;
  },
  handler: async (argv) => {
    // The list has no settings to override: --set without a recipe would be ignored.
    if (!argv.name && argv.set.length) return reportSetupErrors("recipes", async () => {
      throw new RecipeSetupError(`--set ${argv.set[0]} needs a recipe to apply to: give its name (azr recipes <name> --set …, or azr recipes show <name> --set …)`);
    });
    if (!argv.name) return printList();
    await printRecipe(argv.name, argv.set, (r) => JSON.stringify(r, null, 2));
  },
};
