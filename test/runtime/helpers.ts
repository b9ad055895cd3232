/**
 * Test helper for the runtime: a real nats-server and a connected Cluster per test file, torn
 * down in the right order (cluster first, then the server; node's `after` hooks run in
 * registration order, so both live in one hook pair).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
