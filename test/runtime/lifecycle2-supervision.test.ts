/**
 * Supervision edges left by the first lifecycle audit: an actor that exits right after reporting
 * ready (the agent's "alive" must not be written over its end), restart of an actor that is dead
 * or in its crash back-off, and the reasons the registry records for a kill and a crash loop.
 */
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ActorDiedError, ActorStartError } from "../../runtime/index.ts";
import { Counter } from "./fixtures/actors.ts";
import { ExitAfterReady, Parent } from "./fixtures/lifecycle2-actors.ts";
import { useCluster } from "./helpers.ts";
import { until } from "../helpers/wait.ts";

describe("lifecycle2: supervision", () => {
  const t = useCluster("t-lc2-sup", { agent: { restartBackoff: { firstMs: 4000, maxMs: 4000 } } });

  test("an actor that exits right after reporting ready: the entry ends dead, never alive over its end; spawn says so when it sees the exit", async () => {
    for (const name of ["quitter-1", "quitter-2", "quitter-3"]) {
      // Whether spawn sees the exit before its "alive" write is settled depends on the machine's
      // load (the write waits on the paused server; the exit arrives meanwhile, or just after on a
      // busy machine). If it does, spawn fails naming the exit; either way the entry must end dead.
      const outcome = await t.cluster.spawn(ExitAfterReady, [t.server.pid], { name, maxRestarts: 0 }).then(() => undefined, (e: Error) => e);
      if (outcome) {
        assert.ok(outcome instanceof ActorStartError, `${name}: ${outcome.name}: ${outcome.message}`);
        assert.match(outcome.message, new RegExp(`actor '${name}' \\(process \\d+\\) exited right after it started: killed by SIGKILL; last error: ExitAfterReadyError: leaving right after reporting ready`));
      }
      await until(`${name} dead`, async () => (await t.cluster.registry.get(name))?.state === "dead", 5000);
      await sleep(300); // any late "alive" write would have landed by now
      const e = await t.cluster.registry.get(name);
      assert.equal(e?.state, "dead", `${name}: ${JSON.stringify(e)}`);
      assert.equal(t.cluster.agent!.pids()[name], undefined, `${name}: the agent no longer supervises it`);
    }
  });

  test("restart of a dead actor says it is dead and to spawn it again; of one in crash back-off, starts it now", async () => {
    const c = await t.cluster.spawn(Counter, [], { name: "r-dead", freshState: true });
    await t.cluster.kill(c);
    await assert.rejects(t.cluster.restart("r-dead"), (e: Error) => {
      assert.ok(e instanceof ActorDiedError, `${e.name}: ${e.message}`);
      assert.match(e.message, /actor 'r-dead' .*it is dead \(killed on request \(process exited with code 0\)\); restart replaces a running actor's process: spawn it again/);
      return true;
    });
    const b = await t.cluster.spawn(Counter, [], { name: "r-backoff", maxRestarts: 2, freshState: true });
    process.kill(await b.pid(), "SIGKILL");
    await until("the restarting state", async () => (await t.cluster.registry.get("r-backoff"))?.state === "restarting", 3000);
    const t0 = Date.now();
    const e = await t.cluster.restart("r-backoff"); // the back-off is 4 s
    assert.ok(Date.now() - t0 < 3500, `restart waited out the back-off (${Date.now() - t0} ms)`);
    assert.equal(e.state, "alive");
    assert.equal(e.incarnation, 2);
    assert.equal(await b.add(1), 1);
  });

  test("a kill records the caller's reason; a crash loop's dead state names the actor's last error line", async () => {
    await t.cluster.spawn(Counter, [], { name: "k-reason", freshState: true });
    await t.cluster.kill("k-reason", "maintenance window");
    assert.equal((await t.cluster.registry.get("k-reason"))?.reason, "maintenance window (process exited with code 0)");

    const p = await t.cluster.spawn(Parent, [], { name: "crasher", maxRestarts: 1 });
    await p.crashSoon("weights file truncated at byte 4096");
    const first = await until("the restart", async () => {
      const e = await t.cluster.registry.get("crasher");
      return e?.state === "alive" && e.incarnation === 2 ? e : undefined;
    }, 10_000);
    assert.equal(first.reason, "exited with code 1; last error: RangeError: weights file truncated at byte 4096");
    await p.crashSoon("weights file truncated at byte 8192");
    const dead = await until("the dead state", async () => {
      const e = await t.cluster.registry.get("crasher");
      return e?.state === "dead" ? e : undefined;
    }, 10_000);
    assert.equal(dead.reason, "exited with code 1; last error: RangeError: weights file truncated at byte 8192 (after 1 restart(s), maxRestarts 1)");
  });
});
