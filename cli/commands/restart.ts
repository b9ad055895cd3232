/** `azr restart <actor>`: replaces the actor's process with a new incarnation, which loads its saved state. */
import type { CommandModule } from "yargs";
import { withRun, withRunOptions, type RunArgs } from "./run-connection.ts";

export const restartCommand: CommandModule<object, RunArgs & { actor: string }> = {
  command: "restart <actor>",
  describe: "restart an actor's process (its saved state is loaded; not counted as a crash)",
  builder: (y) => withRunOptions(y).positional("actor", { type: "string", demandOption: true, describe: "the actor's name (see `azr actors`)" }),
  handler: (a) =>
    withRun(a, async ({ cluster }) => {
      const e = await cluster.restart(a.actor);
      process.stdout.write(`${a.actor}: ${e.state}, pid ${e.pid}, incarnation ${e.incarnation}\n`);
    }),
};
