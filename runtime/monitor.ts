/**
 * Client of nats-server's HTTP monitoring endpoint (`/varz`, `/connz`, `/jsz`, `/subsz`), as
 * `azr top` and the web view show it. Covers: fetching the four documents with a deadline,
 * reducing them to the figures an operator watches (connections, messages and bytes in/out,
 * slow consumers, JetStream usage, subscriptions), and rates between two readings. Not: the
 * server's lifecycle (nats-server.ts) or the actors' own figures (monitor-stats.ts).
 */

export const DEFAULT_MONITOR_TIMEOUT_MS = 2000;

/** The figures of one reading; every count is the server's cumulative total since it started. */
export interface NatsFigures {
  at: number;
  serverId: string;
  serverName: string;
  /**
   * Set when the server is one of a NATS cluster: every figure here (connections, clients,
   * messages) is then this server's alone, not the cluster's; `routes` is how many peers it has.
   */
  cluster?: { name: string; routes: number };
  version: string;
  uptime: string;
  /** Server process CPU % and resident memory in bytes. */
  cpu: number;
  mem: number;
  connections: number;
  totalConnections: number;
  slowConsumers: number;
  subscriptions: number;
  inMsgs: number;
  outMsgs: number;
  inBytes: number;
  outBytes: number;
  /** Per connection, busiest first (by pending bytes, then messages). */
  clients: { cid: number; name: string; ip: string; pending: number; inMsgs: number; outMsgs: number; subscriptions: number }[];
  jetstream: {
    enabled: boolean;
    streams: number;
    consumers: number;
    messages: number;
    bytes: number;
    memory: number;
    storage: number;
    maxMemory: number;
    maxStorage: number;
  };
}

/** Messages and bytes per second between two readings. */
export interface NatsRates {
  inMsgsPerSec: number;
  outMsgsPerSec: number;
  inBytesPerSec: number;
  outBytesPerSec: number;
}

/** The endpoint did not answer, or answered something that is not nats-server monitoring JSON. */
export class NatsMonitorError extends Error {
  override name = "NatsMonitorError";
}

/**
 * Why a fetch failed, in a few words. Node's fetch says only "fetch failed" and keeps the reason
 * in its cause: a socket error with a code (ECONNREFUSED, ENOTFOUND, …), sometimes an
 * AggregateError of one per address tried; the deadline shows as a TimeoutError.
 */
export function fetchFailure(e: unknown, timeoutMs: number): string {
  const err = e as { name?: string; message?: string; cause?: unknown };
  if (err?.name === "TimeoutError") return `no answer within ${timeoutMs} ms: is the host reachable (no firewall dropping the port)?`;
  for (let x = err?.cause as { code?: unknown; message?: string; errors?: unknown[]; cause?: unknown } | undefined, depth = 0; x && depth < 5; x = x.cause as typeof x, depth++) {
    const inner = (x.errors?.[0] ?? x) as { code?: unknown; message?: string };
    const code = typeof x.code === "string" ? x.code : typeof inner.code === "string" ? inner.code : undefined;
    const said = inner.message || x.message || code;
    if (!said) continue;
    const detail = code && !said.includes(code) ? `${code}: ${said}` : said;
    if (code === "ECONNREFUSED") return `${detail}: nothing listens on that port`;
    if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `${detail}: the host name does not resolve`;
    return detail;
  }
  return err?.message ?? String(e);
}

async function getJson(base: string, path: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const url = new URL(path, base.endsWith("/") ? base : base + "/");
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    throw new NatsMonitorError(
      `nats-server monitoring at ${url.origin} did not answer ${path} (${fetchFailure(e, timeoutMs)}): ` +
        `start the server with an http monitoring port, or point --monitor / NATS_MONITOR_URL at it`,
      { cause: e },
    );
  }
  if (!res.ok) throw new NatsMonitorError(`nats-server monitoring ${url} answered HTTP ${res.status}`);
  try {
    return (await res.json()) as Record<string, unknown>;
  } catch (e) {
    throw new NatsMonitorError(`nats-server monitoring ${url} did not return JSON: is this the monitoring port?`, { cause: e });
  }
}

const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const str = (v: unknown): string => (typeof v === "string" ? v : "");

/** Reads /varz, /connz, /jsz and /subsz at once and reduces them to NatsFigures. */
export async function readNatsFigures(monitorUrl: string, timeoutMs = DEFAULT_MONITOR_TIMEOUT_MS): Promise<NatsFigures> {
  const [varz, connz, jsz, subsz] = await Promise.all([
    getJson(monitorUrl, "varz", timeoutMs),
    getJson(monitorUrl, "connz?subs=0&limit=1024", timeoutMs),
    getJson(monitorUrl, "jsz", timeoutMs),
    getJson(monitorUrl, "subsz", timeoutMs),
  ]);
  const conns = Array.isArray(connz.connections) ? (connz.connections as Record<string, unknown>[]) : [];
  const clients = conns
    .map((c) => ({
      cid: num(c.cid),
      name: str(c.name),
      ip: `${str(c.ip)}:${num(c.port)}`,
      pending: num(c.pending_bytes),
      inMsgs: num(c.in_msgs),
      outMsgs: num(c.out_msgs),
      subscriptions: num(c.subscriptions),
    }))
    .sort((a, b) => b.pending - a.pending || b.inMsgs + b.outMsgs - (a.inMsgs + a.outMsgs));
  const cfg = (jsz.config ?? {}) as Record<string, unknown>;
  // A standalone server's /varz has an empty (or no) cluster block; a clustered one names it.
  const clusterName = str((varz.cluster as Record<string, unknown> | undefined)?.name);
  return {
    at: Date.now(),
    serverId: str(varz.server_id),
    serverName: str(varz.server_name),
    ...(clusterName && { cluster: { name: clusterName, routes: num(varz.routes) } }),
    version: str(varz.version),
    uptime: str(varz.uptime),
    cpu: num(varz.cpu),
    mem: num(varz.mem),
    connections: num(varz.connections),
    totalConnections: num(varz.total_connections),
    slowConsumers: num(varz.slow_consumers),
    subscriptions: num(subsz.num_subscriptions ?? varz.subscriptions),
    inMsgs: num(varz.in_msgs),
    outMsgs: num(varz.out_msgs),
    inBytes: num(varz.in_bytes),
    outBytes: num(varz.out_bytes),
    clients,
    jetstream: {
      // /jsz of a server without JetStream has no config block (or `disabled: true`).
      enabled: jsz.disabled !== true && jsz.config !== undefined,
      streams: num(jsz.streams),
      consumers: num(jsz.consumers),
      messages: num(jsz.messages),
      bytes: num(jsz.bytes),
      memory: num(jsz.memory),
      storage: num(jsz.storage),
      maxMemory: num(cfg.max_memory),
      maxStorage: num(cfg.max_storage),
    },
  };
}

/** Rates between an earlier and a later reading of the same server (zeros if it restarted). */
export function natsRates(prev: NatsFigures, cur: NatsFigures): NatsRates {
  const dt = (cur.at - prev.at) / 1000;
  const restarted = prev.serverId !== cur.serverId || cur.inMsgs < prev.inMsgs;
  const rate = (a: number, b: number) => (dt <= 0 || restarted ? 0 : Math.max(0, (b - a) / dt));
  return {
    inMsgsPerSec: rate(prev.inMsgs, cur.inMsgs),
    outMsgsPerSec: rate(prev.outMsgs, cur.outMsgs),
    inBytesPerSec: rate(prev.inBytes, cur.inBytes),
    outBytesPerSec: rate(prev.outBytes, cur.outBytes),
  };
}

/**
 * The monitoring URL to use for a client URL when none is given: the same host on nats-server's
 * conventional monitoring port 8222 (what `nats-server -m 8222` opens).
 */
export function guessMonitorUrl(natsUrl: string): string {
  const u = new URL(natsUrl.includes("://") ? natsUrl : `nats://${natsUrl}`);
  return `http://${u.hostname}:8222`;
}
