/**
 * The rollout pool (actors/selfplay/rollout-pool.ts) over real RolloutEngines (onnxruntime, a
 * random tiny model) and a real nats-server for the object store: the split by outstanding work,
 * the caller's indices, tokens equal to one engine's whatever the split, every replica at each
 * weight version, an object-store version loaded by both replicas and deleted once superseded,
 * a failing replica named, and the per-replica retry of resilient.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Objm } from "@nats-io/obj";
import { connect } from "@nats-io/transport-node";
import { Learner } from "../../actors/learner.ts";
import { RolloutEngine } from "../../actors/rollout-engine.ts";
import { RolloutPool, RolloutReplicaError, replicaName, splitByLoad } from "../../actors/selfplay/rollout-pool.ts";
import { resilientPorts } from "../../actors/selfplay/resilient.ts";
import type { DriverPorts, RolloutControl } from "../../actors/selfplay/driver.ts";
import { WEIGHTS_VERSION_MISMATCH, type RolloutOptions, type RolloutSample } from "../../actors/selfplay/ports.ts";
import { syncWeights } from "../../actors/weight-sync/index.ts";
import type { Prompt } from "../../azr/prompts.ts";
import type { ModelEngine } from "../../model/engine.ts";
import { BASE } from "../../recipes/index.ts";
import { ActorDiedError } from "../../runtime/index.ts";
import { useNatsServer } from "../helpers/nats.ts";
import { useBaseAndTrained } from "./fixtures.ts";

const nats = useNatsServer();
const models = useBaseAndTrained();

let runs = 0;
const runId = () => `pool-${process.pid}-${++runs}`;
const engine = (id = runId(), servers?: string[]) =>
  new RolloutEngine({ modelDir: models.base, engine: "ort", maxPromptTokens: 64, threads: 1, maxBatch: 4, weightSync: { runId: id, nats: servers && { servers } } });
const text = (t: string): Prompt => ({ kind: "text", text: t });
// Repeated prompts: a part sampling from its own indices instead of the request's would repeat another part's tokens.
const PROMPTS = ["def f(a):", "def f(a):", "return a * 2", "def f(a):", "```python", "return a * 2", "def f(a):"].map(text);
const SAMPLING: RolloutOptions = { maxNewTokens: 6, temperature: 1, topP: 1, seed: 11 };

async function collect(stream: AsyncIterable<RolloutSample>): Promise<RolloutSample[]> {
  const out: RolloutSample[] = [];
  for await (const s of stream) out.push(s);
  return out;
}
const byIndex = (xs: RolloutSample[]) => [...xs].sort((a, b) => a.index - b.index).map((s) => s.tokens);

/** A replica whose generate waits for `open` before starting (a slow engine), recording each call's prompt count. */
function gated(port: RolloutControl): { port: RolloutControl; calls: number[]; open: () => void } {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const calls: number[] = [];
  const wrapped: RolloutControl = {
    countTokens: (p) => port.countTokens(p),
    setWeights: (w, v) => port.setWeights(w, v),
    async *generate(prompts, o) {
      calls.push(prompts.length);
      await gate;
      yield* port.generate(prompts, o);
    },
  };
  return { port: wrapped, calls, open };
}

test("rollout pool - the split follows outstanding work (ties to the lower index)", () => {
  assert.deepEqual(splitByLoad(5, [0, 0]), [3, 2]);
  assert.deepEqual(splitByLoad(6, [4, 0]), [1, 5], "a replica still busy gets less");
  assert.deepEqual(splitByLoad(2, [0, 0, 0]), [1, 1, 0]);
  assert.deepEqual(splitByLoad(0, [1, 2]), [0, 0]);
  assert.equal(replicaName(0), "rollout-engine");
  assert.equal(replicaName(2), "rollout-engine-2");
});

test("rollout pool - two real engines give the caller's indices and one engine's tokens; a slow replica gets less of the next call", { timeout: 120_000 }, async () => {
  const single = engine();
  const [e0, e1] = [engine(), engine()];
  try {
    const want = byIndex(await collect(single.generate(PROMPTS, SAMPLING)));
    const pool = new RolloutPool([{ name: "rollout-engine", port: e0 }, { name: "rollout-engine-1", port: e1 }]);
    const got = await collect(pool.generate(PROMPTS, SAMPLING));
    assert.deepEqual(got.map((s) => s.index).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6], "each caller index once");
    assert.deepEqual(byIndex(got), want, "the same tokens as one engine for the whole request");
    assert.deepEqual([(await e0.stats()).generated, (await e1.stats()).generated], [4, 3], "both replicas generated (an even split)");
    assert.deepEqual(await pool.countTokens(PROMPTS), await single.countTokens(PROMPTS));

    // Replica 1 is slow: while its part of call A is outstanding, call B goes mostly to replica 0.
    const slow = gated(e1);
    const fast = gated(e0);
    fast.open();
    const pool2 = new RolloutPool([{ name: "rollout-engine", port: fast.port }, { name: "rollout-engine-1", port: slow.port }]);
    const a = pool2.generate(PROMPTS.slice(0, 4), SAMPLING)[Symbol.asyncIterator]();
    const firstA = [(await a.next()).value, (await a.next()).value] as RolloutSample[]; // replica 0's two
    assert.deepEqual(firstA.map((s) => s.index).sort(), [0, 1]);
    const b = collect(pool2.generate(PROMPTS.slice(0, 4), SAMPLING));
    assert.deepEqual([fast.calls, slow.calls], [[2, 3], [2, 1]], "call B: 3 prompts to the idle replica, 1 to the busy one");
    slow.open();
    const restA = await collect({ [Symbol.asyncIterator]: () => a });
    assert.deepEqual(byIndex([...firstA, ...restA]), want.slice(0, 4));
    assert.deepEqual(byIndex(await b), want.slice(0, 4), "the tokens do not depend on the split");
  } finally {
    for (const e of [single, e0, e1]) await e.close();
  }
});

test("rollout pool - every replica takes each weight version; a replica on another version is named in the error", { timeout: 120_000 }, async () => {
  const id = runId();
  const l = new Learner({ modelDir: models.trained, engine: "ort", trainer: BASE.trainer, steps: 2, threads: 1, weightSync: { runId: id } });
  const [e0, e1] = [engine(id), engine(id)];
  const pool = new RolloutPool([{ name: "rollout-engine", port: e0 }, { name: "rollout-engine-1", port: e1 }]);
  try {
    const report = await syncWeights(l, pool, "shm");
    assert.equal(report.transport, "shm");
    for (const e of [e0, e1]) assert.deepEqual((await e.stats()).loadedVersions, [0]);
    const w = await l.weights();
    await pool.setWeights(w.tensors, 3);
    assert.deepEqual([(await e0.stats()).weightsVersion, (await e1.stats()).weightsVersion], [3, 3]);
    await collect(pool.generate(PROMPTS, SAMPLING));
    await e1.setWeights(w.tensors, 2); // replica 1 went elsewhere (as a restart would put it back on the base weights)
    await assert.rejects(collect(pool.generate(PROMPTS, SAMPLING)), (e: Error) =>
      e instanceof RolloutReplicaError && e.replica === "rollout-engine-1" && /^rollout-engine-1\.generate\(\) failed: .*holds weights version 2, the caller expects 3/.test(e.message));
  } finally {
    await l.close();
    for (const e of [e0, e1]) await e.close();
  }
});

test("rollout pool - object store with two replicas: one upload loaded by both, its parts deleted once a newer version is confirmed", { timeout: 180_000 }, async () => {
  const id = runId();
  const l = new Learner({ modelDir: models.trained, engine: "ort", trainer: BASE.trainer, steps: 2, threads: 1, weightSync: { runId: id, nats: { servers: [nats.url] } } });
  const [e0, e1] = [engine(id, [nats.url]), engine(id, [nats.url])];
  const pool = new RolloutPool([{ name: "rollout-engine", port: e0 }, { name: "rollout-engine-1", port: e1 }]);
  const nc = await connect({ servers: nats.url });
  try {
    const first = await syncWeights(l, pool, "object-store");
    assert.equal(first.transport, "object-store");
    const want = (await l.weights()).tensors;
    for (const e of [e0, e1]) {
      const { engine: m } = await (e as unknown as { ready: Promise<{ engine: ModelEngine }> }).ready;
      const got = await m.getWeights();
      for (const [name, t] of want) assert.deepEqual(got.get(name), t, `${name} in a replica`);
      assert.deepEqual((await e.stats()).loadedVersions, [0]);
    }
    const os = await new Objm(nc).open(`azr-weights-${id}`);
    const left = (await os.list()).length;
    assert.ok(left > 0, "both replicas read the same parts, so the loads left them");
    await l.trainStep([{ prompt: [1, 2, 3], response: [4, 5], advantages: new Float32Array([1, 1]) }]);
    const second = await syncWeights(l, pool, "object-store");
    assert.equal(second.version, 1);
    for (const e of [e0, e1]) assert.deepEqual((await e.stats()).loadedVersions, [0, 1]);
    assert.equal((await os.list()).length, left, "version 0's parts went at version 1's confirm; version 1's stay until the next");
    await l.close();
    await assert.rejects(new Objm(nc).open(`azr-weights-${id}`).then((b) => b.status()), "the bucket is destroyed at dispose");
  } finally {
    await l.close().catch(() => {});
    for (const e of [e0, e1]) await e.close();
    await nc.close();
  }
});

test("rollout pool - under resilientPorts a dead replica is retried alone, re-synced, and named in the log", async () => {
  const opened = [0, 0];
  const pushed: [number, number][] = [];
  const replica = (r: number): RolloutControl => ({
    async *generate(prompts, o) {
      opened[r]++;
      for (let i = 0; i < prompts.length; i++) {
        if (r === 1 && opened[1] === 1 && i === 1) throw new ActorDiedError(replicaName(1), "killed by SIGKILL");
        yield { index: i, promptTokens: [], tokens: [r, (o.firstIndex ?? 0) + i], text: "", finishReason: "eos", promptTooLong: false };
      }
    },
    countTokens: async (p) => p.map(() => 1),
    setWeights: async (_w, v) => void pushed.push([r, v]),
  });
  const learner = { weights: async () => ({ version: 0, tensors: new Map() }), trainStep: async () => ({}) as never, save: async () => {}, load: async () => {} };
  const lines: string[] = [];
  const pool = new RolloutPool([0, 1].map((r) => ({ name: replicaName(r), port: replica(r) })));
  const ports = resilientPorts({ rollout: pool, learner } as unknown as DriverPorts, { log: (l) => lines.push(l), lastCheckpoint: () => "none" });
  const got = await collect(ports.rollout.generate(new Array(6).fill(text("x")), SAMPLING));
  assert.deepEqual(byIndex(got), [[0, 0], [0, 1], [0, 2], [1, 3], [1, 4], [1, 5]], "replica 1's part sampled from the request's indices, each once");
  assert.deepEqual(opened, [1, 2], "only the dead replica's call was opened again");
  assert.deepEqual(pushed, [[1, 0]], "only the restarted replica got the weights again");
  assert.ok(lines.some((l) => /^rollout-engine-1\.generate\(\) failed: .*SIGKILL; retrying/.test(l)), lines.join("\n"));
  assert.ok(lines.some((l) => /^rollout-engine-1: weights version 0 pushed again/.test(l)), lines.join("\n"));
});
