/**
 * The ops commands as users run them: `azr actors | nodes | top --once --json | logs | restart |
 * kill | attach` in child processes (attach inside a real pseudo-terminal from node-pty) against
 * a live cluster on a real nats-server that requires credentials, with a spawned actor process.
 */
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as pty from "node-pty";
import { printLogs } from "../../cli/commands/logs.ts";
import { nodesTable } from "../../cli/commands/nodes.ts";
import { RegistryView, renderTop, type TopSnapshot } from "../../cli/commands/top.ts";
import { Greeter } from "./fixtures/actors.ts";
import { Screen, useOpsCluster } from "./helpers.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);

describe("azr ops commands", () => {
  const t = useOpsCluster("t-cli");
  const args = () => ["--cluster", t.cluster.name, "--run-dir", t.runDir];
  const azr = (cmd: string[], env: Record<string, string> = t.env()) =>
    run(process.execPath, ["--import", "tsx", "cli/bin.ts", ...cmd, ...args()], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 30_000 });

  test("actors, nodes - the registry as tables and JSON", async () => {
    await t.cluster.spawn(Greeter, [], { name: "w1", maxRestarts: 2 });
    const json = await azr(["actors", "--json"]);
    // The table renderers run in-process: one CLI child per property keeps this file fast.
    const nodes = { stdout: nodesTable(await t.cluster.nodes(), await t.cluster.actors()) };
    const entries = JSON.parse(json.stdout) as { name: string; state: string; node: string }[];
    assert.deepEqual(
      entries.map((e) => [e.name, e.state, e.node]),
      [["w1", "alive", "n1"]],
      "user actors only: the node agent's own service is not listed",
    );
    assert.match(nodes.stdout, /^ID\s+HOST\s+PID\s+CPU\s+GPU\s+MEM_MB\s+LABELS\s+ACTORS\s+HEARTBEAT$/m);
    assert.match(nodes.stdout, /^n1\s+\S+\s+\d+\s+\d+\s+0\s+\d+\s+-\s+1\s+\d+s$/m);
  });

  test("top --once [--json] - the actors' call figures and the NATS server's", async () => {
    const w1 = await t.cluster.getActor<Greeter>("w1");
    for (let i = 0; i < 20; i++) await w1.greet(`n${i}`);
    // Keep the actor busy while the command runs, as in a live run (the rate is over the last 10 s).
    let busy = true;
    const load = (async () => {
      while (busy) await w1.greet("load");
    })();
    const { stdout } = await azr(["top", "--once", "--json"]).finally(() => (busy = false));
    await load;
    const snap = JSON.parse(stdout) as TopSnapshot;
    const text = { stdout: renderTop(snap) };
    assert.match(text.stdout, /^ACTOR\s+STATE\s+NODE\s+PID\s+RESTARTS\s+UPTIME\s+CALLS\/S\s+P50_MS\s+P99_MS\s+QUEUE/m);
    assert.match(text.stdout, /^w1\s+alive\s+n1\s+\d+\s+0\/2\s/m);
    assert.match(text.stdout, /^NATS 2\.\d+\.\d+ up .* slow consumers 0$/m);
    assert.match(text.stdout, /^ {2}JetStream: \d+ streams/m);
    const row = snap.actors.find((a) => a.name === "w1");
    assert.ok(row?.stats && row.process, `w1 reports stats and process figures: ${JSON.stringify(row)}`);
    assert.equal(row.state, "alive");
    assert.equal(row.node, "n1");
    assert.ok(row.stats.calls >= 20, `calls ${row.stats.calls}`);
    assert.ok(row.stats.p50Ms !== null && row.stats.p99Ms !== null && row.stats.p99Ms >= row.stats.p50Ms);
    assert.ok(row.stats.callsPerSec > 0);
    assert.equal(row.stats.queueDepth, 0);
    assert.equal(row.process.pid, row.pid);
    assert.ok(row.process.rss > 10 * 2 ** 20, `rss ${row.process.rss}`);
    const f = snap.nats.figures;
    assert.ok(f, `NATS figures: ${snap.nats.error}`);
    assert.ok(f.connections >= 3, "this test, the actor process, and the top command itself");
    assert.ok(f.inMsgs > 20 && f.outMsgs > 20 && f.inBytes > 0);
    assert.equal(f.slowConsumers, 0);
    assert.ok(f.jetstream.enabled && f.jetstream.streams >= 2, "the registry's KV buckets are streams");
    assert.ok(snap.nats.rates, "two readings give rates");
    assert.deepEqual(
      snap.nodes.map((n) => n.id),
      ["n1"],
    );
  });

  test("logs - past lines from the run folder across a restart, --since, -f follows live lines", async () => {
    const w1 = await t.cluster.getActor<Greeter>("w1");
    await w1.say("before-restart");
    const restarted = await azr(["restart", "w1"]);
    assert.match(restarted.stdout, /^w1: alive, pid \d+, incarnation 2$/m);
    await w1.say("after-restart");
    const past = await azr(["logs", "w1", "--since", "5m"]);
    const lines = past.stdout.trim().split("\n");
    const i = lines.findIndex((l) => / \[w1\] before-restart$/.test(l));
    const j = lines.findIndex((l) => / \[w1\] after-restart$/.test(l));
    assert.ok(i >= 0 && j > i, `both incarnations' lines, in order:\n${past.stdout}`);
    assert.ok(lines.some((l) => /\[w1\] azr: restarted as process \d+/.test(l)), "the agent's restart line is there too");
    const none: string[] = [];
    await printLogs({ cluster: t.cluster, runDir: t.runDir, actor: "w1", follow: false, since: Date.now() + 60_000, write: (l) => none.push(l) });
    assert.deepEqual(none, [], "--since in the future prints nothing");

    const got: string[] = [];
    const ac = new AbortController();
    let sawLive!: () => void;
    const seen = new Promise<void>((r) => (sawLive = r));
    const following = printLogs({
      cluster: t.cluster,
      runDir: t.runDir,
      actor: "w1",
      follow: true,
      tail: 1,
      signal: ac.signal,
      write: (l) => {
        got.push(l);
        if (l.endsWith("[w1] live-line")) sawLive();
      },
    });
    await t.cluster.nc.flush();
    await w1.say("live-line");
    await seen;
    ac.abort();
    await following;
    assert.equal(got.filter((l) => l.endsWith("live-line")).length, 1, "a live line shows once even if the file already has it");
    assert.match(got[0], /\[w1\] after-restart$|\[w1\] live-line$/, "--tail 1 starts from the last past line");

    // Following a name with no log and no actor (a typo) says so once instead of waiting in silence.
    const notices: string[] = [];
    const stop = new AbortController();
    const typo = printLogs({ cluster: t.cluster, runDir: t.runDir, actor: "w9", follow: true, signal: stop.signal, write: () => {}, notice: (l) => notices.push(l) });
    await t.cluster.nc.flush();
    await new Promise((r) => setTimeout(r, 200));
    stop.abort();
    await typo;
    assert.equal(notices.length, 1);
    assert.match(notices[0], /no log file for 'w9' at .* and no actor of that name in the run \(actors: .*w1.*\); waiting for its lines/);
    assert.deepEqual(await printLogsNotices(t, "w1"), [], "a known actor: no notice");
  });

  test("attach - through a real terminal: evaluate, Ctrl-C mid-line, Ctrl-D detaches, the actor keeps serving", async () => {
    const w1 = await t.cluster.getActor<Greeter>("w1");
    const pid = await w1.pid();
    const screen = new Screen();
    const term = pty.spawn(process.execPath, ["--import", "tsx", "cli/bin.ts", "attach", "w1", ...args()], {
      cwd: ROOT,
      cols: 100,
      rows: 30,
      env: { ...process.env, ...t.env() } as Record<string, string>,
    });
    const exited = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
    term.onData(screen.push);
    await screen.waitFor(/attached to actor 'w1'[\s\S]*w1> /, 0, 20_000);
    let m = screen.mark();
    term.write("await actor.greet('pty')\r");
    await screen.waitFor(/'hello, pty'/, m);
    term.write("actor.greeting = 'lost'");
    term.write("\x03");
    m = screen.mark();
    term.write("actor.greeting\r");
    await screen.waitFor(/'hello'/, m);
    assert.equal(await w1.greet("meanwhile"), "hello, meanwhile");
    term.write("\x04");
    assert.equal(await exited, 0);
    assert.match(screen.text, /\[azr attach: detached \(Ctrl-D\)\]/);
    assert.equal(await w1.pid(), pid, "the actor's process is the same one");
    assert.equal(await w1.greet("after"), "hello, after");
  });

  test("attach without the cluster's credentials - refused", async () => {
    const { NATS_USER: _u, NATS_PASSWORD: _p, ...noCreds } = t.env();
    const env = { ...noCreds, NATS_USER: "", NATS_PASSWORD: "" };
    await assert.rejects(azr(["attach", "w1"], env), (e: Error & { code?: number; stderr?: string }) => {
      assert.equal(e.code, 1);
      assert.match(e.stderr ?? "", /^azr attach: cannot connect to NATS .*Authorization Violation/i);
      return true;
    });
  });

  // A hang here once cost the whole file its 300 s: now it fails this test, by name.
  test("kill - the actor is dead for good; a live registry view (KV watch) sees it", { timeout: 120_000 }, async () => {
    const view = await RegistryView.start(t.cluster);
    try {
      assert.equal((await view.actors()).find((a) => a.name === "w1")?.state, "alive");
      assert.deepEqual((await view.nodes()).map((n) => n.id), ["n1"]);
      const { stdout } = await azr(["kill", "w1"]);
      assert.equal(stdout, "w1: dead\n");
      assert.equal((await t.cluster.registry.get("w1"))?.state, "dead");
      // The watch delivers the change after the write; round-trips to the server order us after it.
      for (let i = 0; (await view.actors()).find((a) => a.name === "w1")?.state !== "dead"; i++) {
        assert.ok(i < 50, "the view never saw the kill");
        await t.cluster.nc.flush();
      }
    } finally {
      view.stop();
    }
  });
});

/** The notices `printLogs` gives when following `actor` for a moment. */
async function printLogsNotices(t: { cluster: Parameters<typeof printLogs>[0]["cluster"]; runDir: string }, actor: string): Promise<string[]> {
  const notices: string[] = [];
  const stop = new AbortController();
  const run = printLogs({ cluster: t.cluster, runDir: t.runDir, actor, follow: true, signal: stop.signal, write: () => {}, notice: (l) => notices.push(l) });
  await new Promise((r) => setTimeout(r, 200));
  stop.abort();
  await run;
  return notices;
}
