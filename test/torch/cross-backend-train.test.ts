/**
 * Cross-backend training parity (issue 11): the same policy-gradient batch (prompts, responses,
 * per-token advantages, old and reference log-probs) and the same loss settings (PPO-clip / TRR++ of
 * azr-spec §7.2, KL to the reference, entropy bonus) give the same loss, loss terms and gradients
 * in one train step of the torch engine and of the ORT learner, on the same random safetensors:
 * full fine-tuning of Qwen2 (tied embeddings, q/k/v biases) and Llama 3 (untied lm_head), and LoRA
 * on Qwen3 from one PEFT adapter folder that both backends load.
 *
 * What is compared: the summed, unclipped gradients a step would apply — TorchEngine.gradients
 * and the ORT learner's TrainCore.accumulate, which its trainStep clips and hands to AdamW. Equal
 * gradients with the same clipping and AdamW settings make the same update.
 *
 * Error measures. Loss and terms: |a − b| / max(1, |b|), as test/torch/cross-backend.test.ts
 * measures log-probs. Gradients: per tensor, max_i |a_i − b_i| / max_i |b_i| — relative to the
 * tensor's own scale, because gradients are ~1e-3 and the max(1, ·) form would then only bound
 * the absolute error (for every tensor here max|b| < 1, so this bound implies the other). Both
 * ≤ 1e-4, and every compared tensor has a non-zero gradient.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadModel } from "../../model/checkpoint.ts";
import type { TrainSequence } from "../../model/engine.ts";
import { createTorchEngine, type TorchLossOptions } from "../../model/torch/engine.ts";
import { TrainCore } from "../../model/train/core.ts";
import { initAdapters, resolveLora, saveAdapters, type LoraSettings } from "../../model/train/lora.ts";
import { ids, makeModelDir, useTempDir } from "./helpers.ts";

const tmp = useTempDir();
const prompts = [ids("a = "), ids("def g(y):"), ids("for i in "), ids("x"), ids("while ")];
const responses = [ids("[1, 2]").slice(1), ids(" return y").slice(1), ids("range(3):").slice(1), ids("+1").slice(1), ids("True:").slice(1)];
const ADV = [1.2, -0.7, 0.4, -1.5, 0.9];
const TOL = 1e-4;

/**
 * The batch, from the current log-probs: per-token advantages, old log-probs far enough off that
 * the PPO clip and (for A < 0, ρ > 1.5) the dual clip bind, reference log-probs for the KL.
 */
function makeBatch(logp: Float32Array[]): TrainSequence[] {
  return logp.map((lp, i) => ({
    prompt: prompts[i]!, response: responses[i]!,
    advantages: Float32Array.from(lp, (_, j) => ADV[i]! * (1 + 0.3 * Math.cos(j + i))),
    oldLogprobs: Float32Array.from(lp, (v, j) => v + 0.6 * Math.sin(3.1 * j + i)),
    refLogprobs: Float32Array.from(lp, (v, j) => v + 0.3 * Math.sin(1.7 * j + 10 + i)),
  }));
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(1, Math.abs(b));

/** max |a − b| / max |b| over one tensor. */
function scaledError(a: Float32Array, b: Float32Array): { err: number; scale: number } {
  let diff = 0, scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return { err: scale > 0 ? diff / scale : Infinity, scale };
}

interface Case {
  name: string;
  arch: "qwen2" | "llama" | "qwen3";
  loss: Required<TorchLossOptions>;
  /** LoRA: the adapters both backends load (random A and B, so every adapter gets a gradient). */
  lora?: LoraSettings;
}

const cases: Case[] = [
  { name: "full fine-tuning, qwen2 (tied, biases), seq-mean-token-mean, k3, dual clip", arch: "qwen2",
    loss: { epsLow: 0.2, epsHigh: 0.28, dualClip: 1.5, klCoef: 0.1, klEstimator: "k3", entropyCoef: 0.01, lossAgg: "seq-mean-token-mean", logRatioClamp: 20 } },
  { name: "full fine-tuning, llama (untied lm_head), token-mean, k2, log-ratio clamp 0.3", arch: "llama",
    loss: { epsLow: 0.2, epsHigh: 0.2, dualClip: null, klCoef: 0.05, klEstimator: "k2", entropyCoef: 0.001, lossAgg: "token-mean", logRatioClamp: 0.3 } },
  { name: "LoRA r=4 on every projection, qwen3, microbatch-token-mean, k1, dual clip", arch: "qwen3",
    loss: { epsLow: 0.2, epsHigh: 0.28, dualClip: 1.5, klCoef: 0.1, klEstimator: "k1", entropyCoef: 0.01, lossAgg: "microbatch-token-mean", logRatioClamp: 20 },
    lora: { r: 4, alpha: 8, dropout: 0, targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] } },
];

for (const c of cases) {
  test(`cross-backend train step - ${c.name}: loss, terms and gradients of torch = ORT (≤ 1e-4)`, async (t) => {
    const dir = makeModelDir(join(tmp, c.name.replace(/\W+/g, "-")), c.arch, 41);
    const { config, weights } = loadModel(dir);
    let adapterDir: string | undefined;
    if (c.lora) {
      adapterDir = join(dir, "adapter");
      const adapters = initAdapters(config, c.lora, 7);
      for (const [name, a] of adapters) if (name.endsWith("lora_B.weight")) a.forEach((_, k) => { a[k] = 0.05 * Math.sin(0.37 * k + name.length); });
      saveAdapters(adapterDir, adapters, c.lora, config);
    }
    const microBatch = 2; // 3 micro-batches of 2, 2, 1: accumulation and microbatch-token-mean matter
    await using torch = await createTorchEngine({ modelDir: dir, threads: 1, loss: c.loss, optim: { microBatch }, ...(adapterDir && { lora: { adapterDir } }) });
    const logp = await torch.score({ prompts, responses });
    const batch = makeBatch(logp);
    const lora = adapterDir ? resolveLora({ adapterDir }, config) : undefined;
    const core = new TrainCore({ config, weights, loss: { kind: "policy", ...c.loss }, optim: { microBatch }, lora: lora?.settings, adapters: lora?.adapters, threads: 1 });
    let ort: Awaited<ReturnType<TrainCore["accumulate"]>>;
    try {
      ort = await core.accumulate(batch);
    } finally {
      await core.dispose();
    }
    const tg = await torch.gradients(batch);
    // reading gradients neither steps nor leaves them behind: a second read is identical
    assert.deepEqual((await torch.gradients(batch)).grads, tg.grads, "gradients() changed the engine's state");

    assert.equal(tg.tokens, ort.tokens);
    assert.ok(rel(tg.loss, ort.loss) <= TOL, `loss: torch ${tg.loss} vs ORT ${ort.loss}`);
    for (const k of ["pg", "clipfrac", "approxKl", "entropy", "kl"])
      assert.ok(rel(tg.terms[k]!, ort.terms[k]!) <= TOL, `term ${k}: torch ${tg.terms[k]} vs ORT ${ort.terms[k]}`);
    assert.ok(ort.terms.clipfrac! > 0, "the batch exercises the PPO clip");
    if (c.loss.dualClip !== null) {
      // for A < 0 the loss is −A·max(ρ, clip(ρ)), capped at −A·c: the cap binds where ρ > c
      const binds = batch.some((s, i) => Array.from(s.advantages).some((a, j) => a < 0 && Math.exp(logp[i]![j]! - s.oldLogprobs![j]!) > c.loss.dualClip!));
      assert.ok(binds, "the batch exercises the dual clip");
    }
    if (c.loss.logRatioClamp < 20) {
      const binds = batch.some((s, i) => Array.from(s.advantages).some((_, j) => Math.abs(logp[i]![j]! - s.oldLogprobs![j]!) > c.loss.logRatioClamp));
      assert.ok(binds, "the batch exercises the log-ratio clamp");
    }

    // torch names adapters as PEFT saves them; the ORT learner without the PEFT prefix
    const ortName = (n: string) => n.replace(/^base_model\.model\./, "");
    assert.deepEqual([...tg.grads.keys()].map(ortName).sort(), [...ort.grads.keys()].sort(), "the same trainable tensors");
    let worst = { err: 0, name: "" };
    for (const [name, g] of tg.grads) {
      const { err, scale } = scaledError(g, ort.grads.get(ortName(name))!);
      assert.ok(scale > 0, `${name}: the ORT gradient is all zero, the comparison would prove nothing`);
      if (err > worst.err) worst = { err, name };
    }
    t.diagnostic(`loss ${ort.loss.toExponential(6)}, |Δloss| ${Math.abs(tg.loss - ort.loss).toExponential(2)}; ${tg.grads.size} gradients, worst max|Δ|/max|g| ${worst.err.toExponential(2)} (${worst.name})`);
    assert.ok(worst.err <= TOL, `gradient of ${worst.name}: max |torch − ORT| / max |ORT| = ${worst.err}`);
  });
}
