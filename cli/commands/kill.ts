/** `azr kill <actor>`: stops the actor for good (its node agent does not restart it; its saved state is kept). */
import type { CommandModule } from "yargs";
import { withRun, withRunOptions, type RunArgs } from "./run-connection.ts";

export const killCommand: CommandModule<object, RunArgs & { actor: string; reason: string }> = {
  command: "kill <actor>",
  describe: "stop an actor for good (no restart; its saved state is kept for a later spawn)",
  builder: (y) =>
    withRunOptions(y)
      .positional("actor", { type: "string", demandOption: true, describe: "the actor's name (see `azr actors`)" })
      .option("reason", { type: "string", default: "killed with azr kill", describe: "recorded in the registry and the actor's log" }),
  handler: (a) =>
    withRun(a, async ({ cluster }) => {
      await cluster.kill(a.actor, a.reason);
      const e = await cluster.registry.get(a.actor);
      process.stdout.write(`${a.actor}: ${e?.state ?? "gone"}\n`);
    }),
};
