/** The `azr` command (yargs). Each subcommand lives in cli/commands/ as a function over runtime + recipes. */
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { doctorCommand } from "./commands/doctor.ts";
import { selfplayCommand } from "./commands/selfplay.ts";
import { recipesCommand } from "./commands/recipes.ts";
import { baseModelCommand } from "./commands/base-model.ts";
import { exportCheckpointCommand, modelCommand } from "./commands/model.ts";
import { actorsCommand } from "./commands/actors.ts";
import { nodesCommand } from "./commands/nodes.ts";
import { killCommand } from "./commands/kill.ts";
import { restartCommand } from "./commands/restart.ts";
import { logsCommand } from "./commands/logs.ts";
import { topCommand } from "./commands/top.ts";
import { attachCommand } from "./commands/attach.ts";
import { webCommand } from "./commands/web.ts";
import { traceCommand } from "./commands/trace.ts";
import { evalCommand } from "./commands/eval.ts";
import { seedCommand } from "./commands/seed.ts";

await yargs(hideBin(process.argv))
  .scriptName("azr")
  .command(selfplayCommand)
  .command(doctorCommand)
  .command(recipesCommand)
  .command(baseModelCommand)
  .command(modelCommand)
  .command(exportCheckpointCommand)
  .command(actorsCommand)
  .command(nodesCommand)
  .command(killCommand)
  .command(restartCommand)
  .command(logsCommand)
  .command(topCommand)
  .command(attachCommand)
  .command(webCommand)
  .command(traceCommand)
  .command(evalCommand)
  .command(seedCommand)
  .demandCommand(1, "name a command; `azr --help` lists them")
  .strict()
  .help()
  .fail((message, error, y) => {
    process.exitCode = 1;
    // A command that failed while running: its error and where, not the usage screen above it
    // (yargs's default), which buries the error and suggests the arguments were wrong.
    if (error) return void console.error(error.stack ?? String(error));
    // A usage error (unknown option, missing argument): the usage, then what was wrong.
    y.showHelp();
    console.error(`\n${message}`);
  })
  .parseAsync();
