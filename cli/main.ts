/** The `azr` command (yargs). Each subcommand lives in cli/commands/ as a function over runtime + recipes. */
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { doctorCommand } from "./commands/doctor.ts";
import { selfplayCommand } from "./commands/selfplay.ts";
import { recipesCommand } from "./commands/recipes.ts";

await yargs(hideBin(process.argv))
  .scriptName("azr")
  .command(selfplayCommand)
  .command(doctorCommand)
  .command(recipesCommand)
  .demandCommand(1, "name a command; `azr --help` lists them")
  .strict()
  .help()
  .parseAsync();
