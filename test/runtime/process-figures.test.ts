/**
 * An actor's process figures (what `azr top` and the web view show) cover its whole process
 * tree: an actor whose work runs in a child's child (as the executor's Python workers do) shows
 * that CPU and memory. CPU windows are per requester: a second viewer does not shorten the first's.
 */
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { readProcessFigures } from "../../runtime/monitor-process.ts";
import { Spawner } from "./fixtures/actors.ts";
import { useCluster } from "./helpers.ts";

describe("process figures", { skip: process.platform !== "linux" && "reads /proc" }, () => {
  const t = useCluster("t-procfig", { agent: true });

  test("cover the actor's process tree, with CPU measured per requester", async () => {
    const h = await t.cluster.spawn(Spawner, [], { name: "spawner" });
    const ask = (viewer: string) => readProcessFigures(t.cluster.nc, t.cluster.name, "spawner", 5000, viewer);
    const MB = 150;
    await h.burn(MB);
    try {
      const a0 = await ask("viewer-a");
      assert.ok(a0?.tree, `tree figures: ${JSON.stringify(a0)}`);
      assert.equal(a0.tree.cpuPercent, null, "no window yet");
      await sleep(1000);
      const b0 = await ask("viewer-b"); // another viewer in between: must not reset a's window
      await sleep(200);
      const a1 = (await ask("viewer-a"))!;
      assert.equal(b0?.cpuWindowSec, null, "b's first request has no window of its own");
      assert.ok(a1.cpuWindowSec! >= 1.1, `a's window covers its own previous request: ${a1.cpuWindowSec} s`);
      assert.ok(a1.tree, "tree figures");
      assert.ok(a1.tree.processes >= 3, `actor, child and grandchild: ${a1.tree.processes}`);
      assert.ok(a1.tree.rss >= a1.rss + MB * 2 ** 20, `tree rss ${a1.tree.rss} includes the grandchild's ${MB} MiB (own ${a1.rss})`);
      // The grandchild spins on a 2-core machine shared with other work: well above the idle actor.
      assert.ok(a1.tree.cpuPercent! > 30, `tree cpu ${a1.tree.cpuPercent}%`);
      assert.ok(a1.cpuPercent! < 30, `the actor's own Node process is idle: ${a1.cpuPercent}%`);
      // The actor's stats (per-step metrics) carry its workers' peak memory beside its own.
      const stats = await t.cluster.stats("spawner");
      assert.ok(stats.childrenMaxRssBytes >= MB * 2 ** 20, `children's peak ${stats.childrenMaxRssBytes} includes the grandchild's ${MB} MiB`);
      assert.ok(stats.maxRssBytes < MB * 2 ** 20, `the actor's own peak ${stats.maxRssBytes} does not`);
    } finally {
      await h.stopBurning();
    }
  });
});
