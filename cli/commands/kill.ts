/** `azr kill <actor>`: stops the actor for good (its node agent does not restart it; its saved state is kept). */
import type { CommandModule } from "yargs";
import { refuse, withRun, withRunOptions, type RunArgs } from "./run-connection.ts";

export const killCommand: CommandModule<object, RunArgs & { actor?: string; reason: string }> = {
  // [actor], checked below: yargs' own `<actor>` check answered `azr kill` with its help screen and
  // "Not enough non-option arguments: got 0, need at least 1", which names neither what is missing nor where to find it.
  command: "kill [actor]",
  describe: "stop an actor for good (no restart; its saved state is kept for a later spawn)",
  builder: (y) =>
    withRunOptions(y)
      .positional("actor", { type: "string", describe: "the actor's name (see `azr actors`)" })
      .option("reason", { type: "string", default: "killed with azr kill", describe: "recorded in the registry and the actor's log" }),
  handler: (a) => {
    // Before connecting: with no run found either, the missing name is the thing to say first.
    if (!a.actor) return refuse(a, `name the actor to kill: azr kill <actor> (\`azr actors\` lists them)`);
    return withRun(a, async ({ cluster }) => {
      await cluster.kill(a.actor!, a.reason);
      const e = await cluster.registry.get(a.actor!);
      process.stdout.write(`${a.actor}: ${e?.state ?? "gone"}\n`);
    });
  },
};
