/**
 * The long-running ops commands when the run goes away: `azr top` (live, --json) and
 * `azr logs -f` started against a run's embedded server (found through <run-dir>/nats.json, as
 * after `azr selfplay`) say that the run has ended and exit once that server stops, instead of
 * showing stale figures or waiting forever; the web view's /api/top says so too. `azr top` runs
 * many refreshes without piling up listeners. And the tables right-align figures with units.
 */
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, test } from "node:test";
import { actorsTable } from "../../cli/commands/actors.ts";
import { startWebView } from "../../cli/web/server.ts";
import { connect, type ActorEntry } from "../../runtime/index.ts";
import { writeServerFile, removeServerFile } from "../../runtime/monitor-server-file.ts";
import { startNatsServer } from "../../runtime/nats-server.ts";
import { until } from "../helpers/wait.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function azr(args: string[]): { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> } {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("NATS_")) delete env[k]; // the run folder's nats.json is what finds the server
  const child = spawn(process.execPath, ["--import", "tsx", "cli/bin.ts", ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { child, out: () => out, err: () => err, exited };
}

test("run ended - top and logs -f say so and exit, the web view says so, top does not pile up listeners", { timeout: 120_000 }, async () => {
  const runDir = mkdtempSync(join(tmpdir(), "azr-ops-ended-"));
  const server = await startNatsServer();
  const children: ChildProcess[] = [];
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    await server.stop();
    rmSync(runDir, { recursive: true, force: true });
  });
  writeServerFile(runDir, { url: server.url, monitorUrl: server.monitorUrl, pid: server.pid });
  const cluster = await connect({ cluster: "t-ended", connection: { servers: [server.url] }, runDir });
  const view = await startWebView({ runDir, cluster });
  try {
    const args = ["--cluster", "t-ended", "--run-dir", runDir];
    const top = azr(["top", "--json", "--interval", "50", ...args]);
    const logs = azr(["logs", "-f", "w1", ...args]);
    children.push(top.child, logs.child);
    // More refreshes than Node's listener limit (10) before the run ends.
    await until("15 top snapshots", () => top.out().split("\n").filter(Boolean).length >= 15, 30_000);
    const live = (await (await fetch(view.url + "api/top")).json()) as { cluster?: string; error?: string };
    assert.equal(live.error, undefined, "live: figures, no error");

    await server.stop();
    removeServerFile(runDir, server.pid);
    let limit: NodeJS.Timeout | undefined;
    const [topCode, logsCode] = await Promise.race([
      Promise.all([top.exited, logs.exited]),
      new Promise<never>((_, rej) => (limit = setTimeout(() => rej(new Error(`still running 20 s after the run ended:\ntop: ${top.err()}\nlogs: ${logs.err()}`)), 20_000))),
    ]).finally(() => clearTimeout(limit)); // a pending limit would keep this file's process alive for the rest of its 20 s
    assert.equal(topCode, 0, top.err());
    assert.equal(logsCode, 0, logs.err());
    assert.match(top.err(), /azr top: lost the connection to NATS at .*; reconnecting/);
    assert.match(top.err(), /azr top: the run has ended: its nats-server \(pid \d+, .*nats\.json\) stopped/);
    assert.doesNotMatch(top.err(), /MaxListenersExceeded/, "no listener added per refresh");
    assert.match(logs.err(), /azr logs: the run has ended/);
    const ended = (await (await fetch(view.url + "api/top")).json()) as { error?: string };
    assert.match(ended.error ?? "", /the run has ended/, "the page says the run has ended instead of showing the last figures as live");
  } finally {
    await view.close();
    await cluster.close();
  }
});

test("tables - a column of ages with minutes (1m05s) right-aligns like one of seconds", () => {
  const now = Date.now();
  const entry = (name: string, ageMs: number): ActorEntry =>
    ({ name, node: "n1", pid: 10, state: "alive", restarts: 0, maxRestarts: 3, incarnation: 1, startedAt: now - ageMs, lastHeartbeat: now - 1000, methods: {}, resources: {} }) as unknown as ActorEntry;
  const lines = actorsTable([entry("a", 1000), entry("b", 65_000)], now).split("\n");
  const col = lines[0].indexOf("UPTIME") + "UPTIME".length;
  assert.equal(lines[1].slice(0, col).trimEnd().length, col, `uptime 1s ends under the header's end:\n${lines.join("\n")}`);
  assert.equal(lines[2].slice(0, col).trimEnd().length, col, `uptime 1m05s ends under the header's end:\n${lines.join("\n")}`);
});
