/**
 * The FSDP learner (optim.fsdp: model/torch/azr_torch/fsdp.py) on CPU with two gloo ranks and real
 * Python workers: the same update as one engine over steps (an odd number of micro-batches, so one
 * rank runs a weight-0 repeat to keep the collectives in step), with and without gradient
 * checkpointing; each rank holds about half of the weights' moments; getWeights / save /
 * saveWeightsFile gather the full weights (every rank called, rank 0 answering); a checkpoint's
 * optimiser state, in the plain AdamW layout, resumes one engine and a new FSDP group in step.
 *
 * FSDP on CPU needs torch >= 2.1: with Debian bookworm's torch 1.13 these tests are skipped, and
 * the last test checks the error that names the fix instead. To run them here, point AZR_PYTHON at
 * a Python with a newer torch (this project was checked with Debian trixie's torch 2.6 in a
 * bubblewrap view of a debootstrap'ed trixie: see model/torch/README.md).
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { TrainSequence } from "../../model/engine.ts";
import { createTorchEngine } from "../../model/torch/engine.ts";
import { createTorchRankGroup } from "../../model/torch/ranks.ts";
import { assertStatsClose, fsdpUnavailable, ids, makeModelDir, maxDiff, TOL, useTempDir } from "./helpers.ts";

const tmp = useTempDir("azr-fsdp-");
let modelDir: string;
before(() => { modelDir = makeModelDir(join(tmp, "q2"), "qwen2", 7); });

const unavailable = fsdpUnavailable();
const skip = unavailable ? `needs a torch with FSDP on CPU (AZR_PYTHON): ${unavailable}` : false;

// 5 sequences with microBatch 2: 3 micro-batches, rank 0 takes two, rank 1 one and a weight-0 repeat
const prompts = [ids("a = "), ids("def g(y):"), ids("for i in "), ids("x"), ids("while ")];
const responses = ["[1, 2]", " return y", "range(3):", "+1", "True:"].map((s) => ids(s).slice(1));
const batch: TrainSequence[] = prompts.map((prompt, i) => ({
  prompt, response: responses[i]!, advantages: Float32Array.from(responses[i]!, (_, j) => Math.cos(2 + i * 5 + j)),
}));
const opts = { threads: 1, optim: { lr: 1e-3, microBatch: 2, weightDecay: 0.01 }, loss: { entropyCoef: 0.01 } } as const;
const fsdp = { ...opts, optim: { ...opts.optim, fsdp: true } };
/**
 * FSDP's clip_grad_norm_ sums squares over each rank's flat shard (tensors cut at arbitrary
 * offsets) and then over ranks, one engine per tensor: another fp32 summation order, measured
 * 1.7e-6 apart relative on this model. The weights themselves are held to TOL.
 */
const NORM_TOL = 1e-5;

test("2 FSDP ranks train like one engine; weights gather to rank 0; the checkpoint resumes one engine and a new group", { skip }, async () => {
  const ckpt = join(tmp, "ckpt");
  {
    await using single = await createTorchEngine({ modelDir, ...opts });
    await using two = await createTorchRankGroup({ modelDir, worldSize: 2, ...fsdp });
    assert.deepEqual(two.info.distributed, { rank: 0, worldSize: 2, backend: "gloo", fsdp: true, tensorParallel: false });
    assert.equal(two.info.parameters, single.info.parameters, "info counts the whole model, not rank 0's shard");
    for (let step = 1; step <= 2; step++) {
      const [s1, s2] = [await single.trainStep(batch), await two.trainStep(batch)];
      assertStatsClose(s2, s1, NORM_TOL);
      assert.ok(s2.optimizerStateBytes! > 0.3 * s1.optimizerStateBytes! && s2.optimizerStateBytes! <= 0.7 * s1.optimizerStateBytes!,
        `rank 0 of 2 holds ${s2.optimizerStateBytes} bytes of moments, one engine ${s1.optimizerStateBytes}`);
    }
    const w1 = await single.getWeights();
    const w2 = await two.getWeights();
    assert.ok(maxDiff(w2, w1) <= TOL, `FSDP ranks differ from one engine by ${maxDiff(w2, w1)} after 2 steps`);
    await two.saveWeightsFile(join(tmp, "sync.safetensors"));
    await single.loadWeightsFile(join(tmp, "sync.safetensors"), 1);
    assert.deepEqual(await single.getWeights(), w2, "the group's weight file carries the gathered weights");
    await two.save(ckpt);
    assert.deepEqual(await two.saveTrainingState(ckpt), { step: 2 });
    assert.ok(existsSync(join(ckpt, "training_state.pt")));
    await using loaded = await createTorchEngine({ modelDir: ckpt, ...opts });
    assert.deepEqual(await loaded.getWeights(), w2, "the group's checkpoint loads bit for bit in one engine");
  }

  // the plain AdamW layout: one engine resumes the FSDP group's state, and so does a new FSDP group
  await using reference = await createTorchEngine({ modelDir: ckpt, ...opts });
  await using resumed = await createTorchRankGroup({ modelDir: ckpt, worldSize: 2, ...fsdp });
  assert.deepEqual(await reference.loadTrainingState(ckpt), { step: 2 });
  assert.deepEqual(await resumed.loadTrainingState(ckpt), { step: 2 });
  for (let step = 3; step <= 4; step++) assertStatsClose(await resumed.trainStep(batch), await reference.trainStep(batch), NORM_TOL);
  assert.ok(maxDiff(await resumed.getWeights(), await reference.getWeights()) <= TOL, "resumed in step");
});

test("FSDP with gradient checkpointing: the same step as one engine without it", { skip }, async () => {
  await using single = await createTorchEngine({ modelDir, ...opts });
  await using two = await createTorchRankGroup({ modelDir, worldSize: 2, ...fsdp, optim: { ...fsdp.optim, gradientCheckpointing: true } });
  assertStatsClose(await two.trainStep(batch), await single.trainStep(batch), NORM_TOL);
  assert.ok(maxDiff(await two.getWeights(), await single.getWeights()) <= TOL);
});

test("FSDP refuses LoRA, naming the fix", { skip }, async () => {
  await assert.rejects(createTorchRankGroup({ modelDir, worldSize: 2, ...fsdp, lora: { rank: 4, alpha: 8 } }), /optim\.fsdp with LoRA: .*turn one of them off/);
});

test("a torch without CPU FSDP: the group's start fails naming the torch version and the fix", { skip: unavailable ? false : "this torch runs FSDP" }, async () => {
  await assert.rejects(createTorchRankGroup({ modelDir, worldSize: 2, ...fsdp }), /trainer\.fsdp needs torch >= 2\.1; this interpreter has torch 1\.\d+.*AZR_PYTHON/);
});
