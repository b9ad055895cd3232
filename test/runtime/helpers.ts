/**
 * Test helper for the runtime: a real nats-server and a connected Cluster per test file, torn
 * down in the right order (cluster first, then the server; node's `after` hooks run in
 * registration order, so both live in one hook pair).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before } from "node:test";
import { connect, type Cluster, type ConnectOptions } from "../../runtime/index.ts";
import { startNatsServer, type NatsServerHandle } from "../../runtime/nats-server.ts";

export interface TestCluster {
  readonly cluster: Cluster;
  readonly server: NatsServerHandle;
  readonly runDir: string;
  /** Registers teardown that must run while the server is still up (before the cluster closes). */
  onTeardown(fn: () => Promise<void>): void;
}

export function useCluster(name: string, opts: Omit<ConnectOptions, "cluster" | "connection" | "runDir"> = {}): TestCluster {
  let cluster: Cluster | undefined;
  let server: NatsServerHandle | undefined;
  const runDir = mkdtempSync(join(tmpdir(), `azr-${name}-`));
  const teardown: (() => Promise<void>)[] = [];
  before(async () => {
    server = await startNatsServer();
    cluster = await connect({ ...opts, cluster: name, connection: { servers: [server.url] }, runDir });
  });
  after(async () => {
    for (const fn of teardown.reverse()) await fn();
    await cluster?.close();
    await server?.stop();
    rmSync(runDir, { recursive: true, force: true });
  });
  return {
    get cluster() {
      if (!cluster) throw new Error("cluster not connected yet: use it inside a test or hook");
      return cluster;
    },
    get server() {
      if (!server) throw new Error("nats-server not started yet");
      return server;
    },
    runDir,
    onTeardown: (fn) => void teardown.push(fn),
  };
}

export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export interface AgentProcessOptions {
  cluster: string;
  id: string;
  runDir: string;
  gpu?: number;
  cpu?: number;
  /** The NATS_* variables the agent connects with (NATS_URL at least); added to this process's environment. */
  env: NodeJS.ProcessEnv;
}

/** A node agent in its own process (runtime/node-agent-main.ts); resolves once it says it is ready. */
export function startAgentProcess(o: AgentProcessOptions): Promise<ChildProcess> {
  const main = fileURLToPath(new URL("../../runtime/node-agent-main.ts", import.meta.url));
  const args = ["--import", "tsx", main, "--cluster", o.cluster, "--id", o.id, "--gpu", String(o.gpu ?? 0), "--cpu", String(o.cpu ?? 2), "--run-dir", o.runDir];
  const child = spawn(process.execPath, args, { env: { ...process.env, ...o.env }, stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes(`azr node agent ${o.id} ready`)) resolve(child);
    });
    child.once("exit", (code) => reject(new Error(`node agent ${o.id} exited (${code}) before it was ready`)));
  });
}

/** SIGTERM to an agent process (it stops its actors), resolved once it has exited. */
export async function stopAgentProcess(agent: ChildProcess): Promise<void> {
  if (agent.exitCode !== null || agent.signalCode !== null) return;
  agent.kill("SIGTERM");
  await once(agent, "exit");
}
