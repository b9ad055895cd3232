/**
 * A hung actor (its event loop blocked, so no heartbeats) is killed by its node agent and
 * restarted; the caller of the hung call gets ActorDiedError instead of waiting forever.
 */
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { ActorDiedError } from "../../runtime/index.ts";
import { Spinner } from "./fixtures/actors.ts";
import { useCluster } from "./helpers.ts";

describe("hung actors", () => {
  const t = useCluster("t-hang", { agent: { hangMs: 4000, heartbeatMs: 500 } });

  test("no heartbeat for hangMs - the process is killed and restarted, the hung call fails", async () => {
    const s = await t.cluster.spawn(Spinner, [], { name: "spinner", maxRestarts: 1 });
    const pid = (await t.cluster.registry.get("spinner"))!.pid;
    const events = t.cluster.events({ actor: "spinner" });
    await t.cluster.nc.flush();
    await assert.rejects(s.spin(120_000), ActorDiedError);
    const seen: string[] = [];
    for await (const e of events) {
      seen.push(e.type);
      if (e.type === "died") assert.match(e.reason, /SIGKILL/);
      if (e.type === "restarted") break;
    }
    assert.deepEqual(seen, ["died", "restarted"]);
    assert.equal(await s.ping(), "pong");
    assert.notEqual((await t.cluster.registry.get("spinner"))!.pid, pid);
  });
});
