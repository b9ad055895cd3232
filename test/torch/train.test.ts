/**
 * The torch learner's step against azr/loss.ts (the plain-array reference of azr-spec §7.2): the
 * loss it reports equals the reference's, per aggregation mode, with clipping, dual clip and each KL
 * estimator active; accumulation over micro-batches gives the update of one big batch; LoRA trains
 * only adapters, ships them under PEFT names, and saves / reloads / switches off.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { aggregateLoss, klEstimate, tokenLoss, type KlEstimator, type LossAgg } from "../../azr/loss.ts";
import type { TrainSequence } from "../../model/engine.ts";
import { createTorchEngine, type TorchEngine, type TorchLossOptions } from "../../model/torch/engine.ts";
import { ids, makeModelDir, useTempDir } from "./helpers.ts";

const tmp = useTempDir();
let modelDir: string;
before(() => { modelDir = makeModelDir(join(tmp, "q3"), "qwen3", 21); });

const prompts = [ids("a = "), ids("def g(y):"), ids("for i in "), ids("x"), ids("while ")];
const responses = [ids("[1, 2]").slice(1), ids(" return y").slice(1), ids("range(3):").slice(1), ids("+1").slice(1), ids("True:").slice(1)];
const advantages = [1.2, -0.7, 0.4, -1.5, 0.9];

/** Deterministic offsets so old/ref log-probs differ from the current ones (clipping and KL bite). */
const wiggle = (lp: Float32Array, salt: number) => Float32Array.from(lp, (v, j) => v + 0.35 * Math.sin(3.1 * j + salt));

async function makeBatch(engine: TorchEngine): Promise<{ batch: TrainSequence[]; logp: Float32Array[] }> {
  const logp = await engine.score({ prompts, responses });
  const batch = prompts.map((p, i) => ({
    prompt: p, response: responses[i]!, advantages: new Float32Array(responses[i]!.length).fill(advantages[i]!),
    oldLogprobs: wiggle(logp[i]!, i), refLogprobs: wiggle(logp[i]!, 10 + i),
  }));
  return { batch, logp };
}

const cases: { agg: LossAgg; kl: KlEstimator; dualClip: number | null }[] = [
  { agg: "token-mean", kl: "k3", dualClip: null },
  { agg: "seq-mean-token-mean", kl: "k1", dualClip: 3 },
  { agg: "microbatch-token-mean", kl: "k2", dualClip: 3 },
];

let shared: TorchEngine;
before(async () => { shared = await createTorchEngine({ modelDir, threads: 1, optim: { lr: 1e-4, microBatch: 2 } }); });
after(() => shared?.dispose());

for (const c of cases) {
  test(`trainStep - loss equals azr/loss.ts (${c.agg}, ${c.kl}, dual clip ${c.dualClip})`, async () => {
    const loss: TorchLossOptions = { epsLow: 0.2, epsHigh: 0.28, dualClip: c.dualClip, klCoef: 0.1, klEstimator: c.kl, entropyCoef: 0, lossAgg: c.agg };
    const engine = shared;
    await engine.configureTraining({ loss }); // each case re-scores first, so earlier steps do not matter
    const { batch, logp } = await makeBatch(engine);
    const o = { epsLow: 0.2, epsHigh: 0.28, dualClip: c.dualClip };
    let clipped = 0;
    const perToken = batch.map((s, i) => Array.from(logp[i]!, (lp, j) => {
      const t = tokenLoss(s.advantages[j]!, lp, s.oldLogprobs![j]!, o);
      clipped += tokenLoss(s.advantages[j]!, lp, s.oldLogprobs![j]!, { ...o, dualClip: null }).clipped ? 1 : 0; // clipfrac: PPO clip only, as the ORT learner counts it
      return t.loss + 0.1 * klEstimate(lp, s.refLogprobs![j]!, c.kl);
    }));
    const expected = aggregateLoss(perToken, c.agg, [[0, 1], [2, 3], [4]]);
    const stats = await engine.trainStep(batch);
    const tokens = responses.reduce((a, r) => a + r.length, 0);
    assert.ok(Math.abs(stats.loss - expected) < 1e-5 * Math.max(1, Math.abs(expected)), `torch ${stats.loss} vs reference ${expected}`);
    assert.ok(clipped > 0, "the case exercises clipping");
    assert.ok(Math.abs(stats.terms.clipfrac! - clipped / tokens) < 1e-6, `clipfrac ${stats.terms.clipfrac} vs ${clipped / tokens}`);
  });
}

test("trainStep - accumulating 5 micro-batches of 1 gives the update of one batch of 5", async () => {
  const loss: TorchLossOptions = { entropyCoef: 0.01, lossAgg: "token-mean" };
  // Adam's first step moves a weight by lr·g/(|g| + eps): with the default eps (1e-8) a gradient
  // of ~1e-8 (there are some) turns the float32 rounding of summing in 5 parts instead of 1 into
  // update differences of ~lr/30, which on some CPUs' BLAS kernels exceed the bound below. An eps
  // of 1e-4 keeps the update an Adam step while bounding that sensitivity by lr·δg/eps ≈ 1e-8.
  const optim = { lr: 1e-3, weightDecay: 0, eps: 1e-4 };
  await using a = await createTorchEngine({ modelDir, threads: 1, loss, optim: { ...optim, microBatch: 1 } });
  await using b = await createTorchEngine({ modelDir, threads: 1, loss, optim: { ...optim, microBatch: 5 } });
  const { batch } = await makeBatch(a);
  const [sa, sb] = [await a.trainStep(batch), await b.trainStep(batch)];
  assert.ok(Math.abs(sa.loss - sb.loss) < 1e-6 && Math.abs(sa.gradNorm - sb.gradNorm) < 1e-5 * sb.gradNorm, `${JSON.stringify(sa)} vs ${JSON.stringify(sb)}`);
  const [wa, wb] = [await a.getWeights(), await b.getWeights()];
  let maxDiff = 0;
  for (const [name, t] of wa) t.forEach((v, i) => { maxDiff = Math.max(maxDiff, Math.abs(v - wb.get(name)![i]!)); });
  assert.ok(maxDiff < 1e-5, `weights differ by ${maxDiff} (an Adam step moves each by ~1e-3)`);
});

test("trainStep - oldLogprobs for some sequences only, or of the wrong length, are refused before any compute", async () => {
  await shared.configureTraining({ loss: { entropyCoef: 0, lossAgg: "token-mean" } });
  const { batch } = await makeBatch(shared);
  const before = await shared.score({ prompts, responses });
  const partial = batch.map((s, i) => (i === 3 ? { ...s, oldLogprobs: undefined } : s));
  await assert.rejects(shared.trainStep(partial), /oldLogprobs must be given for every sequence of a batch or for none/);
  const short = batch.map((s, i) => (i === 1 ? { ...s, oldLogprobs: s.oldLogprobs!.subarray(1) } : s));
  await assert.rejects(shared.trainStep(short), /sequence 1: \d+ oldLogprobs for \d+ response tokens/);
  assert.deepEqual(await shared.score({ prompts, responses }), before, "a refused step leaves the weights as they were");
});

test("lora - trains only adapters, ships PEFT names, saves, reloads and switches off", async () => {
  const lora = { rank: 4, alpha: 8, targetModules: ["q_proj", "v_proj", "up_proj"] };
  await using eng = await createTorchEngine({ modelDir, threads: 1, lora, seed: 3, optim: { lr: 1e-2, microBatch: 5 } });
  const base = await eng.score({ prompts, responses });
  assert.ok(eng.info.trainableParameters! > 0 && eng.info.trainableParameters! < eng.info.parameters / 5);
  const { batch } = await makeBatch(eng);
  await eng.trainStep(batch);
  await eng.trainStep(batch);
  const tuned = await eng.score({ prompts, responses });
  assert.notDeepEqual(tuned, base);
  const w = await eng.getWeights();
  assert.equal(w.size, 2 * 3 * 2, "A and B for 3 targets in 2 layers");
  for (const name of w.keys()) assert.match(name, /^base_model\.model\.model\.layers\.\d\.(self_attn|mlp)\.\w+_proj\.lora_[AB]\.weight$/);

  const dir = join(tmp, "adapter");
  await eng.save(dir);
  assert.ok(existsSync(join(dir, "adapter_config.json")) && existsSync(join(dir, "adapter_model.safetensors")));
  await using reloaded = await createTorchEngine({ modelDir, threads: 1, lora: { adapterDir: dir }, optim: { microBatch: 5 } });
  assert.deepEqual(await reloaded.score({ prompts, responses }), tuned);
  await using fresh = await createTorchEngine({ modelDir, threads: 1, lora, seed: 99, optim: { microBatch: 5 } });
  await fresh.setWeights(w, 2);
  assert.deepEqual(await fresh.score({ prompts, responses }), tuned);
  await eng.setAdapters(false);
  assert.deepEqual(await eng.score({ prompts, responses }), base, "adapters off = the frozen base (the reference model)");
});

test("data parallel - two gloo ranks give the update of one rank", async () => {
  const port = await freePort();
  const opts = { modelDir, threads: 1, optim: { lr: 1e-3, microBatch: 2, weightDecay: 0 }, loss: { entropyCoef: 0.01 } } as const;
  const single = await createTorchEngine(opts);
  const ranks = await Promise.all([0, 1].map((rank) => createTorchEngine({ ...opts, distributed: { rank, worldSize: 2, masterPort: port } })));
  try {
    assert.deepEqual(ranks.map((r) => r.info.distributed?.rank), [0, 1]);
    const { batch } = await makeBatch(single);
    const one = await single.trainStep(batch);
    const two = await Promise.all(ranks.map((r) => r.trainStep(batch))); // 5 sequences, 3 micro-batches: rank 0 takes 2, rank 1 takes 1
    for (const s of two) {
      assert.ok(Math.abs(s.loss - one.loss) < 1e-6 && Math.abs(s.gradNorm - one.gradNorm) < 1e-5 * one.gradNorm, `${JSON.stringify(s)} vs ${JSON.stringify(one)}`);
    }
    const [w1, w20, w21] = [await single.getWeights(), await ranks[0]!.getWeights(), await ranks[1]!.getWeights()];
    let vsSingle = 0;
    let acrossRanks = 0;
    for (const [name, t] of w1) {
      t.forEach((v, i) => { vsSingle = Math.max(vsSingle, Math.abs(v - w20.get(name)![i]!)); });
      w20.get(name)!.forEach((v, i) => { acrossRanks = Math.max(acrossRanks, Math.abs(v - w21.get(name)![i]!)); });
    }
    assert.equal(acrossRanks, 0, "ranks hold identical weights after the step");
    assert.ok(vsSingle < 1e-5, `two-rank update differs from one rank's by ${vsSingle}`);
  } finally {
    await Promise.all([single, ...ranks].map((e) => e.dispose()));
  }
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

test("resume - weights from save plus saveTrainingState continue the run bit for bit", async () => {
  const opts = { threads: 1, optim: { lr: 1e-3, microBatch: 5, warmupSteps: 4 } } as const;
  await using a = await createTorchEngine({ modelDir, ...opts });
  const { batch } = await makeBatch(a);
  await a.trainStep(batch);
  await a.trainStep(batch);
  const ckpt = join(tmp, "resume");
  await a.save(ckpt);
  assert.deepEqual(await a.saveTrainingState(ckpt), { step: 2 });
  await using b = await createTorchEngine({ modelDir: ckpt, ...opts });
  assert.deepEqual(await b.loadTrainingState(ckpt), { step: 2 });
  const [sa, sb] = [await a.trainStep(batch), await b.trainStep(batch)];
  assert.equal(sb.step, 3);
  assert.equal(sb.lr, sa.lr, "the warm-up schedule continues from step 3");
  assert.equal(sb.loss, sa.loss);
  assert.deepEqual(await b.getWeights(), await a.getWeights());
});
