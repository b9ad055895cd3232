/**
 * `azr actors`: the registry's actors as a table (or JSON): state, node, pid, restarts,
 * uptime, heartbeat age, why the last process ended. An actor the registry still calls alive
 * whose node agent has gone silent (SIGKILLed, its machine gone) is shown as "lost", saying
 * which node and for how long. Not: live call figures (`azr top`).
 */
import type { CommandModule } from "yargs";
import { actorLiveness, type ActorEntry, type NodeEntry } from "../../runtime/index.ts";
import { age, table } from "./ops-format.ts";
import { withRun, withRunOptions, type RunArgs } from "./run-connection.ts";

/** Actors sorted by name; the node agents' internal services are not actors and are left out. */
export function userActors(entries: ActorEntry[]): ActorEntry[] {
  return entries.filter((e) => !e.name.startsWith("_")).sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The entries as a reader should take them: one on a gone node has state "lost", with the
 * registry's own state and the reason beside it (no node agent will write its end).
 */
export function withLiveness(entries: ActorEntry[], nodes: readonly NodeEntry[] | undefined, now = Date.now()): (ActorEntry | LostActorEntry)[] {
  if (!nodes) return entries;
  return entries.map((e) => {
    const l = actorLiveness(e, nodes, now);
    return l.state === "lost" ? { ...e, state: "lost", registryState: e.state, lostBecause: `${l.why}` } : e;
  });
}

export type LostActorEntry = Omit<ActorEntry, "state"> & { state: "lost"; registryState: ActorEntry["state"]; lostBecause: string };

/** `nodes`: the registered node agents, to show actors on a gone node as lost (left out: states as the registry has them). */
export function actorsTable(entries: ActorEntry[], now = Date.now(), nodes?: readonly NodeEntry[]): string {
  const rows = withLiveness(userActors(entries), nodes, now).map((e) => [
    e.name,
    e.state,
    e.node,
    e.pid,
    `${e.restarts}/${e.maxRestarts}`,
    e.state === "alive" ? age(now - e.startedAt) : "-",
    e.state === "alive" || e.state === "lost" ? age(now - e.lastHeartbeat) : "-",
    e.state === "lost" ? `${e.lostBecause} (registry: ${e.registryState})` : (e.reason ?? ""),
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
      const [entries, nodes] = await Promise.all([cluster.actors().then(userActors), cluster.nodes()]);
      const now = Date.now();
      process.stdout.write((a.json ? JSON.stringify(withLiveness(entries, nodes, now), null, 2) : actorsTable(entries, now, nodes)) + "\n");
    }),
};
