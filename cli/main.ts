/** The `azr` command (yargs). Each subcommand lives in cli/commands/ as a function over runtime + recipes. */
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { doctorCommand } from "./commands/doctor.ts";

await yargs(hideBin(process.argv))
  .scriptName("azr")
  .command(
    "selfplay",
    "run Absolute Zero self-play with a recipe",
    (y) => y.option("recipe", { type: "string", default: "tiny", describe: "recipe name (recipes/<name>.ts) or path" }),
    () => {
      console.error("azr selfplay: the self-play loop has not landed yet (see the self-play issue). `make test` runs what exists.");
      process.exitCode = 2;
    },
  )
  .command(doctorCommand)
  .demandCommand(1, "name a command; `azr --help` lists them")
  .strict()
  .help()
  .parseAsync();
