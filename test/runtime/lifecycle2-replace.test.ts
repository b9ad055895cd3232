/**
 * A lost node's actors are re-placed on a live node, as Ray restarts a dead node's actors
 * elsewhere. Real nats-server, node agents in their own processes, real actor processes:
 * - agent B SIGKILLed: its actor with restarts left comes back on the test's agent A (the only
 *   live node with room) as one restart, from its stored spec (a 50 MB argument) and saved state,
 *   with A's GPU index; the handle obtained before the loss reaches it. A second survivor sweeps
 *   at the same time (too small to take the actor): the actor moves once. B's actor with
 *   maxRestarts 0 is dead ("lost", as before), one that fits no live node is dead naming what it
 *   needs, one whose start fails on its new node is dead saying so.
 * - agent B frozen (SIGSTOP, as a node cut off from NATS) past the lost time: its actor is
 *   re-placed; once B runs again it stops its own copy, and the re-placed one lives on.
 * - a run SIGKILLed with an actor on its own node: that actor goes with it (not re-placed).
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { NodeAgent, type ActorEntry, type ActorEvent } from "../../runtime/index.ts";
import { SpecStore } from "../../runtime/spec-store.ts";
import { Keeper, StartsOnce } from "./fixtures/replace-actors.ts";
import { startAgentProcess, stopAgentProcess, useCluster } from "./helpers.ts";
import { processRunning } from "../helpers/processes.ts";
import { until } from "../helpers/wait.ts";

const NAME = "t-lc2-replace";
/** Above the standalone agents' 2 s heartbeat with room to spare: a live node is never taken for lost. */
const LOST_MS = 4000;

describe("lifecycle2: a lost node's actors", () => {
  // Agent A: the test's own, 2 CPUs and 1 GPU.
  const t = useCluster(NAME, { agent: { lostNodeMs: LOST_MS, heartbeatMs: 500, resources: { cpu: 2, gpu: 1 }, payloadOrphans: false, shell: false } });
  const events: ActorEvent[] = [];
  let specs: SpecStore;
  const env = () => ({ NATS_URL: t.server.url });
  const entry = (name: string) => t.cluster.registry.get(name);
  const movedOff = (name: string, node: string) => until(`'${name}' alive off node ${node}`, async () => {
    const e = await entry(name);
    return e?.state === "alive" && e.node !== node ? e : undefined;
  }, 30_000, 200);
  const deadEntry = (name: string) => until(`'${name}' dead`, async () => {
    const e = await entry(name);
    return e?.state === "dead" ? e : undefined;
  }, 30_000, 200);

  before(async () => {
    specs = await SpecStore.open(t.cluster.nc, NAME);
    const watching = new AbortController();
    t.onTeardown(async () => watching.abort());
    void (async () => {
      for await (const ev of t.cluster.events({ signal: watching.signal })) events.push(ev);
    })();
    await t.cluster.nc.flush();
    // A second survivor that sweeps as often as A: the two must not both move an actor. Too
    // small for any of them (half a CPU, no GPU), so where they go stays A.
    const helper = await NodeAgent.start({
      nc: t.cluster.nc, connection: t.cluster.spec, cluster: NAME, id: "t-helper", runDir: t.runDir,
      resources: { cpu: 0.5, gpu: 0 }, lostNodeMs: LOST_MS, heartbeatMs: 500, payloadOrphans: false, shell: false,
    });
    t.onTeardown(() => helper.close());
  });

  test("SIGKILLed node: restarts left → moved to A (same handle, spawn args, saved state, A's GPU, one restart); maxRestarts 0 → dead; no room → dead naming its needs; failed start → dead saying why", { timeout: 90_000 }, async () => {
    const a = t.cluster.agent!.id;
    const b = await startAgentProcess({ cluster: NAME, id: "doomed-b", cpu: 4, gpu: 2, runDir: t.runDir, env: env() });
    try {
      const blob = new Float32Array((50 * 2 ** 20) / 4).fill(1); // 50 MB: over max_payload, through the object store
      await t.cluster.spawn(Keeper, [new Float32Array(1)], { name: "filler", node: "doomed-b", resources: { gpu: 1 } }); // GPU 0; maxRestarts 0
      const keeper = await t.cluster.spawn(Keeper, [blob], { name: "keeper", node: "doomed-b", maxRestarts: 2, resources: { cpu: 1, gpu: 1 } });
      await t.cluster.spawn(Keeper, [new Float32Array(1)], { name: "needy", node: "doomed-b", maxRestarts: 1, resources: { cpu: 3 } }); // A has 2 CPUs
      const marker = join(t.runDir, "starts-once");
      await t.cluster.spawn(StartsOnce, [marker], { name: "starts-once", node: "doomed-b", maxRestarts: 1 });
      writeFileSync(marker, ""); // its next start, on A, fails
      assert.equal(await keeper.gpus(), "1");
      assert.equal(await keeper.add(42), 42); // saved after the call
      const oldPid = await keeper.pid();
      assert.ok(await specs.info("keeper"), "the spawn spec is stored cluster-wide");

      b.kill("SIGKILL");
      const t0 = Date.now();
      const e = await movedOff("keeper", "doomed-b");
      const movedMs = Date.now() - t0;
      assert.equal(e.node, a);
      assert.equal(e.restarts, 1);
      assert.equal(e.incarnation, 2);
      assert.deepEqual(e.gpuIndices, [0], "a GPU index of its new node");
      assert.match(e.reason ?? "", new RegExp(`^re-placing: its node doomed-b \\(agent pid \\d+ on .+\\) sent no heartbeat for \\d+ s; restarting it on node ${a} \\(restart 1 of 2; decided by node (${a}|t-helper)\\)$`));

      // The handle from before the loss reaches the new incarnation, which has its state and its arguments.
      assert.equal(await keeper.get(), 42);
      assert.notEqual(await keeper.pid(), oldPid);
      assert.ok(!processRunning(oldPid), `the old process ${oldPid} still runs`);
      assert.equal(await keeper.gpus(), "0");
      assert.deepEqual(await keeper.blob(), { length: blob.length, sum: blob.length });

      const filler = await deadEntry("filler");
      assert.match(filler.reason ?? "", /^lost: its node doomed-b \(agent pid \d+ on .+\) sent no heartbeat for \d+ s; marked dead by node /);
      const needy = await deadEntry("needy");
      assert.match(needy.reason ?? "", /^lost: its node doomed-b \(agent pid \d+ on .+\) sent no heartbeat for \d+ s, and no live node has room for it \(it needs cpu 3; free: .*\); marked dead by node /);
      assert.match(needy.reason ?? "", new RegExp(`${a} cpu 1, gpu 0`), "what A has free once keeper is there");
      const once = await deadEntry("starts-once");
      assert.match(once.reason ?? "", new RegExp(`^re-placing: its node doomed-b .*; restarting it on node (${a}|t-helper) \\(restart 1 of 1; decided by node .+\\): failed: .*refusing to start again`));
      assert.equal(await specs.info("filler"), undefined, "a dead actor's spec is deleted");
      assert.equal(await specs.info("needy"), undefined);
      assert.equal(await specs.info("starts-once"), undefined);
      assert.ok(await specs.info("keeper"), "the re-placed actor's spec stays");

      // Both survivors have swept since (every LOST_MS/3): the move happened once.
      await sleep(LOST_MS);
      const moves = events.filter((ev) => ev.actor === "keeper").map((ev) => `${ev.type}@${ev.node}#${ev.incarnation}`);
      assert.deepEqual(moves, ["started@doomed-b#1", "died@doomed-b#1", `restarted@${a}#2`]);
      const died = events.find((ev) => ev.actor === "keeper" && ev.type === "died");
      assert.equal(died?.type === "died" && died.willRestart, true);
      assert.equal(died?.type === "died" && died.reason, e.reason, "the died event says what the registry says");
      assert.deepEqual(await entry("keeper"), { ...e, lastHeartbeat: (await entry("keeper"))!.lastHeartbeat });
      console.log(`keeper re-placed ${movedMs} ms after its node was SIGKILLed (lost after ${LOST_MS} ms)`);
    } finally {
      b.kill("SIGKILL");
    }
  });

  test("frozen (cut-off) node: its actor is re-placed; back, it stops its own copy and the re-placed one lives on", { timeout: 60_000 }, async () => {
    const a = t.cluster.agent!.id;
    const b = await startAgentProcess({ cluster: NAME, id: "frozen-b", cpu: 2, runDir: t.runDir, env: env() });
    try {
      const h = await t.cluster.spawn(Keeper, [new Float32Array(4)], { name: "cut-off", node: "frozen-b", maxRestarts: 1, resources: { cpu: 1 } });
      await h.add(7);
      const oldPid = await h.pid();
      b.kill("SIGSTOP"); // its actor process runs on; the agent sends no heartbeat
      const e: ActorEntry = await movedOff("cut-off", "frozen-b");
      assert.equal(e.node, a);
      b.kill("SIGCONT");
      await until(`the frozen agent stops its copy (pid ${oldPid})`, () => !processRunning(oldPid), 15_000, 200);
      const now = await entry("cut-off");
      assert.equal(now?.state, "alive");
      assert.equal(now?.node, a);
      assert.equal(now?.incarnation, 2);
      assert.equal(await h.pid(), now?.pid);
      assert.equal(await h.get(), 7);
      // Its stop is no death of the actor: a "killed" event would fail the live incarnation's calls.
      assert.deepEqual(events.filter((ev) => ev.actor === "cut-off" && (ev.type === "killed" || ev.type === "dead")), []);
    } finally {
      b.kill("SIGCONT");
      await stopAgentProcess(b);
    }
  });

  test("a run SIGKILLed with an actor on its own node: the actor goes with it, not re-placed", { timeout: 60_000 }, async () => {
    const script = fileURLToPath(new URL("./fixtures/owner-run.ts", import.meta.url));
    const run = spawn(process.execPath, ["--import", "tsx", script, t.server.url, NAME, "self", t.runDir, "1"], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      await new Promise<void>((resolve, reject) => {
        let out = "";
        run.stdout!.on("data", (d: Buffer) => {
          out += d;
          if (/owned-worker pid \d+/.test(out)) resolve();
        });
        run.once("exit", (code) => reject(new Error(`the run exited (${code}) before spawning`)));
      });
      run.kill("SIGKILL");
      const e = await deadEntry("owned-worker");
      assert.match(e.reason ?? "", /^lost: its node (\S+) \(agent pid \d+ on .+\) sent no heartbeat for \d+ s, and the run that spawned it is gone too \(its node \1 is lost\); marked dead by node /);
      assert.equal(e.incarnation, 1);
    } finally {
      run.kill("SIGKILL");
    }
  });
});
