/**
 * Process figures of an actor (memory, CPU, uptime) that `azr top` shows beside the call
 * statistics the actor host reports (`cluster.stats`). Covers: answering requests on
 * `azr.<cluster>.ops.proc.<actor>` from inside the actor's process, and asking for them. Not:
 * call statistics (host.ts / telemetry.ts), NATS server figures (monitor.ts).
 */
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { decodeJson, encodeJson } from "./attach-protocol.ts";

export interface ProcessFigures {
  pid: number;
  /** Resident set size, bytes. */
  rss: number;
  heapUsed: number;
  /** CPU time over wall time since the previous request (100 = one core busy); null on the first. */
  cpuPercent: number | null;
  uptimeSec: number;
  /** Attach sessions open on this actor right now. */
  attachSessions: number;
}

export function processSubject(cluster: string, actor: string): string {
  return `azr.${cluster}.ops.proc.${actor}`;
}

/** Answers process-figure requests for `actor` until the returned subscription is unsubscribed. */
export function serveProcessFigures(nc: NatsConnection, cluster: string, actor: string, attachSessions: () => number): Subscription {
  let last: { cpu: NodeJS.CpuUsage; at: number } | undefined;
  return nc.subscribe(processSubject(cluster, actor), {
    callback: (err, m) => {
      if (err) return;
      const cpu = process.cpuUsage();
      const at = performance.now();
      const cpuPercent = last ? ((cpu.user - last.cpu.user + cpu.system - last.cpu.system) / 1000 / Math.max(1, at - last.at)) * 100 : null;
      last = { cpu, at };
      const mem = process.memoryUsage();
      const f: ProcessFigures = {
        pid: process.pid,
        rss: mem.rss,
        heapUsed: mem.heapUsed,
        cpuPercent,
        uptimeSec: process.uptime(),
        attachSessions: attachSessions(),
      };
      m.respond(encodeJson(f));
    },
  });
}

/** The actor's process figures, or undefined if it does not answer within `timeoutMs`. */
export async function readProcessFigures(nc: NatsConnection, cluster: string, actor: string, timeoutMs = 1000): Promise<ProcessFigures | undefined> {
  try {
    const m = await nc.request(processSubject(cluster, actor), new Uint8Array(0), { timeout: timeoutMs });
    return decodeJson<ProcessFigures>(m.data);
  } catch {
    return undefined;
  }
}
