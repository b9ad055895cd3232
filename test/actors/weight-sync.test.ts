/**
 * Weight sync learner → rollout engine by handle (actors/weight-sync): real ORT and torch
 * engines (torch on CPU, Debian's python3-torch), a real nats-server for the object store. The
 * rollout engine starts from one random model and the learner from another, so equal weights
 * after a sync can only come from the sync.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { Learner } from "../../actors/learner.ts";
import { RolloutEngine } from "../../actors/rollout-engine.ts";
import { syncWeights, WeightLoader, WeightPublisher, type WeightHandle, type WeightSource } from "../../actors/weight-sync/index.ts";
import { readWeightsFile, writeWeightsFile } from "../../actors/weight-sync/safetensors-file.ts";
import type { ModelEngine } from "../../model/engine.ts";
import { BASE } from "../../recipes/index.ts";
import { Objm } from "@nats-io/obj";
import { connect } from "@nats-io/transport-node";
import { useNatsServer } from "../helpers/nats.ts";
import { startNatsServer } from "../../runtime/nats-server.ts";
import { useBaseAndTrained } from "../selfplay/fixtures.ts";

const nats = useNatsServer();
const models = useBaseAndTrained();

let runs = 0;
const runId = () => `test-${process.pid}-${++runs}`;

function learner(engine: "ort" | "torch", id: string, servers?: string[]): Learner {
  return new Learner({ modelDir: models.trained, engine, trainer: BASE.trainer, steps: 2, threads: 1, weightSync: { runId: id, nats: servers && { servers } } });
}

function rollout(engine: "ort" | "torch", id: string, servers?: string[]): RolloutEngine {
  return new RolloutEngine({ modelDir: models.base, engine, maxPromptTokens: 64, threads: 1, maxBatch: 2, weightSync: { runId: id, nats: servers && { servers } } });
}

/** The rollout engine's live weights (its engine is private to the actor). */
async function engineWeights(r: RolloutEngine): Promise<Map<string, Float32Array>> {
  const { engine } = await (r as unknown as { ready: Promise<{ engine: ModelEngine }> }).ready;
  return engine.getWeights();
}

function assertSameWeights(got: Map<string, Float32Array>, want: Map<string, Float32Array>, what: string): void {
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `${what}: tensor names`);
  for (const [name, w] of want) {
    const g = got.get(name)!;
    assert.ok(Buffer.from(g.buffer, g.byteOffset, g.byteLength).equals(Buffer.from(w.buffer, w.byteOffset, w.byteLength)), `${what}: ${name} differs`);
  }
}

for (const [from, to] of [["ort", "ort"], ["torch", "ort"], ["ort", "torch"], ["torch", "torch"]] as const) {
  test(`weight sync - shm, ${from} learner → ${to} rollout engine: the weights equal the inline path's bit for bit; files gone after dispose`, { timeout: 120_000 }, async () => {
    const id = runId();
    const l = learner(from, id);
    const r = rollout(to, id);
    try {
      const inline = (await l.weights()).tensors;
      const before = await engineWeights(r);
      assert.ok([...inline].some(([n, t]) => before.get(n)?.some((x, i) => x !== t[i])), "the two random models differ to begin with");
      const report = await syncWeights(l, r);
      assert.equal(report.transport, "shm", "one host: auto picks shared memory");
      assert.ok(report.bytes > 0 && report.publishMs >= 0 && report.loadMs >= 0);
      assertSameWeights(await engineWeights(r), inline, `${from} → ${to}`);
      const samples = [];
      for await (const g of r.generate([{ kind: "text", text: "def f(" }], { maxNewTokens: 2, temperature: 0, topP: 1, seed: 1 })) samples.push(g);
      assert.deepEqual(samples.map((g) => g.weightsVersion), [report.version], "each rollout names the weight version that made it");
      const handle = await l.publishWeights({ readerHost: await r.hostId() });
      assert.equal(handle.publishMs, 0, "the version already published is handed out again, not rewritten");
      assert.ok(existsSync(handle.location), handle.location);
      await l.close();
      assert.equal(existsSync(handle.location), false, "dispose removes the file");
      assert.equal(existsSync(handle.location.replace(/\/[^/]+$/, "")), false, "and the run's folder");
    } finally {
      await l.close().catch(() => {});
      await r.close();
    }
  });
}

test("weight sync - object-store forced on one host: torch learner → ORT rollout engine equal to inline; the bucket is gone after dispose", { timeout: 120_000 }, async () => {
  const id = runId();
  const l = learner("torch", id, [nats.url]);
  const r = rollout("ort", id, [nats.url]);
  const nc = await connect({ servers: nats.url });
  try {
    const report = await syncWeights(l, r, "object-store");
    assert.equal(report.transport, "object-store");
    assertSameWeights(await engineWeights(r), (await l.weights()).tensors, "torch → ort via object store");
    const bucket = `azr-weights-${id}`;
    const os = await new Objm(nc).open(bucket);
    assert.deepEqual(await os.list(), [], "the load consumed the version's parts");
    const auto = await l.publishWeights({ readerHost: "another-host/boot/7" });
    assert.equal(auto.transport, "object-store", "auto: a reader on another host gets the object store");
    assert.equal((await os.list()).length, auto.parts!.length);
    await l.confirmWeights(1);
    assert.deepEqual(await os.list(), [], "a version nobody loaded is deleted once a newer one is confirmed");
    await assert.rejects(r.loadWeights(auto), /weights version 0 .*missing.*publishes it again/s);
    await l.close();
    await assert.rejects(new Objm(nc).open(bucket).then((b) => b.status()), "the bucket is destroyed at dispose");
  } finally {
    await l.close().catch(() => {});
    await r.close();
    await nc.close();
  }
});

test("weight sync - inline forced: the tensors travel in the handle (the old path)", { timeout: 120_000 }, async () => {
  const id = runId();
  const l = learner("ort", id);
  const r = rollout("ort", id);
  try {
    const report = await syncWeights(l, r, "inline");
    assert.equal(report.transport, "inline");
    assertSameWeights(await engineWeights(r), (await l.weights()).tensors, "inline");
    await assert.rejects(syncWeights(l, r, "carrier-pigeon" as never), /carrier-pigeon.*not one of auto, shm, object-store, inline/);
  } finally {
    await l.close();
    await r.close();
  }
});

/** A stand-in engine for the transports' own bookkeeping: its weights are one tensor holding the version. */
const source = (v: number): WeightSource => ({
  writeFile: async (path) => writeWeightsFile(path, new Map([["w", new Float32Array([v, v, v])]])),
  tensors: async () => new Map([["w", new Float32Array([v, v, v])]]),
});

test("weight sync - the previous version's file goes once the next is confirmed; a crashed run's files are cleaned at its next start", async () => {
  const id = runId();
  const pub = new WeightPublisher({ runId: id });
  const loaded: number[] = [];
  const loader = new WeightLoader({ runId: id });
  const sink = { loadFile: async (p: string) => void loaded.push(readWeightsFile(p).get("w")![0]), setTensors: async () => {} };
  try {
    const h1 = await pub.publish(1, source(1), { transport: "shm" });
    await loader.load(h1, sink);
    await pub.confirm(1);
    const h2 = await pub.publish(2, source(2), { transport: "shm" });
    assert.ok(existsSync(h1.location), "v1 stays until the reader confirms v2");
    await loader.load(h2, sink);
    await pub.confirm(2);
    assert.equal(existsSync(h1.location), false, "v1 removed after v2 was confirmed");
    assert.deepEqual(readdirSync(h2.location.replace(/\/[^/]+$/, "")), ["weights-v2.safetensors"], "no partial or old file in the folder");
    assert.deepEqual(loaded, [1, 2]);
    // A run killed mid-way leaves its folder; the same run's next publisher removes it.
    writeFileSync(h2.location.replace("v2", "v9"), "left by a crash");
    const lines: string[] = [];
    const next = new WeightPublisher({ runId: id, log: (s) => lines.push(s) });
    await next.publish(3, source(3), { transport: "shm" });
    assert.equal(existsSync(h2.location.replace("v2", "v9")), false);
    assert.ok(lines.some((l) => /removed 2 stale file\(s\)/.test(l)), lines.join("\n"));
    await next.dispose();
  } finally {
    await pub.dispose();
    await loader.dispose();
  }
});

test("weight sync - a handle to a missing or truncated file is refused naming the file and the fix", async () => {
  const id = runId();
  const pub = new WeightPublisher({ runId: id });
  const loader = new WeightLoader({ runId: id });
  const sink = { loadFile: async () => assert.fail("must not read"), setTensors: async () => {} };
  try {
    const h = await pub.publish(4, source(4), { transport: "shm" });
    writeFileSync(h.location, "short");
    await assert.rejects(loader.load(h, sink), (e: Error) => e.message.includes(h.location) && /replaced or truncated; publish the version again/.test(e.message));
    rmSync(h.location);
    await assert.rejects(loader.load(h, sink), (e: Error) => e.message.includes(`weights file ${h.location} (version 4) is missing`) && /publish the version again/.test(e.message));
    const elsewhere: WeightHandle = { ...h, host: "other-host/boot/1" };
    await assert.rejects(loader.load(elsewhere, sink), /published to shared memory on host other-host.*Use the object-store transport/);
  } finally {
    await pub.dispose();
    await loader.dispose();
  }
});

test("weight sync - two versions published before the first is confirmed: confirming the first leaves the second loadable (shm and object store)", { timeout: 60_000 }, async () => {
  const id = runId();
  const pub = new WeightPublisher({ runId: id, nats: { servers: [nats.url] } });
  const loader = new WeightLoader({ runId: id, nats: { servers: [nats.url] } });
  const loaded: number[] = [];
  const sink = { loadFile: async (p: string) => void loaded.push(readWeightsFile(p).get("w")![0]), setTensors: async () => {} };
  const nc = await connect({ servers: nats.url });
  try {
    for (const transport of ["shm", "object-store"] as const) {
      const v = transport === "shm" ? 1 : 11;
      const h1 = await pub.publish(v, source(v), { transport });
      const h2 = await pub.publish(v + 1, source(v + 1), { transport });
      await loader.load(h1, sink);
      await pub.confirm(v);
      await loader.load(h2, sink); // was deleted by confirm(v) as "another version"
      await pub.confirm(v + 1);
      if (transport === "shm") {
        assert.equal(existsSync(h1.location), false, "the older version goes once the newer is confirmed");
        assert.ok(existsSync(h2.location));
      }
    }
    assert.deepEqual(loaded, [1, 2, 11, 12]);
    assert.deepEqual(await (await new Objm(nc).open(`azr-weights-${id}`)).list(), [], "nothing left in the bucket");
  } finally {
    await pub.dispose();
    await loader.dispose();
    await nc.close();
  }
});

test("weight sync - object store: a version's upload whose reader died before loading it, and versions forgotten at a checkpoint load, are deleted at the next confirm", { timeout: 60_000 }, async () => {
  const id = runId();
  const pub = new WeightPublisher({ runId: id, nats: { servers: [nats.url] } });
  const loader = new WeightLoader({ runId: id, nats: { servers: [nats.url] } });
  const sink = { loadFile: async () => {}, setTensors: async () => {} };
  const nc = await connect({ servers: nats.url });
  try {
    await pub.publish(1, source(1), { transport: "object-store" }); // the upload creates the bucket
    const os = await new Objm(nc).open(`azr-weights-${id}`);
    // The reader of that upload died mid-load; the restarted one gets the same version published again.
    const again = await pub.publish(1, source(1), { transport: "object-store" });
    await loader.load(again, sink);
    await pub.confirm(1);
    assert.deepEqual(await os.list(), [], "the dead reader's upload is not left in the bucket for the rest of the run");
    // A learner rolled back to a checkpoint forgets what it published; those uploads go too.
    await pub.publish(2, source(2), { transport: "object-store" });
    pub.forget();
    const v1 = await pub.publish(1, source(1), { transport: "object-store" });
    await loader.load(v1, sink);
    await pub.confirm(1);
    assert.deepEqual(await os.list(), [], "the forgotten version's upload is deleted");
  } finally {
    await pub.dispose();
    await loader.dispose();
    await nc.close();
  }
});

test("weight sync - object store out of reach: the publish fails naming the servers and leaves no upload file in shared memory, however often it is retried", async () => {
  const id = runId();
  const pub = new WeightPublisher({ runId: id, nats: { servers: ["nats://127.0.0.1:1"] } });
  try {
    for (let i = 0; i < 2; i++) {
      await assert.rejects(pub.publish(1, source(1), { transport: "object-store" }), /cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/);
    }
    assert.deepEqual(readdirSync(pub.files().dir), [], "a full-size upload file per failed try would fill /dev/shm");
  } finally {
    await pub.dispose();
  }
});

test("weight sync - object store: what a killed learner left in the run's bucket goes when the next incarnation first publishes", { timeout: 60_000 }, async () => {
  const id = runId();
  const servers = { servers: [nats.url] };
  const nc = await connect({ servers: nats.url });
  // The learner killed before its readers loaded: a pool's upload (kept until the next confirm) and
  // one nobody loaded. A kill runs neither confirm nor dispose: the objects stay in the bucket.
  const killed = new WeightPublisher({ runId: id, nats: servers });
  const lines: string[] = [];
  const pub = new WeightPublisher({ runId: id, nats: servers, log: (s) => lines.push(s) });
  const loader = new WeightLoader({ runId: id, nats: servers });
  try {
    await killed.publish(1, source(1), { transport: "object-store", readers: 2 });
    await killed.publish(2, source(2), { transport: "object-store" });
    const os = await new Objm(nc).open(`azr-weights-${id}`);
    assert.equal((await os.list()).length, 2);
    // The restarted learner (rolled back to its start) publishes and its reader confirms.
    const h = await pub.publish(1, source(1), { transport: "object-store" });
    await loader.load(h, { loadFile: async () => {}, setTensors: async () => {} });
    await pub.confirm(1);
    assert.deepEqual(await os.list(), [], "the killed incarnation's uploads are not left in the bucket");
    assert.ok(lines.some((l) => l.includes(`removed 2 object(s) a previous start of this run left in object store bucket azr-weights-${id}`)), lines.join("\n"));
  } finally {
    await pub.dispose();
    await loader.dispose();
    await killed.dispose().catch(() => {}); // closes its connection; the bucket went with pub's dispose
    await nc.close();
  }
});

test("weight sync - the NATS server gone before dispose: the publisher still closes its connection, and says the bucket stayed", { timeout: 60_000 }, async () => {
  const server = await startNatsServer();
  const lines: string[] = [];
  const pub = new WeightPublisher({ runId: runId(), nats: { servers: [server.url] }, log: (s) => lines.push(s) });
  try {
    await pub.publish(1, source(1), { transport: "object-store" });
    const bucket = await (pub as unknown as { bucket(): Promise<{ nc: { isClosed(): boolean } }> }).bucket();
    await server.stop();
    await pub.dispose(); // threw "timeout" and left the connection reconnecting, keeping the process alive
    assert.ok(bucket.nc.isClosed(), "the connection is closed");
    assert.ok(lines.some((l) => /could not remove object store bucket azr-weights-.*its 24 h age limit/.test(l)), lines.join("\n"));
  } finally {
    await server.stop();
  }
});
