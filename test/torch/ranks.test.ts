/**
 * The torch rank group (model/torch/ranks.ts) on CPU with gloo and real Python workers: two ranks
 * train like one engine, with AdamW's moments sharded between them (or not), a group of one is
 * one engine, a checkpoint saved by the group loads in a single engine and resumes a new group in
 * step; a rank killed mid-step or failing to start
 * surfaces as an error naming it and leaves no worker process behind (checked in /proc).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { childProcesses } from "../helpers/processes.ts";
import { existsSync } from "node:fs";
import { createServer, type AddressInfo, type Server } from "node:net";
import { join } from "node:path";
import type { TrainSequence, TrainStats } from "../../model/engine.ts";
import { createTorchEngine } from "../../model/torch/engine.ts";
import { createTorchRankGroup, TorchRankError } from "../../model/torch/ranks.ts";
import { assertStatsClose, ids, makeModelDir, maxDiff, TOL, useTempDir } from "./helpers.ts";

const tmp = useTempDir("azr-ranks-");
let modelDir: string;
before(() => { modelDir = makeModelDir(join(tmp, "q2"), "qwen2", 5); });
after(() => assert.deepEqual(workerChildren(), [], "no torch worker outlives the tests"));

// 5 sequences with microBatch 2: 3 micro-batches, rank 0 takes two and rank 1 one
const prompts = [ids("a = "), ids("def g(y):"), ids("for i in "), ids("x"), ids("while ")];
const responses = ["[1, 2]", " return y", "range(3):", "+1", "True:"].map((s) => ids(s).slice(1));
const batch: TrainSequence[] = prompts.map((prompt, i) => ({
  prompt, response: responses[i]!, advantages: Float32Array.from(responses[i]!, (_, j) => Math.sin(1 + i * 7 + j)),
}));
const opts = { threads: 1, optim: { lr: 1e-3, microBatch: 2, weightDecay: 0 }, loss: { entropyCoef: 0.01 } } as const;

test("2 gloo ranks train like one engine; save loads in a single engine and resumes a group in step; 1 rank is one engine", async () => {
  const single = await createTorchEngine({ modelDir, ...opts });
  const [two, one] = await Promise.all([createTorchRankGroup({ modelDir, worldSize: 2, ...opts }), createTorchRankGroup({ modelDir, worldSize: 1, ...opts })]);
  const ckpt = join(tmp, "ckpt");
  try {
    assert.deepEqual(two.info.distributed, { rank: 0, worldSize: 2, backend: "gloo", fsdp: false, tensorParallel: false });
    assert.equal(one.info.distributed, null, "a group of one joins no process group");
    for (let step = 1; step <= 2; step++) {
      const [s1, s2, sOne] = [await single.trainStep(batch), await two.trainStep(batch), await one.trainStep(batch)];
      assert.deepEqual(sOne, s1, "a group of one steps exactly like the engine");
      assertStatsClose(s2, s1);
      // AdamW's moments are sharded by default: rank 0 holds a share (partitioned by size), one engine all of them
      assert.ok(s2.optimizerStateBytes! > 0 && s2.optimizerStateBytes! <= 0.75 * s1.optimizerStateBytes!,
        `rank 0 of 2 holds ${s2.optimizerStateBytes} bytes of moments, one engine ${s1.optimizerStateBytes}`);
    }
    const w1 = await single.getWeights();
    assert.deepEqual(await one.getWeights(), w1);
    const w2 = await two.getWeights();
    assert.ok(maxDiff(w2, w1) <= TOL, `two ranks differ from one by ${maxDiff(w2, w1)} after 2 steps`);
    assert.equal(maxDiff(await two.ranks[1]!.getWeights(), w2, true), 0, "rank 1 holds rank 0's weights");
    await two.saveWeightsFile(join(tmp, "sync.safetensors"));
    await single.loadWeightsFile(join(tmp, "sync.safetensors"), 1);
    assert.deepEqual(await single.getWeights(), w2, "the group's weight file carries rank 0's weights");

    await two.save(ckpt);
    assert.deepEqual(await two.saveTrainingState(ckpt), { step: 2 });
    await using loaded = await createTorchEngine({ modelDir: ckpt, ...opts });
    assert.deepEqual(await loaded.getWeights(), w2, "the group's checkpoint loads bit for bit in one engine");
  } finally {
    await Promise.all([single.dispose(), two.dispose(), one.dispose()]);
  }
  assert.deepEqual(workerChildren(), [], "dispose ends every rank");

  // a new group from the checkpoint: every rank must load the optimiser state, or rank 1 drifts
  const reference = await createTorchEngine({ modelDir: ckpt, ...opts });
  await using resumed = await createTorchRankGroup({ modelDir: ckpt, worldSize: 2, ...opts });
  try {
    assert.deepEqual(await resumed.loadTrainingState(ckpt), { step: 2 });
    await reference.loadTrainingState(ckpt);
    for (let step = 3; step <= 4; step++) assertStatsClose(await resumed.trainStep(batch), await reference.trainStep(batch));
    const [r0, r1] = [await resumed.getWeights(), await resumed.ranks[1]!.getWeights()];
    assert.equal(maxDiff(r1, r0, true), 0, "the ranks stay in step after a resume");
    assert.ok(maxDiff(r0, await reference.getWeights()) <= TOL);
  } finally {
    await reference.dispose();
  }
});

test("unsharded optimiser state (shardOptimizerState false): every rank holds all the moments, the update is the same", async () => {
  const unsharded = { ...opts, optim: { ...opts.optim, shardOptimizerState: false } };
  await using single = await createTorchEngine({ modelDir, ...opts });
  await using two = await createTorchRankGroup({ modelDir, worldSize: 2, ...unsharded });
  for (let step = 1; step <= 2; step++) {
    const [s1, s2] = [await single.trainStep(batch), await two.trainStep(batch)];
    assertStatsClose(s2, s1);
    assert.equal(s2.optimizerStateBytes, s1.optimizerStateBytes);
  }
  assert.ok(maxDiff(await two.getWeights(), await single.getWeights()) <= TOL);
});

test("data-parallel score: each rank scores a share of the batch, joined in order; a share one rank refuses is the call's error, the group goes on", async () => {
  await using single = await createTorchEngine({ modelDir, ...opts });
  await using two = await createTorchRankGroup({ modelDir, worldSize: 2, ...opts });
  const req = { prompts, responses };
  const [want, got] = [await single.score(req), await two.score(req)];
  assert.deepEqual(got.map((x) => x.length), want.map((x) => x.length), "one row per sequence, in order");
  // (a sequence padded beside another in a micro-batch rounds differently in the last bits)
  const worst = (a: Float32Array[], b: Float32Array[]) => Math.max(...a.map((x, i) => Math.max(...x.map((v, j) => Math.abs(v - b[i]![j]!)))));
  assert.ok(worst(got, want) <= 1e-5, `two ranks' scores differ from one engine's by ${worst(got, want)}`);
  const alone = await two.score({ prompts: prompts.slice(0, 1), responses: responses.slice(0, 1) });
  assert.ok(alone.length === 1 && worst(alone, want) <= 1e-5, "a batch of one: rank 1 idle");
  // the bad id sits in rank 1's share (the last sequence): refused, and the group still serves
  await assert.rejects(two.score({ prompts, responses: [...responses.slice(0, 4), [10 ** 6]] }), (e: Error) => !(e instanceof TorchRankError) && /vocab|out of range|10{6}/i.test(e.message));
  assert.equal((await two.score(req)).length, 5);
});

test("a rank killed mid-step: the error names it, the other rank is shut down, later calls fail the same way", async () => {
  const group = await createTorchRankGroup({ modelDir, worldSize: 2, ...opts });
  const pids = group.pids as number[];
  try {
    const step = group.trainStep(batch);
    process.kill(pids[1]!, "SIGKILL"); // rank 1 has the request; rank 0 waits for it in the all-reduce
    const err = await step.then(() => null, (e: unknown) => e);
    assert.ok(err instanceof TorchRankError, String(err));
    assert.equal(err.rank, 1);
    assert.match(err.message, /^torch rank 1 of 2 died during trainStep; the group's other ranks were shut down\. .*SIGKILL/);
    for (const pid of pids) assert.ok(!existsSync(`/proc/${pid}`), `rank process ${pid} is gone`);
    await assert.rejects(group.getWeights(), (e) => e === err, "a broken group answers every call with its error");
  } finally {
    await group.dispose();
  }
  assert.deepEqual(workerChildren(), []);
});

test("a rank that dies between calls takes the group down at once", async () => {
  await using group = await createTorchRankGroup({ modelDir, worldSize: 2, ...opts });
  const pids = group.pids as number[];
  process.kill(pids[1]!, "SIGKILL");
  for (let i = 0; i < 100 && existsSync(`/proc/${pids[0]}`); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(!existsSync(`/proc/${pids[0]}`), "rank 0 is shut down without waiting for a call");
  await assert.rejects(group.trainStep(batch), /^TorchRankError: torch rank 1 of 2 died between calls; the group's other ranks were shut down$/);
});

test("a rank that cannot start: the error names it and the rank waiting in the rendezvous is killed", async () => {
  // something else listens on the master port: rank 0's TCP store cannot bind it, and rank 1 waits on
  // a peer that never answers (until torch's timeout, far longer than the group waits)
  const blocker = await listen();
  const started = Date.now();
  try {
    const port = (blocker.address() as AddressInfo).port;
    const err = await createTorchRankGroup({ modelDir, worldSize: 2, masterPort: port, timeoutS: 120, ...opts }).then((g) => g.dispose(), (e: unknown) => e);
    assert.ok(err instanceof TorchRankError, String(err));
    assert.equal(err.rank, 0);
    assert.match(err.message, /^torch rank 0 of 2 failed during start; .*init/s);
    assert.ok(Date.now() - started < 60_000, "the group did not wait for torch's rendezvous timeout");
  } finally {
    blocker.close();
  }
  assert.deepEqual(workerChildren(), [], "no rank outlives the failed start");
});

test("argument errors name the fix", async () => {
  await assert.rejects(createTorchRankGroup({ modelDir, worldSize: 2, device: "cuda" }), /need gpus/);
  await assert.rejects(createTorchRankGroup({ modelDir, gpus: [0, 1], worldSize: 3 }), /one rank per GPU/);
  await assert.rejects(createTorchRankGroup({ modelDir, gpus: [2, 3], device: "cuda:1" }), /each rank sees only its own GPU/);
});

const workerChildren = () => childProcesses("azr_torch.worker");

function listen(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer((socket) => socket.on("error", () => {})); // accept and never answer
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => resolve(srv));
  });
}
