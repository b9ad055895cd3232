/**
 * How the ops commands (`azr actors`, `top`, `logs`, `attach`, `kill`, …) reach a live run:
 * the flags they share and the one function that connects. Order: `--nats` (with the NATS_*
 * credentials from the environment), else NATS_URL, else the run's embedded server recorded in
 * `<run-dir>/nats.json`. These commands never start a server of their own: an empty new
 * server would show nothing. Not: the commands themselves.
 */
import { join } from "node:path";
import type { Argv } from "yargs";
import { ActorDiedError, ActorNotFoundError, connect, connectionSpecFromEnv, DEFAULT_CLUSTER, type Cluster, type ConnectionSpec } from "../../runtime/index.ts";
import { guessMonitorUrl } from "../../runtime/monitor.ts";
import { readServerFile, serverFilePath } from "../../runtime/monitor-server-file.ts";

export interface RunArgs {
  cluster: string;
  "run-dir"?: string;
  nats?: string;
  monitor?: string;
}

/** Adds the shared flags to a command's builder. */
export function withRunOptions<T>(y: Argv<T>): Argv<T & RunArgs> {
  return y
    .option("cluster", { type: "string", default: DEFAULT_CLUSTER, describe: "cluster name (subject and bucket namespace)" })
    .option("run-dir", { type: "string", describe: "the run's folder (default ./runs/<cluster>): finds its embedded server and its log files" })
    .option("nats", { type: "string", describe: "NATS server URL; default NATS_URL, else the run's embedded server (credentials from NATS_USER/NATS_PASSWORD/NATS_CREDS/…)" })
    .option("monitor", {
      type: "string",
      describe: "nats-server monitoring URL; default NATS_MONITOR_URL, else the embedded server's, else port 8222 of the NATS host",
    }) as Argv<T & RunArgs>;
}

export function runDirOf(a: RunArgs): string {
  return a["run-dir"] ?? join(process.cwd(), "runs", a.cluster);
}

/** No server to talk to: says where we looked and what to do. */
export class NoLiveRunError extends Error {
  override name = "NoLiveRunError";
}

export interface RunTarget {
  spec: ConnectionSpec;
  monitorUrl: string;
  runDir: string;
  /** The run's embedded server, when that is what we connect to (its nats.json). */
  serverPid?: number;
}

export function resolveRun(a: RunArgs, env: NodeJS.ProcessEnv = process.env): RunTarget {
  const runDir = runDirOf(a);
  const fromEnv = connectionSpecFromEnv(a.nats ? { ...env, NATS_URL: a.nats } : env);
  const file = fromEnv ? undefined : readServerFile(runDir);
  const spec = fromEnv ?? (file ? { servers: [file.url] } : undefined);
  if (!spec) {
    throw new NoLiveRunError(
      `no live run found: NATS_URL is unset and ${serverFilePath(runDir)} is missing or its server has stopped. ` +
        `Start the run, pass --run-dir <its folder>, or set NATS_URL (or --nats) to the cluster's server`,
    );
  }
  const monitorUrl = a.monitor ?? env.NATS_MONITOR_URL ?? (file?.monitorUrl || guessMonitorUrl(spec.servers[0]));
  return { spec, monitorUrl, runDir, serverPid: file?.pid };
}

/**
 * The line for a failed connection. The runtime's messages name the setting to fix; a server
 * without JetStream is the exception: the client's "jetstream is not enabled" names neither the
 * server nor what to do.
 */
export function connectFailure(e: Error, servers: readonly string[]): string {
  if (e.name !== "JetStreamNotEnabled") return e.message;
  return `the NATS server at ${servers.join(",")} runs without JetStream, where azr keeps its registry: start it with -js (see README: sync_interval: always), or point NATS_URL / --nats at one that has it`;
}

/** Connects to the live run (no embedded server, no node agent). */
export async function connectToRun(a: RunArgs, env: NodeJS.ProcessEnv = process.env): Promise<{ cluster: Cluster } & RunTarget> {
  const target = resolveRun(a, env);
  const cluster = await connect({ cluster: a.cluster, connection: target.spec, runDir: target.runDir }).catch((e: Error) => {
    throw new Error(connectFailure(e, target.spec.servers), { cause: e });
  });
  return { cluster, ...target };
}

/**
 * What the user asked for cannot be done as asked (no run where it was told to look, no such
 * actor, a dead one to restart): exit code 2, as every command's refusals of bad input; failures
 * while working (the server unreachable or refusing us, a call timing out) keep exit code 1.
 */
function isRefusal(e: unknown): boolean {
  return e instanceof NoLiveRunError || e instanceof ActorNotFoundError || e instanceof ActorDiedError;
}

/** `azr <command>` for error lines, from the argv yargs hands the handler (`azr` when called without one, as tests do). */
export function commandLabel(a: RunArgs): string {
  const command = (a as { _?: unknown[] })._?.[0];
  return typeof command === "string" && command ? `azr ${command}` : "azr";
}

/** A refusal before connecting (a missing argument): the same one line and exit code 2 as withRun's. */
export function refuse(a: RunArgs, message: string): void {
  process.stderr.write(`${commandLabel(a)}: ${message}\n`);
  process.exitCode = 2;
}

/**
 * Runs a command body with a connection, closing it after; errors become one line on stderr,
 * `azr <command>: …` as the other commands write them, exit code 2 for a refusal (isRefusal), else 1.
 */
export async function withRun(a: RunArgs, body: (c: { cluster: Cluster } & RunTarget) => Promise<void>): Promise<void> {
  let c: ({ cluster: Cluster } & RunTarget) | undefined;
  try {
    c = await connectToRun(a);
    await body(c);
  } catch (e) {
    process.stderr.write(`${commandLabel(a)}: ${(e as Error).message}\n`);
    process.exitCode = isRefusal(e) ? 2 : 1;
  } finally {
    await c?.cluster.close();
  }
}

/** Where a long-running ops command's connection stands: `down` while NATS is unreachable, `ended` once the run's own server is gone for good. */
export interface ConnectionState {
  down?: { since: number; server: string };
  ended?: string;
}

/**
 * Follows the connection of a command that keeps running (`top`, `logs -f`, `web`): tells when it
 * is lost and back (the client reconnects on its own, e.g. after a NATS restart), and when the
 * run's embedded server has stopped (the run ended), which no reconnect can mend. `onChange`
 * gets one line per change. Not: NATS_URL servers, which may come back at any time.
 */
export function watchConnection(c: { cluster: Cluster; runDir: string; serverPid?: number }, onChange: (line: string, s: ConnectionState) => void): { state: ConnectionState; stop(): void } {
  const state: ConnectionState = {};
  let timer: NodeJS.Timeout | undefined;
  const checkEnded = () => {
    if (c.serverPid === undefined || state.ended || readServerFile(c.runDir)?.pid === c.serverPid) return;
    clearInterval(timer);
    state.ended = `the run has ended: its nats-server (pid ${c.serverPid}, ${serverFilePath(c.runDir)}) stopped`;
    onChange(state.ended, state);
  };
  void (async () => {
    for await (const s of c.cluster.nc.status()) {
      if (s.type === "disconnect" && !state.down) {
        state.down = { since: Date.now(), server: s.server };
        onChange(`lost the connection to NATS at ${s.server}; reconnecting`, state);
        timer = setInterval(checkEnded, 500);
        checkEnded();
      } else if (s.type === "reconnect" && state.down && !state.ended) {
        clearInterval(timer);
        state.down = undefined;
        onChange(`reconnected to NATS at ${s.server}`, state);
      }
    }
  })();
  return { state, stop: () => clearInterval(timer) };
}
