/**
 * `azr actors`: the registry's actors as a table (or JSON): state, node, pid, restarts,
 * uptime, heartbeat age, why the last process ended. Not: live call figures (`azr top`).
 */
import type { CommandModule } from "yargs";
import type { ActorEntry } from "../../runtime/index.ts";
import { age, table } from "./ops-format.ts";
import { withRun, withRunOptions, type RunArgs } from "./run-connection.ts";

/** Actors sorted by name; the node agents' internal services are not actors and are left out. */
export function userActors(entries: ActorEntry[]): ActorEntry[] {
  return entries.filter((e) => !e.name.startsWith("_")).sort((a, b) => a.name.localeCompare(b.name));
}

export function actorsTable(entries: ActorEntry[], now = Date.now()): string {
  const rows = userActors(entries).map((e) => [
    e.name,
    e.state,
    e.node,
    e.pid,
    `${e.restarts}/${e.maxRestarts}`,
    e.state === "alive" ? age(now - e.startedAt) : "-",
    e.state === "alive" ? age(now - e.lastHeartbeat) : "-",
    e.reason ?? "",
  ]);
  if (rows.length === 0) return "no actors registered";
  return table(["NAME", "STATE", "NODE", "PID", "RESTARTS", "UPTIME", "HEARTBEAT", "LAST EXIT"], rows);
}

export const actorsCommand: CommandModule<object, RunArgs & { json: boolean }> = {
  command: "actors",
  describe: "list the run's actors from the registry",
  builder: (y) => withRunOptions(y).option("json", { type: "boolean", default: false, describe: "print the registry entries as JSON" }),
  handler: (a) =>
    withRun(a, async ({ cluster }) => {
      const entries = userActors(await cluster.actors());
      process.stdout.write((a.json ? JSON.stringify(entries, null, 2) : actorsTable(entries)) + "\n");
    }),
};
