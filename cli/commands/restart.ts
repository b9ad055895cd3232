/** `azr restart <actor>`: replaces the actor's process with a new incarnation, which loads its saved state. */
import type { CommandModule } from "yargs";
import { refuse, withRun, withRunOptions, type RunArgs } from "./run-connection.ts";

export const restartCommand: CommandModule<object, RunArgs & { actor?: string }> = {
  // [actor], checked below, for a one-line refusal rather than yargs' help screen (as `azr kill`).
  command: "restart [actor]",
  describe: "restart an actor's process (its saved state is loaded; not counted as a crash)",
  builder: (y) => withRunOptions(y).positional("actor", { type: "string", describe: "the actor's name (see `azr actors`)" }),
  handler: (a) => {
    // Before connecting: with no run found either, the missing name is the thing to say first.
    if (!a.actor) return refuse(a, `name the actor to restart: azr restart <actor> (\`azr actors\` lists them)`);
    return withRun(a, async ({ cluster }) => {
      const e = await cluster.restart(a.actor!);
      process.stdout.write(`${a.actor}: ${e.state}, pid ${e.pid}, incarnation ${e.incarnation}\n`);
    });
  },
};
