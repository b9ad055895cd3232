/**
 * Process figures of an actor (memory, CPU, uptime) that `azr top` shows beside the call
 * statistics the actor host reports (`cluster.stats`). Covers: answering requests on
 * `azr.<cluster>.ops.proc.<actor>` from inside the actor's process, and asking for them. Not:
 * call statistics (host.ts / telemetry.ts), NATS server figures (monitor.ts).
 *
 * An actor's work often runs in child processes (the executor's Python workers, the torch
 * engine's worker), so besides the Node process's own figures there are the whole process
 * tree's (`tree`: the process and all its descendants, from /proc on Linux). CPU percentages
 * are per requester: each viewer's figure covers the time since that viewer's previous request,
 * so two `azr top`s (or top and the web view) do not shorten each other's window.
 */
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { decodeJson, encodeJson } from "./attach-protocol.ts";

export interface ProcessFigures {
  pid: number;
  /** Resident set size of the actor's Node process alone, bytes. */
  rss: number;
  heapUsed: number;
  /** The Node process alone: CPU time over wall time in this requester's window (100 = one core busy); null on its first request. */
  cpuPercent: number | null;
  /** The seconds this requester's CPU figures cover (since its previous request); null on its first. */
  cpuWindowSec: number | null;
  /** The actor's whole process tree (itself, its children and theirs); absent where /proc is not readable. */
  tree?: ProcessTreeFigures;
  uptimeSec: number;
  /** Attach sessions open on this actor right now. */
  attachSessions: number;
}

export interface ProcessTreeFigures {
  /** Processes in the tree, the actor's own included. */
  processes: number;
  /** Sum of the processes' resident set sizes, bytes (shared pages are counted in each). */
  rss: number;
  /** CPU time of the tree (exited, reaped descendants included) over wall time in the requester's window; null on its first request. */
  cpuPercent: number | null;
}

/** The tree's totals now: CPU seconds (utime+stime, plus cutime+cstime of reaped children) and RSS. */
interface TreeSample {
  processes: number;
  cpuSec: number;
  rss: number;
  /** The live descendants' (root left out) peak resident memory (VmHWM), summed, bytes. */
  descendantsPeakRss: number;
}

/** Linux reports CPU times in USER_HZ ticks, 100 per second on every architecture Node runs on. */
const USER_HZ = 100;
/** A viewer not heard from for this long is forgotten (its next request starts a new window). */
const VIEWER_TTL_MS = 5 * 60_000;
/** This process's requester id: its CPU windows are its own. */
const VIEWER_ID = randomUUID();

/** The direct children of `pid`: each thread lists the ones it forked (CONFIG_PROC_CHILDREN). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").split(" ")) if (c) out.push(Number(c));
  }
  return out;
}

/** One process's CPU seconds, RSS and peak RSS bytes; undefined if it exited meanwhile. */
function sampleProcess(pid: number): { cpuSec: number; rss: number; peakRss: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]); // utime stime cutime cstime
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status)?.[1] ?? 0) * 1024;
    return { cpuSec: ticks / USER_HZ, rss: kb("VmRSS"), peakRss: kb("VmHWM") };
  } catch {
    return undefined;
  }
}

/**
 * The process tree under `root` (root included), walked through /proc's children lists: a few
 * small reads per process, no scan of every process on the machine. Undefined off Linux.
 */
export function sampleProcessTree(root = process.pid): TreeSample | undefined {
  const self = sampleProcess(root);
  if (!self) return undefined;
  const t: TreeSample = { processes: 1, cpuSec: self.cpuSec, rss: self.rss, descendantsPeakRss: 0 };
  const todo = [root];
  for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
    let kids: number[];
    try {
      kids = childrenOf(pid);
    } catch {
      if (pid === root) return undefined; // no children lists (kernel without CONFIG_PROC_CHILDREN): no tree figures rather than wrong ones
      continue; // exited meanwhile
    }
    for (const k of kids) {
      const s = sampleProcess(k);
      if (!s) continue;
      t.processes++;
      t.cpuSec += s.cpuSec;
      t.rss += s.rss;
      t.descendantsPeakRss += s.peakRss;
      todo.push(k);
    }
  }
  return t;
}

export function processSubject(cluster: string, actor: string): string {
  return `azr.${cluster}.ops.proc.${actor}`;
}

/** Answers process-figure requests for `actor` until the returned subscription is unsubscribed. */
export function serveProcessFigures(nc: NatsConnection, cluster: string, actor: string, attachSessions: () => number): Subscription {
  // Per requester: the previous reading it was given. The request body names the requester.
  const last = new Map<string, { cpuUs: number; treeSec?: number; at: number }>();
  return nc.subscribe(processSubject(cluster, actor), {
    callback: (err, m) => {
      if (err) return;
      const viewer = requesterOf(m.data);
      const cpu = process.cpuUsage();
      const cpuUs = cpu.user + cpu.system;
      const tree = sampleProcessTree();
      const at = performance.now();
      const prev = last.get(viewer);
      const windowMs = prev ? Math.max(1, at - prev.at) : 0;
      for (const [k, v] of last) if (at - v.at > VIEWER_TTL_MS) last.delete(k);
      last.set(viewer, { cpuUs, treeSec: tree?.cpuSec, at });
      const mem = process.memoryUsage();
      const f: ProcessFigures = {
        pid: process.pid,
        rss: mem.rss,
        heapUsed: mem.heapUsed,
        cpuPercent: prev ? ((cpuUs - prev.cpuUs) / 1000 / windowMs) * 100 : null,
        cpuWindowSec: prev ? windowMs / 1000 : null,
        ...(tree && {
          tree: {
            processes: tree.processes,
            rss: tree.rss,
            // A descendant that exits before its parent reaps it takes its CPU time with it: clamp at 0.
            cpuPercent: prev?.treeSec !== undefined ? Math.max(0, ((tree.cpuSec - prev.treeSec) * 1000) / windowMs) * 100 : null,
          },
        }),
        uptimeSec: process.uptime(),
        attachSessions: attachSessions(),
      };
      m.respond(encodeJson(f));
    },
  });
}

/** The requester named in a request body (`{viewer}`); an empty body (an older requester) shares one window. */
function requesterOf(data: Uint8Array): string {
  if (data.length === 0) return "";
  try {
    const v = decodeJson<{ viewer?: unknown }>(data).viewer;
    return typeof v === "string" ? v.slice(0, 64) : "";
  } catch {
    return "";
  }
}

/**
 * The actor's process figures, or undefined if it does not answer within `timeoutMs`. CPU
 * figures cover the time since `viewer`'s previous request (default: one window per process).
 */
export async function readProcessFigures(
  nc: NatsConnection,
  cluster: string,
  actor: string,
  timeoutMs = 1000,
  viewer: string = VIEWER_ID,
): Promise<ProcessFigures | undefined> {
  try {
    const m = await nc.request(processSubject(cluster, actor), encodeJson({ viewer }), { timeout: timeoutMs });
    return decodeJson<ProcessFigures>(m.data);
  } catch {
    return undefined;
  }
}
