/**
 * `azr top`: a live view of the run, redrawn every second — each actor (state, node, restarts,
 * calls/s, p50/p99 latency, queue depth, calls in flight, errors, and the memory and CPU of the
 * actor's whole process tree — PROCS, TREE_RSS, TREE_CPU%: its Node process plus the child
 * processes it runs work in, such as Python workers, and theirs; GPU_PEAK, the GPU memory a torch
 * engine on CUDA has reserved at peak, its ranks summed) and the NATS
 * server from its monitoring endpoint (connections, subscriptions, slow consumers, messages and
 * bytes per second in/out, JetStream usage). `--once --json` prints one snapshot for scripts.
 * Covers: collecting a snapshot (registry + each actor's `$stats` and process figures + the
 * server's /varz /connz /jsz /subsz), rendering it as text. Not: history (the web view keeps curves).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { CommandModule } from "yargs";
import type { KV } from "@nats-io/kv";
import { actorLiveness, nodeGone, type ActorEntry, type ActorStats, type Cluster, type NodeEntry } from "../../runtime/index.ts";
import { natsRates, readNatsFigures, type NatsFigures, type NatsRates } from "../../runtime/monitor.ts";
import { readProcessFigures, type ProcessFigures } from "../../runtime/monitor-process.ts";
import { userActors } from "./actors.ts";
import { age, bytes, ms, rate, table } from "./ops-format.ts";
import { watchConnection, withRun, withRunOptions, type RunArgs } from "./run-connection.ts";

export const TOP_INTERVAL_MS = 1000;
const ASK_TIMEOUT_MS = 800;

export interface ActorRow {
  name: string;
  /** As `azr actors` shows it: "lost" when the registry says alive but the actor's node agent is gone (registry.ts actorLiveness). */
  state: string;
  /** With state "lost": the registry's own state and which node is gone since when. */
  registryState?: ActorEntry["state"];
  lostBecause?: string;
  node: string;
  pid: number;
  restarts: number;
  maxRestarts: number;
  incarnation: number;
  uptimeSec: number | null;
  /** From the actor itself; absent when it is not alive or did not answer in time. */
  stats?: Omit<ActorStats, "actor">;
  process?: ProcessFigures;
}

export interface TopSnapshot {
  at: string;
  cluster: string;
  actors: ActorRow[];
  nodes: NodeEntry[];
  nats: { monitorUrl: string; figures?: NatsFigures; rates?: NatsRates; error?: string };
  /** Set while the connection to NATS is lost: the registry figures are the last known. */
  connectionLost?: { since: string; server: string };
}

/** What the registry holds; `RegistryView` keeps it current by watching, one-shot readers list it. */
export interface RegistrySource {
  actors(): Promise<ActorEntry[]>;
  nodes(): Promise<NodeEntry[]>;
}

/**
 * The registry's two buckets followed with KV watches, so a live `azr top` reads them from memory
 * each second instead of listing the buckets (each listing is a JetStream consumer on the server).
 */
export class RegistryView implements RegistrySource {
  readonly #actors = new Map<string, ActorEntry>();
  readonly #nodes = new Map<string, NodeEntry>();
  readonly #stops: (() => void)[] = [];

  static async start(cluster: Cluster): Promise<RegistryView> {
    const v = new RegistryView();
    await Promise.all([
      v.#follow(cluster.registry.actors, v.#actors, () => cluster.actors(), (e) => e.name),
      v.#follow(cluster.registry.nodes, v.#nodes, () => cluster.nodes(), (n) => n.id),
    ]);
    return v;
  }

  /**
   * Watches the bucket, and seeds the map with one listing so that an empty bucket (which the
   * watch announces with nothing) is ready at once; keys the watch has already seen, deleted
   * ones included, are not overwritten by the older listing.
   */
  async #follow<T>(kv: KV, into: Map<string, T>, list: () => Promise<T[]>, key: (v: T) => string): Promise<void> {
    const seen = new Set<string>();
    const it = await kv.watch();
    this.#stops.push(() => it.stop());
    void (async () => {
      for await (const e of it) {
        seen.add(e.key);
        if (e.operation === "PUT" && e.length > 0) into.set(e.key, e.json<T>());
        else into.delete(e.key); // DEL / PURGE: the node left, the name was removed
      }
    })();
    for (const v of await list()) if (!seen.has(key(v))) into.set(key(v), v);
  }

  async actors(): Promise<ActorEntry[]> {
    return [...this.#actors.values()];
  }

  async nodes(): Promise<NodeEntry[]> {
    return [...this.#nodes.values()];
  }

  stop(): void {
    for (const s of this.#stops) s();
  }
}

/** One reading of everything `azr top` shows; `prev` (the last reading) gives the NATS rates. */
export async function collectTop(cluster: Cluster, monitorUrl: string, prev?: TopSnapshot, registry: RegistrySource = cluster): Promise<TopSnapshot> {
  const now = Date.now();
  const [entries, nodes, nats] = await Promise.all([
    registry.actors(),
    registry.nodes(),
    readNatsFigures(monitorUrl).then(
      (figures) => ({ figures, error: undefined }),
      (e: Error) => ({ figures: undefined, error: e.message }),
    ),
  ]);
  const actors = await Promise.all(
    userActors(entries).map(async (e): Promise<ActorRow> => {
      // The registry keeps saying "alive" for an actor whose node agent was SIGKILLed (nobody is
      // left to write its end): shown as lost, as `azr actors` does, and not asked for figures —
      // no agent answers for its process, so each ask would only wait out its timeout.
      const l = actorLiveness(e, nodes, now);
      const row: ActorRow = {
        name: e.name,
        state: l.state,
        ...(l.state === "lost" ? { registryState: e.state, lostBecause: l.why } : {}),
        node: e.node,
        pid: e.pid,
        restarts: e.restarts,
        maxRestarts: e.maxRestarts,
        incarnation: e.incarnation,
        uptimeSec: l.state === "alive" ? (now - e.startedAt) / 1000 : null,
      };
      if (l.state !== "alive") return row;
      const [stats, proc] = await Promise.all([
        cluster.stats(e.name, { timeoutMs: ASK_TIMEOUT_MS }).catch(() => undefined),
        readProcessFigures(cluster.nc, cluster.name, e.name, ASK_TIMEOUT_MS),
      ]);
      if (stats) {
        const { actor: _actor, ...rest } = stats;
        row.stats = rest;
      }
      if (proc) row.process = proc;
      return row;
    }),
  );
  const prevFigures = prev?.nats.figures;
  return {
    at: new Date(now).toISOString(),
    cluster: cluster.name,
    actors,
    nodes: [...nodes].sort((a, b) => a.id.localeCompare(b.id)),
    nats: {
      monitorUrl,
      figures: nats.figures,
      rates: nats.figures && prevFigures ? natsRates(prevFigures, nats.figures) : undefined,
      error: nats.error,
    },
  };
}

export function renderTop(s: TopSnapshot): string {
  const out: string[] = [`azr top — cluster '${s.cluster}' — ${s.at.replace("T", " ").slice(0, 19)} UTC   (q or Ctrl-C quits)`, ""];
  if (s.connectionLost) {
    out.push(`CONNECTION LOST to NATS at ${s.connectionLost.server} since ${s.connectionLost.since.replace("T", " ").slice(0, 19)} UTC; reconnecting. Actors below are as last seen.`, "");
  }
  if (s.actors.length === 0) out.push("no actors registered");
  else {
    out.push(
      table(
        ["ACTOR", "STATE", "NODE", "PID", "RESTARTS", "UPTIME", "CALLS/S", "P50_MS", "P99_MS", "QUEUE", "INFLIGHT", "CALLS", "ERRORS", "PROCS", "TREE_RSS", "TREE_CPU%", "GPU_PEAK", "ATTACHED"],
        s.actors.map((a) => [
          a.name,
          a.state,
          a.node,
          a.pid,
          `${a.restarts}/${a.maxRestarts}`,
          a.uptimeSec === null ? "-" : age(a.uptimeSec * 1000),
          a.stats ? rate(a.stats.callsPerSec) : "-",
          ms(a.stats?.p50Ms),
          ms(a.stats?.p99Ms),
          a.stats?.queueDepth ?? "-",
          a.stats?.inFlight ?? "-",
          a.stats?.calls ?? "-",
          a.stats?.errors ?? "-",
          a.process?.tree?.processes ?? "-",
          a.process?.tree ? bytes(a.process.tree.rss) : "-",
          a.process?.tree?.cpuPercent == null ? "-" : a.process.tree.cpuPercent.toFixed(0),
          a.stats?.deviceMemory ? bytes(a.stats.deviceMemory.peakReservedBytes) : "-",
          a.process?.attachSessions ?? "-",
        ]),
      ),
      // Why each lost actor is lost, under the table, as the cell has no room for it.
      ...s.actors.filter((a) => a.state === "lost").map((a) => `${a.name}: lost — ${a.lostBecause} (registry: ${a.registryState})`),
    );
  }
  out.push("");
  const f = s.nats.figures;
  if (!f) out.push(`NATS: monitoring unavailable at ${s.nats.monitorUrl}: ${s.nats.error ?? "no answer"}`);
  else {
    const r = s.nats.rates;
    out.push(
      `NATS ${f.version} up ${f.uptime}  cpu ${f.cpu.toFixed(0)}%  mem ${bytes(f.mem)}  connections ${f.connections} (total ${f.totalConnections})  ` +
        `subscriptions ${f.subscriptions}  slow consumers ${f.slowConsumers}`,
      ...(f.cluster
        ? [`  server '${f.serverName}' of cluster '${f.cluster.name}' (${f.cluster.routes} route(s)): these figures are this server's alone; clients of the other servers are not counted (point --monitor at each server to see it)`]
        : []),
      `  msgs  in ${f.inMsgs} (${r ? rate(r.inMsgsPerSec) : "-"}/s)  out ${f.outMsgs} (${r ? rate(r.outMsgsPerSec) : "-"}/s)` +
        `   bytes in ${bytes(f.inBytes)} (${r ? bytes(r.inBytesPerSec) : "-"}/s)  out ${bytes(f.outBytes)} (${r ? bytes(r.outBytesPerSec) : "-"}/s)`,
      f.jetstream.enabled
        ? `  JetStream: ${f.jetstream.streams} streams, ${f.jetstream.consumers} consumers, ${f.jetstream.messages} msgs, ` +
            `storage ${bytes(f.jetstream.storage)}${f.jetstream.maxStorage > 0 ? ` of ${bytes(f.jetstream.maxStorage)}` : ""}, memory ${bytes(f.jetstream.memory)}`
        : "  JetStream: off",
    );
  }
  out.push("");
  out.push(
    s.nodes.length === 0
      ? "no node agents"
      : table(
          ["NODE", "HOST", "CPU", "GPU", "MEM_MB", "HEARTBEAT"],
          s.nodes.map((n) => {
            const now = Date.parse(s.at);
            return [n.id, n.host, n.resources.cpu, n.resources.gpu, n.resources.memoryMB, `${age(now - n.lastHeartbeat)}${nodeGone(n.id, s.nodes, now) ? " LOST" : ""}`];
          }),
        ),
  );
  return out.join("\n");
}

export const topCommand: CommandModule<object, RunArgs & { once: boolean; json: boolean; interval: number }> = {
  command: "top",
  describe: "live view of the actors and the NATS server, refreshed every second",
  builder: (y) =>
    withRunOptions(y)
      .option("once", { type: "boolean", default: false, describe: "print one snapshot and exit" })
      .option("json", { type: "boolean", default: false, describe: "print snapshots as JSON (one per line when live)" })
      .option("interval", { type: "number", default: TOP_INTERVAL_MS, describe: "refresh period in ms" }),
  handler: (a) => {
    // 0, a negative number or NaN would refresh in a near-busy loop against the server
    if (!(Number.isFinite(a.interval) && a.interval >= 10)) {
      process.stderr.write(`azr top: --interval ${a.interval}: use a refresh period in milliseconds, at least 10 (default ${TOP_INTERVAL_MS})\n`);
      process.exitCode = 2;
      return;
    }
    return withRun(a, async (c) => {
      const { cluster, monitorUrl } = c;
      // Two readings a moment apart, so even --once shows NATS rates.
      let snap = await collectTop(cluster, monitorUrl);
      if (a.once) {
        await new Promise((r) => setTimeout(r, 250));
        snap = await collectTop(cluster, monitorUrl, snap);
        process.stdout.write((a.json ? JSON.stringify(snap, null, 2) : renderTop(snap)) + "\n");
        return;
      }
      const view = await RegistryView.start(cluster);
      const ac = new AbortController();
      const quit = () => ac.abort();
      let ended: string | undefined;
      const watch = watchConnection(c, (line, st) => {
        if (a.json) process.stderr.write(`azr top: ${line}\n`);
        if (st.ended) {
          ended = line;
          quit();
        }
      });
      const mark = (s: TopSnapshot): TopSnapshot => {
        const down = watch.state.down;
        return down ? { ...s, connectionLost: { since: new Date(down.since).toISOString(), server: down.server } } : s;
      };
      process.once("SIGINT", quit);
      const tty = process.stdin.isTTY && !a.json;
      if (tty) {
        process.stdin.setRawMode(true);
        process.stdin.on("data", (d: Buffer) => {
          if (d.includes(0x71) || d.includes(0x03)) quit(); // q, Ctrl-C
        });
        process.stdout.write("\x1b[?1049h\x1b[?25l"); // alternate screen, hide the cursor
      }
      try {
        while (!ac.signal.aborted) {
          if (a.json) process.stdout.write(JSON.stringify(snap) + "\n");
          else process.stdout.write((tty ? "\x1b[H\x1b[2J" : "\n") + renderTop(snap) + "\n");
          // timers/promises removes its abort listener each time (one added per refresh would pile up).
          await sleep(a.interval, undefined, { signal: ac.signal }).catch(() => {});
          if (!ac.signal.aborted) snap = mark(await collectTop(cluster, monitorUrl, snap, view));
        }
      } finally {
        watch.stop();
        view.stop();
        if (tty) {
          process.stdout.write("\x1b[?25h\x1b[?1049l");
          process.stdin.setRawMode(false);
          process.stdin.pause();
        }
        if (ended && !a.json) process.stderr.write(`azr top: ${ended}\n`);
      }
    });
  },
};
