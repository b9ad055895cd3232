/**
 * Test helper for the ops commands: a real nats-server that requires a user and password (so
 * "without the cluster's credentials" can be tested), a Cluster with an in-process node agent
 * on it, and a run folder; torn down cluster first, then the server. Plus `Screen`, which
 * collects a terminal session's output and waits for text to appear in it.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { connect, type Cluster, type ConnectionSpec } from "../../runtime/index.ts";
import { startNatsServer, type NatsServerHandle } from "../../runtime/nats-server.ts";

export interface OpsCluster {
  readonly cluster: Cluster;
  readonly server: NatsServerHandle;
  readonly spec: ConnectionSpec;
  readonly runDir: string;
  /** NATS_* variables that reach this cluster, for CLI child processes. */
  env(): Record<string, string>;
}

export function useOpsCluster(name: string): OpsCluster {
  let cluster: Cluster | undefined;
  let server: NatsServerHandle | undefined;
  const runDir = mkdtempSync(join(tmpdir(), `azr-ops-${name}-`));
  const auth = { user: "azr", pass: randomBytes(12).toString("hex") };
  let spec: ConnectionSpec | undefined;
  before(async () => {
    server = await startNatsServer({ auth });
    spec = { servers: [server.url], ...auth };
    cluster = await connect({ cluster: name, connection: spec, runDir, agent: { id: "n1" } });
  });
  after(async () => {
    await cluster?.close();
    await server?.stop();
    rmSync(runDir, { recursive: true, force: true });
  });
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`${what} not ready yet: use it inside a test or hook`);
    return v;
  };
  return {
    get cluster() {
      return need(cluster, "cluster");
    },
    get server() {
      return need(server, "nats-server");
    },
    get spec() {
      return need(spec, "connection spec");
    },
    runDir,
    env() {
      const s = need(server, "nats-server");
      return { NATS_URL: s.url, NATS_USER: auth.user, NATS_PASSWORD: auth.pass, NATS_MONITOR_URL: s.monitorUrl };
    },
  };
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>]|\r/g;

/** Terminal output with escape sequences and carriage returns removed. */
export function plain(s: string): string {
  return s.replace(ANSI, "");
}

/** Accumulates a terminal's output; `waitFor` resolves when a pattern shows up after a mark. */
export class Screen {
  #text = "";
  #waiters: { re: RegExp; from: number; resolve: (m: string) => void }[] = [];

  readonly push = (d: Uint8Array | string): void => {
    this.#text += typeof d === "string" ? d : Buffer.from(d).toString("utf8");
    for (const w of [...this.#waiters]) this.#check(w);
  };

  get text(): string {
    return plain(this.#text);
  }

  /** A position: `waitFor(re, mark)` looks only at output after it. */
  mark(): number {
    return this.#text.length;
  }

  waitFor(re: RegExp, from = 0, timeoutMs = 10_000): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const w = { re, from, resolve: (m: string) => (clearTimeout(t), resolve(m)) };
      const t = setTimeout(() => {
        this.#waiters = this.#waiters.filter((x) => x !== w);
        reject(new Error(`timed out waiting for ${re} in terminal output:\n${plain(this.#text.slice(from)).slice(-2000)}`));
      }, timeoutMs);
      this.#waiters.push(w);
      this.#check(w);
    });
  }

  #check(w: { re: RegExp; from: number; resolve: (m: string) => void }): void {
    const m = w.re.exec(plain(this.#text.slice(w.from)));
    if (m) {
      this.#waiters = this.#waiters.filter((x) => x !== w);
      w.resolve(m[0]);
    }
  }
}
