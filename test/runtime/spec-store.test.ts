/**
 * The cluster-wide spawn specs (runtime/spec-store.ts) on a real nats-server: a small spec is one
 * KV value, a large one (arguments over max_payload) is read back whole from the object store,
 * typed arrays intact; a spawn under the same name replaces it and drops the earlier arguments;
 * delete takes only the revision it is given (a newer spawn's spec stays).
 */
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Objm } from "@nats-io/obj";
import { SpecStore } from "../../runtime/spec-store.ts";
import type { SpawnSpec } from "../../runtime/node-agent.ts";
import { useNatsServer } from "../helpers/nats.ts";

let nc: NatsConnection;

const spec = (name: string, args: unknown[], owner?: string): SpawnSpec => ({
  name,
  moduleUrl: "file:///x.ts",
  exportName: "X",
  args,
  resources: { cpu: 1 },
  maxRestarts: 2,
  concurrent: [],
  checkpoint: "after-each-call",
  freshState: false,
  owner,
});

/** Objects in the bucket for large arguments (none until one was needed). */
async function argObjects(): Promise<number> {
  const os = await new Objm(nc).open("azr-t-specs-spec-args").catch(() => undefined);
  return os ? (await os.list()).length : 0;
}

describe("spec store", () => {
  const server = useNatsServer();

  test("small and large specs round-trip; a respawn replaces; delete takes only its revision", async () => {
    nc = await connect({ servers: server.url });
    try {
      const specs = await SpecStore.open(nc, "t-specs");
      const small = spec("small", [1, "two", new Float64Array([3])], "run-1");
      const rev = await specs.put(small);
      assert.deepEqual(await specs.info("small"), { owner: "run-1", revision: rev });
      assert.deepEqual((await specs.get("small"))?.spec, small);
      assert.equal(await argObjects(), 0, "a small spec needs no object");

      const big = new Float32Array(2 ** 20).map((_, i) => i % 7); // 4 MB, over the default 1 MB max_payload
      const first = await specs.put(spec("big", [big]));
      assert.equal(await argObjects(), 1);
      const got = await specs.get("big");
      assert.ok(got?.spec.args[0] instanceof Float32Array);
      assert.deepEqual(got.spec.args[0], big);
      assert.equal((await specs.info("big"))?.owner, undefined);

      // Spawned again under the name: the earlier arguments go, and deleting the earlier revision
      // (its actor ending late) leaves the newer spec alone.
      const second = await specs.put(spec("big", [big.subarray(0, 2 ** 19)]));
      assert.equal(await argObjects(), 1, "the earlier spawn's arguments are dropped");
      assert.equal(await specs.delete("big", first), false);
      assert.equal((await specs.get("big"))?.spec.args[0] instanceof Float32Array, true);
      assert.equal(await specs.delete("big", second), true);
      assert.equal(await specs.get("big"), undefined);
      assert.equal(await argObjects(), 0, "its arguments are deleted with it");
      assert.equal(await specs.delete("small", rev), true);
      assert.equal(await specs.info("small"), undefined);
    } finally {
      await nc.close();
    }
  });
});
