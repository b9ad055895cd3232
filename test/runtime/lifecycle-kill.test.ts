/**
 * Kill and restart against an actor between processes: a kill that lands while the agent is
 * still starting the actor's next incarnation (after a crash, or at spawn) must leave it dead,
 * with no process left running and no "alive" entry written over the "dead" one. An actor that
 * cannot act on SIGTERM (its event loop busy) is still stopped, by SIGKILL, and its log says so.
 */
import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { ActorEvent } from "../../runtime/index.ts";
import { join } from "node:path";
import { Busy, SlowRestore } from "./fixtures/lifecycle-actors.ts";
import { useCluster } from "./helpers.ts";
import { until } from "../helpers/wait.ts";

/** Pids of this process's children that serve actor `name` (found by their AZR_ACTOR_NAME), started or not. */
export function actorProcesses(name: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const env = readFileSync(`/proc/${d}/environ`, "latin1").split("\0");
      if (env.includes(`AZR_ACTOR_NAME=${name}`)) pids.push(Number(d));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return pids;
}

async function next(it: AsyncIterator<ActorEvent>, type: ActorEvent["type"]): Promise<ActorEvent> {
  for (let r = await it.next(); !r.done; r = await it.next()) if (r.value.type === type) return r.value;
  throw new Error(`event stream ended before a '${type}' event`);
}

describe("kill while an incarnation is starting", () => {
  const t = useCluster("t-lc-kill", { agent: { restartBackoff: { firstMs: 50, maxMs: 50 } } });

  test("a kill during the restart after a crash leaves the actor dead and no process running", async () => {
    const c = await t.cluster.spawn(SlowRestore, [], { name: "slow-restart", maxRestarts: 3, freshState: true });
    assert.equal(await c.add(5), 5); // saved, so the next incarnation restores (slowly)
    const events = t.cluster.events({ actor: "slow-restart" })[Symbol.asyncIterator]();
    await t.cluster.nc.flush();
    process.kill(await c.pid(), "SIGKILL");
    await next(events, "died");
    await sleep(1500); // back-off over; the new process is in its 3 s loadState
    assert.equal(actorProcesses("slow-restart").length, 1, "the next incarnation is starting");
    await t.cluster.kill("slow-restart");
    await sleep(4000); // past the moment its start-up would have finished
    const e = await t.cluster.registry.get("slow-restart");
    assert.equal(e?.state, "dead", `registry says ${JSON.stringify(e)}`);
    assert.deepEqual(actorProcesses("slow-restart"), [], "the incarnation being started was stopped, not left running");
    assert.equal(t.cluster.agent!.pids()["slow-restart"], undefined);
  });

  test("a kill during spawn's start-up fails the spawn, leaves the actor dead and no process running", async () => {
    const c = await t.cluster.spawn(SlowRestore, [], { name: "slow-spawn", freshState: true });
    await c.add(2);
    await t.cluster.kill("slow-spawn");
    const spawning = t.cluster.spawn(SlowRestore, [], { name: "slow-spawn" }); // restores the saved 2, slowly
    const failed = assert.rejects(spawning, /killed while it was starting/);
    await sleep(1500);
    assert.equal((await t.cluster.registry.get("slow-spawn"))?.state, "starting");
    await t.cluster.kill("slow-spawn");
    await failed;
    await sleep(500);
    assert.equal((await t.cluster.registry.get("slow-spawn"))?.state, "dead");
    assert.deepEqual(actorProcesses("slow-spawn"), []);
  });
});

describe("an actor that does not act on SIGTERM", () => {
  const graceMs = 2000; // the agent's SIGTERM→SIGKILL grace (default 5 s), shortened: each stop here waits it out
  const t = useCluster("t-lc-term", { agent: { stopGraceMs: graceMs } });

  test("kill and restart finish within the grace period plus a little, and the log names the SIGKILL", async () => {
    const b = await t.cluster.spawn(Busy, [], { name: "stubborn", freshState: true });
    b.spinForever().catch(() => undefined);
    await sleep(300);
    let t0 = Date.now();
    await t.cluster.restart("stubborn");
    assert.ok(Date.now() - t0 < graceMs + 5000, `restart took ${Date.now() - t0} ms`);
    b.spinForever().catch(() => undefined);
    await sleep(300);
    const pid = (await t.cluster.registry.get("stubborn"))!.pid;
    t0 = Date.now();
    await t.cluster.kill("stubborn");
    assert.ok(Date.now() - t0 < graceMs + 3000, `kill took ${Date.now() - t0} ms`);
    assert.equal((await t.cluster.registry.get("stubborn"))?.state, "dead");
    assert.deepEqual(actorProcesses("stubborn"), []);
    // The agent appends to the log through a write stream: give the last line a moment to land.
    const escalation = new RegExp(`azr: process \\d+ did not exit within ${graceMs} ms of SIGTERM \\(busy or ignoring it\\): killed with SIGKILL`, "g");
    const readLog = () => readFileSync(join(t.runDir, "logs", "stubborn.log"), "utf8");
    await until("both SIGKILL lines in stubborn.log", () => (readLog().match(escalation) ?? []).length >= 2, 5000).catch(() => undefined); // the assertion below says what is there
    const log = readLog();
    const escalations = log.match(escalation) ?? [];
    assert.equal(escalations.length, 2, `one for the restart, one for the kill:\n${log}`);
    assert.match(log, new RegExp(`process ${pid} did not exit`));
  });
});
