/**
 * Large payloads of calls cut short are collected by the run's node agent (runtime/payload-sweep.ts),
 * not left for the bucket's 24 h age limit: a large request queued behind a blocked call, whose
 * actor is then killed, is never fetched; the agent's sweep removes it once it is older than the
 * safe age. A sweep leaves younger payloads alone and does not create the bucket.
 */
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { connect } from "@nats-io/transport-node";
import { ActorDiedError } from "../../runtime/errors.ts";
import { DEFAULT_PAYLOAD_BUCKET, PayloadStore } from "../../runtime/large-payload.ts";
import { startOrphanSweep, sweepOrphanPayloads } from "../../runtime/payload-sweep.ts";
import { startNatsServer } from "../../runtime/nats-server.ts";
import { Counter } from "./fixtures/actors.ts";
import { useCluster } from "./helpers.ts";

/** Longer than stopping the actor takes (its blocked call gets a grace period), so the check in between sees the orphan. */
const SAFE_AGE_MS = 10_000;

async function payloadNames(nc: Parameters<typeof jetstreamManager>[0]): Promise<string[]> {
  const os = await new Objm(nc).open(DEFAULT_PAYLOAD_BUCKET);
  return (await os.list()).map((o) => o.name);
}

describe("orphaned large payloads", () => {
  const t = useCluster("t-sweep", { agent: { id: "n1", payloadOrphans: { olderThanMs: SAFE_AGE_MS, everyMs: 250 } } });

  test("the node agent collects the large request of a call whose actor was killed before reading it", { timeout: 60_000 }, async () => {
    const c = await t.cluster.spawn(Counter, [], { name: "victim" });
    const blocked = c.block().catch((e: Error) => e); // holds the actor's queue
    // Over max_payload: uploaded to the bucket; its body is fetched only at the head of the queue.
    const big = new Float32Array((t.cluster.nc.info!.max_payload * 2) / 4).fill(1);
    const queued = c.sum(big).catch((e: Error) => e);
    const nc = t.cluster.nc;
    let names: string[] = [];
    for (let i = 0; i < 100 && names.length === 0; i++) {
      await sleep(50);
      names = await payloadNames(nc);
    }
    assert.equal(names.length, 1, "the queued call's argument is in the bucket");
    await t.cluster.kill("victim");
    assert.ok((await queued) instanceof ActorDiedError, "the queued call failed with the actor");
    await blocked;
    assert.deepEqual(await payloadNames(nc), names, "nobody fetched it: an orphan");

    const deadline = Date.now() + SAFE_AGE_MS + 15_000;
    while ((await payloadNames(nc)).length > 0 && Date.now() < deadline) await sleep(200);
    assert.deepEqual(await payloadNames(nc), [], `the node agent's sweep removed ${names[0]} once it was over ${SAFE_AGE_MS} ms old`);
  });
});

describe("orphan sweep", () => {
  test("leaves payloads younger than the safe age, removes older ones, and creates no bucket where none was", { timeout: 60_000 }, async () => {
    const server = await startNatsServer();
    const nc = await connect({ servers: server.url });
    try {
      assert.equal(await sweepOrphanPayloads(nc), undefined, "no bucket: nothing to sweep");
      const jsm = await jetstreamManager(nc);
      await assert.rejects(jsm.streams.info(`OBJ_${DEFAULT_PAYLOAD_BUCKET}`), /stream not found/, "the sweep did not create the bucket");

      const store = await PayloadStore.open(nc);
      const old = await store.pack(new Uint8Array(nc.info!.max_payload + 1));
      await sleep(1200);
      const young = await store.pack(new Uint8Array(nc.info!.max_payload + 1));
      const collected: string[][] = [];
      const sweep = startOrphanSweep(nc, { olderThanMs: 1000, everyMs: 60_000, onCollected: (r) => collected.push(r.objects) });
      for (let i = 0; i < 50 && collected.length === 0; i++) await sleep(100);
      await sweep.stop();
      assert.equal(collected.length, 1, "one sweep at start");
      assert.equal(collected[0].length, 1, "only the older payload");
      await assert.rejects(store.unpack(old.body, true), /is missing/, "the older payload is gone");
      assert.equal((await store.unpack(young.body, true)).length, nc.info!.max_payload + 1, "the younger one is still readable");
    } finally {
      await nc.close();
      await server.stop();
    }
  });
});
