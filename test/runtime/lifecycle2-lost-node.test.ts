/**
 * A node agent SIGKILLed (no chance to stop its actors) leaves registry entries that say
 * "alive": `azr actors` / `azr nodes` must show them as lost once the node has gone silent,
 * a restart of that node id must release them, and a surviving agent must mark them dead
 * and remove the node's entry after NODE_LOST_MS (shortened here).
 */
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { NODE_STALE_MS } from "../../runtime/placement.ts";
import { Counter } from "./fixtures/actors.ts";
import { startAgentProcess, stopAgentProcess, useCluster } from "./helpers.ts";
import { azrAsync } from "../helpers/cli.ts";


/** `azr …` as a child process: exit code, stdout, stderr. */
const azr = (...args: string[]) => azrAsync(args);

describe("lifecycle2: a SIGKILLed node agent's entries", () => {
  const t = useCluster("t-lc2-lost");

  test("show as lost in azr actors / azr nodes, and are released when an agent starts again under that id", async () => {
    const env = { NATS_URL: t.server.url };
    let agent = await startAgentProcess({ cluster: "t-lc2-lost", id: "doomed", runDir: t.runDir, env });
    try {
      await t.cluster.spawn(Counter, [], { name: "ghost", node: "doomed" });
      agent.kill("SIGKILL");
      await sleep(NODE_STALE_MS + 500);
      const opts = ["--cluster", "t-lc2-lost", "--nats", t.server.url];
      const [actors, table, nodes, restart] = await Promise.all([azr("actors", "--json", ...opts), azr("actors", ...opts), azr("nodes", ...opts), azr("restart", "ghost", ...opts)]);
      const ghost = (JSON.parse(actors.stdout) as { name: string; state: string; registryState?: string; lostBecause?: string }[]).find((e) => e.name === "ghost");
      assert.equal(ghost?.state, "lost", actors.stdout);
      assert.equal(ghost?.registryState, "alive");
      assert.match(ghost?.lostBecause ?? "", /^node doomed \(agent pid \d+ on .+\) has sent no heartbeat for \d+ s$/);
      assert.match(table.stdout, /^ghost\s+lost\s+doomed\s/m);
      assert.match(nodes.stdout, /^doomed\s.*\d+s LOST$/m);
      assert.match(nodes.stdout, /^doomed: LOST — no heartbeat for/m);
      assert.equal(restart.code, 2, "a refusal (the actor is not running), as the other commands' refusals");
      assert.match(restart.stderr, /^azr restart: actor 'ghost' died or is not running: its node doomed is gone \(no agent answers for it\)/);
      assert.equal(restart.stderr.trim().split("\n").length, 1, restart.stderr);

      // Watchers (callers with calls in flight, `azr logs -f`) learn of the release as of any death.
      const watching = new AbortController();
      const events = t.cluster.events({ actor: "ghost", signal: watching.signal });
      const dead = (async () => {
        for await (const ev of events) if (ev.type === "dead") return ev;
      })();
      await t.cluster.nc.flush();
      agent = await startAgentProcess({ cluster: "t-lc2-lost", id: "doomed", runDir: t.runDir, env });
      const e = await t.cluster.registry.get("ghost");
      assert.equal(e?.state, "dead", JSON.stringify(e));
      assert.match(e?.reason ?? "", /^lost: its earlier agent \(pid \d+ on .+\) stopped without stopping it; node doomed was taken over by pid \d+$/);
      const ev = await Promise.race([dead, sleep(5000).then(() => undefined)]);
      watching.abort();
      assert.equal(ev?.reason, e?.reason, "a 'dead' event with the registry's reason");
      const again = await t.cluster.spawn(Counter, [7], { name: "ghost", node: "doomed" }); // the name is free again
      assert.equal(await again.get(), 7);
    } finally {
      await stopAgentProcess(agent);
    }
  });
});

describe("lifecycle2: a surviving agent", () => {
  const t = useCluster("t-lc2-sweep", { agent: { lostNodeMs: 2000 } });

  test("marks a silent node's actors dead (lost) and removes the node's entry", async () => {
    const agent = await startAgentProcess({ cluster: "t-lc2-sweep", id: "doomed2", runDir: t.runDir, env: { NATS_URL: t.server.url } });
    try {
      await t.cluster.spawn(Counter, [], { name: "ghost2", node: "doomed2" });
      agent.kill("SIGKILL");
      let e = await t.cluster.registry.get("ghost2");
      for (const end = Date.now() + 10_000; e?.state !== "dead" && Date.now() < end; await sleep(200)) e = await t.cluster.registry.get("ghost2");
      assert.equal(e?.state, "dead", JSON.stringify(e));
      assert.match(e?.reason ?? "", /^lost: its node doomed2 \(agent pid \d+ on .+\) sent no heartbeat for \d+ s; marked dead by node /);
      assert.deepEqual((await t.cluster.nodes()).map((n) => n.id), [t.cluster.agent!.id]);
    } finally {
      agent.kill("SIGKILL");
    }
  });
});
