/**
 * Actor checkpoints (runtime/state-store.ts) skip the write when the state encodes to the bytes the
 * process last wrote: a call that changed nothing costs no object-store put. Any change, a delete,
 * or a store opened by another process (a restarted actor) writes. Real nats-server with JetStream;
 * writes seen as the object's revision.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { StateStore } from "../../runtime/state-store.ts";
import { useNatsServer } from "../helpers/nats.ts";

const nats = useNatsServer();

test("state store - an unchanged state is not written again; a change, a delete or another store's save is", async () => {
  const nc = await connect({ servers: nats.url });
  try {
    const store = await StateStore.open(nc, "t-state");
    const revision = async () => {
      const info = await store.os.info("buffer");
      return info && !info.deleted ? info.revision : undefined;
    };
    await store.save("buffer", { sizes: [1, 2], admitted: 3 });
    const first = await revision();
    assert.ok(first !== undefined);
    await store.save("buffer", { sizes: [1, 2], admitted: 3 }); // a read-only call's checkpoint
    assert.equal(await revision(), first, "the same bytes are not put again");
    await store.save("buffer", { sizes: [1, 2], admitted: 4 });
    const second = await revision();
    assert.ok(second !== undefined && second > first, "a changed state is written");
    assert.deepEqual(await store.load("buffer"), { sizes: [1, 2], admitted: 4 });

    await store.delete("buffer");
    assert.equal(await revision(), undefined);
    await store.save("buffer", { sizes: [1, 2], admitted: 4 }); // the same bytes, but the object is gone
    assert.deepEqual(await store.load("buffer"), { sizes: [1, 2], admitted: 4 }, "a save after a delete writes");

    const other = await StateStore.open(nc, "t-state"); // a restarted actor's process: knows nothing of the last write
    const before = await revision();
    await other.save("buffer", { sizes: [1, 2], admitted: 4 });
    assert.ok(before !== undefined && (await revision())! > before, "another store writes its first save");
  } finally {
    await nc.close();
  }
});
