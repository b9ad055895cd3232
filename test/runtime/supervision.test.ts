/**
 * Spawned actors in their own processes, supervised by an in-process node agent, on a real
 * nats-server: spawn and call, registry entries, restart after SIGKILL with state restored
 * (the caller of the dead incarnation gets ActorDiedError, later calls reach the new one),
 * maxRestarts exhausted, kill, restart on request, logs, spawn failures; restarts after repeated
 * crashes spaced by the back-off schedule.
 */
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  ActorDefinitionError,
  ActorDiedError,
  ActorExistsError,
  ActorStartError,
  withCallOptions,
  type ActorEvent,
  type Cluster,
} from "../../runtime/index.ts";
import { restartBackoffMs } from "../../runtime/node-agent.ts";
import { until } from "../helpers/wait.ts";
import { Broken, Counter, Undefined } from "./fixtures/actors.ts";
import { useCluster } from "./helpers.ts";

/** Resolves with the first event of `type` for `actor` (subscribed before this returns). */
async function nextEvent(cluster: Cluster, actor: string, type: ActorEvent["type"]): Promise<() => Promise<ActorEvent>> {
  const it = cluster.events({ actor });
  await cluster.nc.flush();
  return async () => {
    for await (const e of it) if (e.type === type) return e;
    throw new Error(`event stream for ${actor} ended before a '${type}' event`);
  };
}

describe("spawned actors", () => {
  const t = useCluster("t-spawn", { agent: true });

  test("spawn - the actor runs in its own process, is registered alive, and answers typed calls", async () => {
    const c = await t.cluster.spawn(Counter, [5], { name: "c1", maxRestarts: 2 });
    assert.equal(await c.add(1), 6);
    const pid = await c.pid();
    assert.notEqual(pid, process.pid);
    const e = await t.cluster.registry.get("c1");
    assert.equal(e?.state, "alive");
    assert.equal(e?.pid, pid);
    assert.equal(e?.node, t.cluster.agent!.id);
    assert.equal(e?.restarts, 0);
    assert.deepEqual(e?.methods.find((m) => m.name === "count"), { name: "count", kind: "stream", concurrent: false });
    // A second client finds it by name, streams included.
    const again = await t.cluster.getActor<Counter>("c1");
    const got: number[] = [];
    for await (const x of again.count(3)) got.push(x);
    assert.deepEqual(got, [0, 1, 2]);
  });

  test("SIGKILL - the in-flight caller gets ActorDiedError, the actor restarts with its saved state", async () => {
    const c = await t.cluster.getActor<Counter>("c1");
    assert.equal(await c.add(10), 16); // acknowledged, so saved before the reply
    const oldPid = await c.pid();
    const restarted = await nextEvent(t.cluster, "c1", "restarted");
    const inFlight = c.hang();
    await c.waitStarted();
    process.kill(oldPid, "SIGKILL");
    const t0 = performance.now();
    await assert.rejects(inFlight, ActorDiedError);
    assert.ok(performance.now() - t0 < 5000, "the dead incarnation's caller is told promptly");
    // A caller that asked for retries rides through the restart instead of failing.
    assert.equal(await withCallOptions(c, { retries: 20 }).get(), 16); // ~35 s of back-off: enough for a slow restart on a loaded box
    const ev = await restarted();
    assert.equal(ev.type === "restarted" && ev.restarts, 1);
    assert.equal(await c.get(), 16, "state restored by loadState");
    assert.notEqual(await c.pid(), oldPid);
    const e = await t.cluster.registry.get("c1");
    assert.equal(e?.state, "alive");
    assert.equal(e?.restarts, 1);
    assert.equal(e?.incarnation, 2);
  });

  test("restart on request - a new process, state kept, not counted as a crash", async () => {
    const c = await t.cluster.getActor<Counter>("c1");
    const before = await c.pid();
    await t.cluster.restart("c1");
    assert.notEqual(await c.pid(), before);
    assert.equal(await c.get(), 16);
    assert.equal((await t.cluster.registry.get("c1"))?.restarts, 1);
  });

  test("logs - stdout lines are prefixed, kept in the run folder and published", async () => {
    const c = await t.cluster.getActor<Counter>("c1");
    const lines = t.cluster.logs("c1");
    await t.cluster.nc.flush();
    await c.log("hello from c1");
    for await (const l of lines) {
      if (l.line === "hello from c1") {
        assert.equal(l.stream, "stdout");
        break;
      }
    }
    // The agent appends to the file through a write stream and publishes the line beside it: the
    // published copy can arrive before the write lands (seen once under load), so wait for the file.
    const written = /^\d{4}-\d\d-\d\dT\S+Z \[c1\] hello from c1$/m;
    const path = join(t.runDir, "logs", "c1.log");
    await until("the line in c1.log", () => written.test(readFileSync(path, "utf8")), 5000).catch(() => undefined); // the assertion below says what is there
    const file = readFileSync(path, "utf8");
    assert.match(file, written);
    assert.match(file, /^\S+ \[c1\] azr: process \d+ killed by SIGKILL$/m, "the agent logs the crash in the actor's log");
  });

  test("maxRestarts exhausted - the actor is dead and calls fail fast", async () => {
    const c = await t.cluster.spawn(Counter, [], { name: "fragile", maxRestarts: 0 });
    const dead = await nextEvent(t.cluster, "fragile", "dead");
    process.kill(await c.pid(), "SIGKILL");
    await dead();
    assert.equal((await t.cluster.registry.get("fragile"))?.state, "dead");
    const t0 = performance.now();
    await assert.rejects(c.get(), ActorDiedError);
    assert.ok(performance.now() - t0 < 3000, "fails fast, not after a timeout");
  });

  test("kill - the actor is stopped for good", async () => {
    const c = await t.cluster.spawn(Counter, [], { name: "doomed" });
    const pid = await c.pid();
    await t.cluster.kill(c);
    assert.equal((await t.cluster.registry.get("doomed"))?.state, "dead");
    assert.throws(() => process.kill(pid, 0), { code: "ESRCH" });
    await assert.rejects(c.get(), ActorDiedError);
    // The name is free again once dead; freshState discards the old checkpoint.
    const c2 = await t.cluster.spawn(Counter, [7], { name: "doomed", freshState: true });
    assert.equal(await c2.get(), 7);
    await t.cluster.kill("doomed");
  });

  test("spawn failures - constructor error, undefined class, taken name", async () => {
    await assert.rejects(t.cluster.spawn(Broken, [], { name: "broken" }), (e: Error) => {
      assert.ok(e instanceof ActorStartError, `got ${e.name}`);
      assert.match(e.message, /broken on purpose/);
      return true;
    });
    assert.equal((await t.cluster.registry.get("broken"))?.state, "dead");
    await assert.rejects(t.cluster.spawn(Undefined, [], { name: "undef" }), ActorDefinitionError);
    await assert.rejects(t.cluster.spawn(Counter, [], { name: "c1" }), (e: Error) => {
      // Thrown in the node agent's process; its fields come over the wire with it.
      assert.ok(e instanceof ActorExistsError, `got ${e.name}`);
      assert.deepEqual([e.actor, e.state], ["c1", "alive"]);
      assert.match(e.node, /\S/);
      return true;
    });
  });
});

/** The next event of `type` from an open event iterator (earlier ones are passed over). */
async function next(it: AsyncIterator<ActorEvent>, type: ActorEvent["type"]): Promise<ActorEvent> {
  for (let r = await it.next(); !r.done; r = await it.next()) if (r.value.type === type) return r.value;
  throw new Error(`event stream ended before a '${type}' event`);
}

describe("restart back-off", () => {
  // Seconds, not the default's 100 ms, so the steps stand out from the restart's own noise on a loaded machine.
  const backoff = { firstMs: 1000, maxMs: 5000 };
  const t = useCluster("t-backoff", { agent: { restartBackoff: backoff } });

  test("the default schedule doubles from 100 ms and stops at 5 s", () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6].map((k) => restartBackoffMs(k)),
      [100, 200, 400, 800, 1600, 3200, 5000],
    );
  });

  test("repeated SIGKILLs - restart k waits out firstMs·2^k, so each waits longer than the one before", async (ctx) => {
    const c = await t.cluster.spawn(Counter, [], { name: "crashy", maxRestarts: 3 });
    const events = t.cluster.events({ actor: "crashy" })[Symbol.asyncIterator]();
    await t.cluster.nc.flush();
    const expected = [1000, 2000, 4000];
    const waits: number[] = [];
    for (let k = 0; k < expected.length; k++) {
      process.kill(await c.pid(), "SIGKILL");
      const died = await next(events, "died");
      assert.ok(died.type === "died" && died.willRestart, `crash ${k + 1} of 3 is restarted`);
      const restarted = await next(events, "restarted");
      assert.equal(restarted.type === "restarted" && restarted.restarts, k + 1);
      // From the agent seeing the death to the new process existing: the back-off plus a
      // registry write and a fork, but not the new process's start-up (tsx, connecting).
      waits.push((await c.startedAt()) - died.at);
    }
    const report = `waits ${waits.map((w) => w.toFixed(0)).join(", ")} ms for a schedule of ${expected.join(", ")} ms`;
    for (let k = 0; k < expected.length; k++) {
      assert.ok(waits[k] >= expected[k] - 5, `restart ${k + 1} came before its back-off: ${report}`);
      assert.ok(waits[k] < expected[k] + 3000, `restart ${k + 1} waited far past its back-off: ${report}`);
    }
    assert.ok(waits[0] < waits[1] && waits[1] < waits[2], `each restart waits longer than the one before: ${report}`);
    assert.equal((await t.cluster.registry.get("crashy"))?.restarts, 3);
    ctx.diagnostic(report);
  });
});
