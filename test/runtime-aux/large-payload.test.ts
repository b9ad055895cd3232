/** runtime/large-payload.ts on a real nats-server -js: inline vs object store, checks, cleanup. */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { createInbox, type NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { useNatsServer } from "../helpers/nats.ts";
import { decode, encode } from "../../runtime/codec.ts";
import { LargePayloadError, PayloadStore, type PayloadReference } from "../../runtime/large-payload.ts";

const nats = useNatsServer();
let nc: NatsConnection;
// Connected in the first test rather than in a root before(): node 20 runs root hooks
// without waiting for the helper's server start.
async function connection(): Promise<NatsConnection> {
  return (nc ??= await connect({ servers: nats.url }));
}
after(async () => {
  await nc?.close();
});

/** A fresh bucket per test, so tests cannot see each other's objects. */
const freshBucket = () => `t-${createInbox().slice(7, 19).replace(/[^A-Za-z0-9]/g, "x")}`;

async function chunkSubjects(bucket: string): Promise<string[]> {
  const nc = await connection();
  const jsm = await jetstreamManager(nc);
  const si = await jsm.streams.info(`OBJ_${bucket}`, { subjects_filter: `$O.${bucket}.C.>` });
  return Object.keys(si.state.subjects ?? {});
}

test("large payload - a 50 MB Float32Array round-trips through the object store, which is empty afterwards", async () => {
  const bucket = freshBucket();
  const nc = await connection();
  const store = await PayloadStore.open(nc, { bucket });
  assert.equal(store.thresholdBytes, nc.info!.max_payload - 4096);
  const weights = new Float32Array((50 * 1024 * 1024) / 4).map((_, i) => i * 0.5);
  const bytes = encode({ weights });
  const packed = await store.pack(bytes);
  assert.equal(packed.large, true);
  assert.ok(packed.body.length < 300, `reference is small (${packed.body.length} bytes)`);
  const ref = decode<PayloadReference>(packed.body);
  assert.equal(ref.size, bytes.length);
  assert.match(ref.digest, /^[0-9a-f]{64}$/);

  const out = decode<{ weights: Float32Array }>(await store.unpack(packed.body, true));
  assert.ok(out.weights instanceof Float32Array);
  assert.equal(Buffer.compare(Buffer.from(out.weights.buffer, out.weights.byteOffset, out.weights.byteLength), Buffer.from(weights.buffer)), 0);

  const os = await new Objm(nc).open(bucket);
  assert.equal(await os.info(ref.name), null, "object deleted once consumed");
  assert.deepEqual(await chunkSubjects(bucket), [], "no chunks left");
  const jsm = await jetstreamManager(nc);
  assert.equal((await jsm.streams.info(`OBJ_${bucket}`)).state.messages, 0, "no metadata tombstone either");
});

test("large payload - a body within the threshold stays inline, untouched", async () => {
  const store = await PayloadStore.open(await connection(), { bucket: freshBucket() });
  const bytes = encode({ small: new Float32Array(1000) });
  const packed = await store.pack(bytes);
  assert.equal(packed.large, false);
  assert.equal(packed.body, bytes);
  assert.equal(await store.unpack(packed.body, false), bytes);
});

test("large payload - a replaced object fails the digest check, naming the object; a consumed one is missing", async () => {
  const bucket = freshBucket();
  const nc = await connection();
  const store = await PayloadStore.open(nc, { bucket, thresholdBytes: 1000 });
  const original = new Uint8Array(5000).fill(7);
  const packed = await store.pack(original);
  const ref = decode<PayloadReference>(packed.body);
  const os = await new Objm(nc).open(bucket);

  await os.putBlob({ name: ref.name }, new Uint8Array(5000).fill(8)); // same size, other bytes
  await assert.rejects(store.unpack(packed.body, true), (e: unknown) => {
    assert.ok(e instanceof LargePayloadError);
    assert.match(e.message, new RegExp(`${bucket}/${ref.name} fails its digest check`));
    return true;
  });
  await os.putBlob({ name: ref.name }, new Uint8Array(4000));
  await assert.rejects(store.unpack(packed.body, true), /has 4000 bytes, the reference says 5000/);

  await os.putBlob({ name: ref.name }, original);
  assert.deepEqual(Buffer.from(await store.unpack(packed.body, true)), Buffer.from(original));
  await assert.rejects(store.unpack(packed.body, true), (e: unknown) => {
    assert.ok(e instanceof LargePayloadError);
    assert.match(e.message, new RegExp(`${ref.name} .*is missing: already consumed`));
    return true;
  });
  await assert.rejects(store.unpack(encode({ not: "a reference" }), true), /not a version-1 payload reference/);
});

test("large payload - objects are ordinary object-store objects: @nats-io/obj reads ours, we read its", async () => {
  const bucket = freshBucket();
  const nc = await connection();
  const store = await PayloadStore.open(nc, { bucket, thresholdBytes: 1000 });
  const os = await new Objm(nc).open(bucket);
  const bytes = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => i * 31);
  const packed = await store.pack(bytes);
  const ref = decode<PayloadReference>(packed.body);
  const info = await os.info(ref.name);
  assert.equal(info?.size, bytes.length);
  assert.equal(info?.chunks, Math.ceil(bytes.length / (nc.info!.max_payload - 4096)));
  assert.equal(Buffer.compare(Buffer.from((await os.getBlob(ref.name))!), Buffer.from(bytes)), 0, "the library's digest check passes");
  assert.equal(Buffer.compare(Buffer.from(await store.unpack(packed.body, true)), Buffer.from(bytes)), 0);
});

test("large payload - an object whose chunks are gone fails at once, naming it", async () => {
  const bucket = freshBucket();
  const nc = await connection();
  const store = await PayloadStore.open(nc, { bucket, thresholdBytes: 1000 });
  const packed = await store.pack(new Uint8Array(5000));
  const ref = decode<PayloadReference>(packed.body);
  const info = (await (await new Objm(nc).open(bucket)).info(ref.name))!;
  const jsm = await jetstreamManager(nc);
  await jsm.streams.purge(`OBJ_${bucket}`, { filter: `$O.${bucket}.C.${info.nuid}` });
  await assert.rejects(store.unpack(packed.body, true), new RegExp(`${ref.name}: 0 of its 1 chunks are in the stream`));
});

test("large payload - orphans: unconsumed objects and chunks of a sender killed mid-upload are collected", async () => {
  const bucket = freshBucket();
  const nc = await connection();
  const store = await PayloadStore.open(nc, { bucket, thresholdBytes: 1000 });
  const unconsumed = decode<PayloadReference>((await store.pack(new Uint8Array(3000))).body);

  const before = new Set(await chunkSubjects(bucket));
  // A real sender process, SIGKILLed as soon as its first chunk reaches the server.
  const firstChunk = nc.subscribe(`$O.${bucket}.C.>`, { max: 1 });
  const child = spawn(
    process.execPath,
    ["--import", "tsx", fileURLToPath(new URL("./fixtures/upload-then-hang.ts", import.meta.url)), nats.url, bucket, "40"],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  const exited = once(child, "exit");
  const chunkSeen = (async () => {
    for await (const _ of firstChunk) return;
  })();
  await Promise.race([
    chunkSeen,
    exited.then(([code]) => assert.fail(`upload child exited (${code}) before its first chunk reached the server`)),
  ]);
  child.kill("SIGKILL");
  await exited;
  const orphanChunks = (await chunkSubjects(bucket)).filter((s) => !before.has(s));
  assert.ok(orphanChunks.length >= 1, "the killed upload left chunks");
  const live = await store.pack(new Uint8Array(2000)); // one more that must survive a young-only sweep

  assert.deepEqual(await store.collectOrphans(60_000), { objects: [], chunkSets: 0 }, "nothing is a minute old yet");
  const report = await store.collectOrphans(0);
  assert.ok(report.objects.includes(unconsumed.name));
  assert.equal(report.chunkSets, orphanChunks.length);
  assert.deepEqual(await chunkSubjects(bucket), []);
  await assert.rejects(store.unpack(live.body, true), /is missing/);
});
