/**
 * The trainer end to end, through its worker thread: cross-entropy training on a small synthetic
 * text drives the loss down; a run resumed from a checkpoint continues bit-identically (full
 * fine-tuning, and LoRA with dropout); LoRA trains only the adapters.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomWeights } from "../../model/checkpoint.ts";
import { createOrtTrainer, type OrtTrainerOptions, type TrainItem } from "../../model/train/trainer.ts";
import { smallConfigs } from "../model/fixtures.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "azr-train-"));

/** A synthetic "text": a few repeating phrases over a 96-token vocabulary, as prompt [bos] + rest. */
function corpus(n: number): TrainItem[] {
  const phrases = [[10, 11, 12, 13, 14, 15], [20, 21, 22, 23], [30, 31, 32, 33, 34], [40, 41, 42]];
  return Array.from({ length: n }, (_, i) => {
    const toks = [...phrases[i % 4], ...phrases[(i + 1) % 4], ...phrases[(i * 3) % 4]];
    return { prompt: [1], response: toks };
  });
}

const bits = (w: Map<string, Float32Array>) => new Map([...w].map(([k, v]) => [k, Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64")]));

test("trainer - cross-entropy training on a small synthetic text drives the loss down", async () => {
  const config = smallConfigs.qwen2;
  await using trainer = await createOrtTrainer({ config, weights: randomWeights(config, 3) }, {
    loss: { kind: "cross-entropy" }, optim: { lr: 3e-3, weightDecay: 0, microBatch: 4, warmupSteps: 3 }, threads: 1,
  });
  const data = corpus(8);
  const losses: number[] = [];
  for (let i = 0; i < 30; i++) losses.push((await trainer.trainStep(data)).loss);
  console.log(`cross-entropy over 30 steps: ${losses[0].toFixed(3)} → ${losses.at(-1)!.toFixed(3)}`);
  assert.ok(losses[0] > 4, `starts near ln(96) ≈ 4.56, got ${losses[0]}`);
  assert.ok(losses.at(-1)! < 1.2, `loss after 30 steps ${losses.at(-1)} (from ${losses[0]})`);
});

async function resumeCheck(name: string, options: OrtTrainerOptions, data: TrainItem[]) {
  const config = smallConfigs.llama;
  const weights = randomWeights(config, 5, 0.05);
  const N = 4, k = 2;
  const straight = await createOrtTrainer({ config, weights }, options);
  const statsA = [];
  for (let i = 0; i < N; i++) statsA.push(await straight.trainStep(data));
  const wantWeights = bits(await straight.getWeights());
  await straight.dispose();

  const first = await createOrtTrainer({ config, weights }, options);
  for (let i = 0; i < k; i++) await first.trainStep(data);
  const dir = tmp();
  await first.save(dir);
  await first.dispose();
  const resumed = await createOrtTrainer({ checkpointDir: dir }, { threads: 1 });
  const statsB = [];
  for (let i = k; i < N; i++) statsB.push(await resumed.trainStep(data));
  const got = bits(await resumed.getWeights());
  await resumed.dispose();

  assert.deepEqual(statsB.map((s) => [s.step, s.loss, s.gradNorm, s.lr]), statsA.slice(k).map((s) => [s.step, s.loss, s.gradNorm, s.lr]), `${name}: step stats differ after resume`);
  for (const [n, b] of wantWeights) assert.equal(got.get(n), b, `${name}: ${n} is not bit-identical after resume`);
}

test("trainer - resume from a checkpoint is bit-identical (full fine-tuning, policy loss, warm-up + cosine)", async () => {
  const data = corpus(3).map((s, i) => ({ ...s, advantages: Float32Array.from(s.response, (_, j) => ((i + j) % 3) - 1) }));
  await resumeCheck("full", {
    loss: { kind: "policy", epsLow: 0.2, epsHigh: 0.28, dualClip: null, entropyCoef: 0.001, klCoef: 0, klEstimator: "k3", lossAgg: "microbatch-token-mean" },
    optim: { lr: 1e-3, microBatch: 2, warmupSteps: 1, schedule: "cosine", totalSteps: 6 }, threads: 1,
  }, data);
});

test("trainer - resume is bit-identical with LoRA and dropout (masks derive from seed and step)", async () => {
  await resumeCheck("lora", {
    loss: { kind: "cross-entropy" }, optim: { lr: 5e-3, microBatch: 2 }, threads: 1, seed: 42,
    lora: { r: 4, alpha: 8, dropout: 0.1, targetModules: ["q_proj", "v_proj", "down_proj"] },
  }, corpus(3));
});

/** An OrtEngine and an OrtTrainer on the same random qwen2 weights, composed by withTrainer. */
async function composedEngine(trainer: OrtTrainerOptions) {
  const { OrtEngine } = await import("../../model/ort/engine.ts");
  const { withTrainer } = await import("../../model/train/compose.ts");
  const config = smallConfigs.qwen2;
  const weights = randomWeights(config, 4, 0.05);
  const engine = withTrainer(await OrtEngine.fromWeights(config, weights, { threads: 1, maxPositions: 64 }), await createOrtTrainer({ config, weights }, trainer));
  return { engine, weights };
}

test("trainer - composed with OrtEngine: a train step hands the engine new weights, and its scores move", async () => {
  const { engine } = await composedEngine({ loss: { kind: "cross-entropy" }, optim: { lr: 1e-2, weightDecay: 0 }, threads: 1 });
  const seq = { prompt: [7, 8, 9], response: [60, 61, 62, 63] };
  const mean = (a: Float32Array) => a.reduce((x, y) => x + y, 0) / a.length;
  const before = mean((await engine.score({ prompts: [seq.prompt], responses: [seq.response] }))[0]);
  const stats = await engine.trainStep!([{ ...seq, advantages: new Float32Array(4) }]);
  const after = mean((await engine.score({ prompts: [seq.prompt], responses: [seq.response] }))[0]);
  assert.equal(stats.step, 1);
  assert.ok(Math.abs(before - -stats.loss) < 1e-4, `engine's mean log-prob ${before} vs trainer's loss ${stats.loss} before the step`);
  assert.ok(after > before + 0.1, `trained sequence's mean log-prob ${before} → ${after}`);
  await engine.dispose();
});

test("trainer - composed with OrtEngine under LoRA: full weights are refused and the engine keeps sampling the trained policy", async () => {
  const { engine, weights } = await composedEngine({ loss: { kind: "cross-entropy" }, optim: { lr: 1e-2 }, threads: 1, lora: { r: 2, alpha: 4, dropout: 0, targetModules: ["q_proj"] } });
  try {
    const req = { prompts: [[7, 8, 9]], responses: [[60, 61, 62, 63]] };
    const before = (await engine.score(req))[0];
    const other = new Map([...weights].map(([k, v]) => [k, Float32Array.from(v, (x) => -x)]));
    await assert.rejects(engine.setWeights(other, 5), /setWeights/);
    assert.deepEqual((await engine.score(req))[0], before, "the engine took weights the trainer refused");
  } finally {
    await engine.dispose();
  }
});

test("trainer - oldLogprobs for some sequences of a batch only, and a fractional micro-batch, are refused", async () => {
  const config = smallConfigs.qwen2;
  const opts: OrtTrainerOptions = {
    loss: { kind: "policy", epsLow: 0.2, epsHigh: 0.2, dualClip: null, entropyCoef: 0, klCoef: 0, klEstimator: "k3", lossAgg: "token-mean" },
    optim: { lr: 1e-3, microBatch: 2 }, threads: 1,
  };
  await using trainer = await createOrtTrainer({ config, weights: randomWeights(config, 5) }, opts);
  const data = corpus(4).map((s) => ({ ...s, advantages: Float32Array.from(s.response, () => 1) }));
  // micro-batch 1 has them all, micro-batch 2 none: each alone would pass
  const mixed = data.map((s, i) => (i < 2 ? { ...s, oldLogprobs: Float32Array.from(s.response, () => -1) } : s));
  await assert.rejects(trainer.trainStep(mixed), /oldLogprobs must be given for every sequence of a batch or for none/);
  await assert.rejects(createOrtTrainer({ config, weights: randomWeights(config, 5) }, { ...opts, optim: { lr: 1e-3, microBatch: 2.5 } }), /optim\.microBatch must be an integer >= 1, got 2\.5/);
});
