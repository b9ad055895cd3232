/**
 * `azr nodes`: the node agents in the registry as a table (or JSON): host, pid, advertised
 * resources, labels, how many live actors each holds, heartbeat age; then one row per GPU
 * (model, memory, the actors given it) and, for a node without GPUs, why (nvidia-smi's answer).
 * A node whose agent has gone silent is marked LOST under HEARTBEAT and explained below the table.
 */
import type { CommandModule } from "yargs";
import { nodeGone, NODE_LOST_MS, type ActorEntry, type NodeEntry } from "../../runtime/index.ts";
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
      nodeGone(n.id, nodes, now) ? `${age(now - n.lastHeartbeat)} LOST` : age(now - n.lastHeartbeat),
    ]);
  const lost = [...nodes]
    .sort((a, b) => a.id.localeCompare(b.id))
    .filter((n) => nodeGone(n.id, nodes, now))
    .map(
      (n) =>
        `${n.id}: LOST — no heartbeat for ${age(now - n.lastHeartbeat)} (agent pid ${n.pid} on ${n.host} killed, or cut off from NATS); ` +
        `its ${live(n.id)} actor(s) show as lost in \`azr actors\`, and after ${NODE_LOST_MS / 1000} s of silence a live agent restarts those with restarts left on a node with room, marks the others dead and removes this entry (an agent restarted with this id at once marks them dead)`,
    );
  return [table(["ID", "HOST", "PID", "CPU", "GPU", "MEM_MB", "LABELS", "ACTORS", "HEARTBEAT"], rows), ...lost].join("\n") + "\n\n" + gpusTable(nodes, actors);
}

/** One row per advertised GPU with the live actors given it; a line per node that has none. */
export function gpusTable(nodes: NodeEntry[], actors: ActorEntry[]): string {
  const sorted = [...nodes].sort((a, b) => a.id.localeCompare(b.id));
  const holders = (node: string, index: number) =>
    actors.filter((a) => a.node === node && a.state !== "dead" && a.gpuIndices?.includes(index)).map((a) => a.name).sort().join(",") || "-";
  const rows = sorted.flatMap((n) =>
    (n.gpus ?? Array.from({ length: n.resources.gpu }, (_, index) => ({ index, name: "?", memoryMB: 0 }))).map((g) => [n.id, g.index, g.name, g.memoryMB || "-", holders(n.id, g.index)]),
  );
  const none = sorted.filter((n) => n.resources.gpu === 0).map((n) => `${n.id}: no GPUs${n.gpuNote ? ` (${n.gpuNote})` : ""}`);
  return [...(rows.length ? [table(["NODE", "GPU", "MODEL", "MEM_MB", "GIVEN_TO"], rows)] : []), ...none].join("\n");
}

export const nodesCommand: CommandModule<object, RunArgs & { json: boolean }> = {
  command: "nodes",
  describe: "list the run's node agents and their resources",
  builder: (y) => withRunOptions(y).option("json", { type: "boolean", default: false, describe: "print the node entries as JSON" }),
  handler: (a) =>
    withRun(a, async ({ cluster }) => {
      const [nodes, actors] = await Promise.all([cluster.nodes(), cluster.actors()]);
      const now = Date.now();
      // JSON: each entry with `lost` (why) when its agent is silent, so scripts need not redo the arithmetic.
      const json = () => JSON.stringify(nodes.map((n) => ({ ...n, ...(nodeGone(n.id, nodes, now) ? { lost: nodeGone(n.id, nodes, now) } : {}) })), null, 2);
      process.stdout.write((a.json ? json() : nodesTable(nodes, actors, now)) + "\n");
    }),
};
