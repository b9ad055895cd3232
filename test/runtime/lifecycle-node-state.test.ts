/**
 * Node identity and saved state across restarts: a second agent under a live agent's id is
 * refused (both would answer `_node-<id>`); a saved state that cannot be decoded stops the
 * actor with an error that names it and the fix, instead of a crash loop through maxRestarts.
 */
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { Objm } from "@nats-io/obj";
import { NodeAgent } from "../../runtime/node-agent.ts";
import type { ActorEvent } from "../../runtime/index.ts";
import { Counter } from "./fixtures/actors.ts";
import { useCluster } from "./helpers.ts";

async function next(it: AsyncIterator<ActorEvent>, type: ActorEvent["type"]): Promise<ActorEvent> {
  for (let r = await it.next(); !r.done; r = await it.next()) if (r.value.type === type) return r.value;
  throw new Error(`event stream ended before a '${type}' event`);
}

describe("node ids", () => {
  const t = useCluster("t-lc-node", { agent: { id: "node-a" } });

  test("a second agent with a live agent's id is refused, naming the id and the other agent", async () => {
    await assert.rejects(
      NodeAgent.start({ nc: t.cluster.nc, connection: t.cluster.spec, cluster: "t-lc-node", id: "node-a", runDir: t.runDir, shell: false, payloadOrphans: false }),
      (e: Error) => {
        assert.equal(e.name, "NodeIdTakenError");
        assert.match(e.message, new RegExp(`node id 'node-a' is taken: the agent with pid ${process.pid}`));
        assert.match(e.message, /--id/);
        return true;
      },
    );
    const nodes = await t.cluster.nodes();
    assert.deepEqual(nodes.map((n) => [n.id, n.pid]), [["node-a", process.pid]]);
    // The first agent still serves spawns.
    const c = await t.cluster.spawn(Counter, [4], { name: "still-here", freshState: true });
    assert.equal(await c.get(), 4);
    await t.cluster.kill("still-here");
  });
});

describe("corrupt saved state", () => {
  const t = useCluster("t-lc-state", { agent: { restartBackoff: { firstMs: 50, maxMs: 50 } } });

  test("a restart that finds undecodable state stops at once with a clear reason, and freshState recovers", async () => {
    const c = await t.cluster.spawn(Counter, [], { name: "corrupt", maxRestarts: 5, freshState: true });
    await c.add(3);
    const pid = await c.pid(); // before the bytes go in: each call checkpoints, and would overwrite them
    const os = await new Objm(t.cluster.nc).open("azr-t-lc-state-state");
    await os.putBlob({ name: "corrupt" }, new Uint8Array([0x92, 0x01])); // an array of two holding one
    const events = t.cluster.events({ actor: "corrupt" })[Symbol.asyncIterator]();
    await t.cluster.nc.flush();
    process.kill(pid, "SIGKILL");
    const dead = await next(events, "dead");
    assert.ok(dead.type === "dead");
    assert.equal(dead.restarts, 1, "one try, not maxRestarts of them: every try reads the same bytes");
    const e = await t.cluster.registry.get("corrupt");
    assert.equal(e?.state, "dead");
    assert.match(e?.reason ?? "", /StateCorruptError: the saved state of actor 'corrupt' \(object 'corrupt' in bucket azr-t-lc-state-state\) cannot be decoded: .*freshState: true/);
    const again = await t.cluster.spawn(Counter, [9], { name: "corrupt", freshState: true });
    assert.equal(await again.get(), 9);
    await t.cluster.kill("corrupt");
  });
});
