/**
 * `azr nodes`: the node agents in the registry as a table (or JSON): host, pid, advertised
 * resources, labels, how many live actors each holds, heartbeat age.
 */
import type { CommandModule } from "yargs";
import type { ActorEntry, NodeEntry } from "../../runtime/index.ts";
import { age, table } from "./ops-format.ts";
import { withRun, withRunOptions, type RunArgs } from "./run-connection.ts";

export function nodesTable(nodes: NodeEntry[], actors: ActorEntry[], now = Date.now()): string {
  if (nodes.length === 0) return "no node agents registered";
  const live = (id: string) => actors.filter((a) => a.node === id && a.state !== "dead" && !a.name.startsWith("_")).length;
  const rows = [...nodes]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((n) => [
      n.id,
      n.host,
      n.pid,
      n.resources.cpu,
      n.resources.gpu,
      n.resources.memoryMB,
      Object.entries(n.resources.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(",") || "-",
      live(n.id),
      age(now - n.lastHeartbeat),
    ]);
  return table(["ID", "HOST", "PID", "CPU", "GPU", "MEM_MB", "LABELS", "ACTORS", "HEARTBEAT"], rows);
}

export const nodesCommand: CommandModule<object, RunArgs & { json: boolean }> = {
  command: "nodes",
  describe: "list the run's node agents and their resources",
  builder: (y) => withRunOptions(y).option("json", { type: "boolean", default: false, describe: "print the node entries as JSON" }),
  handler: (a) =>
    withRun(a, async ({ cluster }) => {
      const [nodes, actors] = await Promise.all([cluster.nodes(), cluster.actors()]);
      process.stdout.write((a.json ? JSON.stringify(nodes, null, 2) : nodesTable(nodes, actors)) + "\n");
    }),
};
