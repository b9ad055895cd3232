/**
 * LoRA: the adapter graph is the merged model (same loss), its gradients are the chain rule of
 * the full gradient at the merged weights (dA = s·Bᵀ·dW, dB = s·dW·Aᵀ), only adapters change in
 * training, and adapters round-trip through the PEFT layout.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel, randomWeights } from "../../model/checkpoint.ts";
import { readHeader, readTensor, writeSafetensors } from "../../model/safetensors.ts";
import { TrainCore } from "../../model/train/core.ts";
import { adapterShapes, initAdapters, loadAdapters, mergeLora, saveAdapters, type LoraSettings } from "../../model/train/lora.ts";
import { createOrtTrainer } from "../../model/train/trainer.ts";
import { smallConfigs } from "../model/fixtures.ts";

const config = smallConfigs.qwen3;
const lora: LoraSettings = { r: 4, alpha: 12, dropout: 0, targetModules: ["q_proj", "k_proj", "o_proj", "up_proj", "down_proj"] };
const BATCH = [
  { prompt: [5, 17, 33], response: [90, 41, 8, 61] },
  { prompt: [44, 1], response: [12, 77, 3] },
];

/** Adapters with B ≠ 0 too, so the adapter path actually changes the model. */
function nonzeroAdapters(seed: number) {
  const a = initAdapters(config, lora, seed);
  let s = seed;
  for (const [n, t] of a) if (n.endsWith("lora_B.weight")) for (let i = 0; i < t.length; i++) t[i] = ((s = (s * 69069 + 1) >>> 0) / 2 ** 32 - 0.5) * 0.2;
  return a;
}

test("lora - adapter graph equals the merged model, and its gradients are the chain rule of the merged model's", async () => {
  const weights = randomWeights(config, 21, 0.1);
  const adapters = nonzeroAdapters(3);
  const loraCore = new TrainCore({ config, weights, loss: { kind: "cross-entropy" }, lora, adapters, threads: 1 });
  const merged = mergeLora(config, weights, adapters, lora);
  const fullCore = new TrainCore({ config, weights: merged, loss: { kind: "cross-entropy" }, threads: 1 });
  const a = await loraCore.accumulate(BATCH), f = await fullCore.accumulate(BATCH);
  assert.ok(Math.abs(a.loss - f.loss) < 1e-5, `loss with adapters ${a.loss} vs merged ${f.loss}`);
  assert.deepEqual([...a.grads.keys()].sort(), [...adapterShapes(config, lora).keys()].sort(), "only adapters get gradients");
  const s = lora.alpha / lora.r;
  let worst = 0;
  for (const [name, [o, r]] of adapterShapes(config, lora)) {
    if (!name.endsWith("lora_B.weight")) continue;
    const mod = name.slice(0, -".lora_B.weight".length);
    const dW = f.grads.get(`${mod}.weight`)!, A = adapters.get(`${mod}.lora_A.weight`)!, B = adapters.get(name)!;
    const inDim = dW.length / o;
    const dA = a.grads.get(`${mod}.lora_A.weight`)!, dB = a.grads.get(name)!;
    let scale = 0;
    for (const x of dW) scale = Math.max(scale, Math.abs(x));
    for (let k = 0; k < r; k++)
      for (let q = 0; q < inDim; q++) {
        let want = 0;
        for (let p = 0; p < o; p++) want += B[p * r + k] * dW[p * inDim + q];
        worst = Math.max(worst, Math.abs(dA[k * inDim + q] - s * want) / scale);
      }
    for (let p = 0; p < o; p++)
      for (let k = 0; k < r; k++) {
        let want = 0;
        for (let q = 0; q < inDim; q++) want += dW[p * inDim + q] * A[k * inDim + q];
        worst = Math.max(worst, Math.abs(dB[p * r + k] - s * want) / scale);
      }
  }
  assert.ok(worst < 1e-4, `adapter gradients off the chain rule by ${worst.toExponential(2)} (relative to max |dW|)`);
  await loraCore.dispose();
  await fullCore.dispose();
});

test("lora - training changes only the adapters; save writes PEFT files; export merges", async () => {
  const weights = randomWeights(config, 8, 0.05);
  const base = new Map([...weights].map(([k, v]) => [k, Float32Array.from(v)]));
  await using trainer = await createOrtTrainer({ config, weights }, { loss: { kind: "cross-entropy" }, optim: { lr: 1e-2 }, lora, threads: 1, seed: 1 });
  const s1 = await trainer.trainStep(BATCH);
  const s2 = await trainer.trainStep(BATCH);
  assert.ok(s2.loss < s1.loss, `loss went ${s1.loss} → ${s2.loss}`);
  const trained = await trainer.getWeights();
  assert.deepEqual([...trained.keys()].sort(), [...adapterShapes(config, lora).keys()].sort());
  const dir = mkdtempSync(join(tmpdir(), "azr-lora-"));
  await trainer.save(dir);
  assert.ok(existsSync(join(dir, "adapter", "adapter_config.json")) && existsSync(join(dir, "adapter", "adapter_model.safetensors")));
  const peft = JSON.parse(readFileSync(join(dir, "adapter", "adapter_config.json"), "utf8"));
  assert.deepEqual([peft.peft_type, peft.r, peft.lora_alpha, peft.target_modules], ["LORA", 4, 12, lora.targetModules]);
  assert.ok(readHeader(join(dir, "adapter", "adapter_model.safetensors")).every((t) => t.name.startsWith("base_model.model.model.layers.")));
  const saved = loadModel(dir).weights;
  for (const [k, v] of base) assert.deepEqual(saved.get(k), v, `base weight ${k} changed`);
  const back = loadAdapters(join(dir, "adapter"), config);
  for (const [k, v] of trained) assert.deepEqual(back.adapters.get(k), v, `adapter ${k} did not round-trip`);
  const exported = mkdtempSync(join(tmpdir(), "azr-merged-"));
  await trainer.exportModel(exported);
  const m = loadModel(exported).weights;
  const want = mergeLora(config, base, trained, lora);
  for (const [k, v] of want) assert.deepEqual(m.get(k), v, `exported ${k} is not the merged weight`);
  assert.notDeepEqual(m.get("model.layers.0.self_attn.q_proj.weight"), base.get("model.layers.0.self_attn.q_proj.weight"));
});

test("lora - PEFT save/load round trip keeps settings and tensors", () => {
  const dir = mkdtempSync(join(tmpdir(), "azr-peft-"));
  const a = nonzeroAdapters(9);
  saveAdapters(dir, a, lora, config);
  const back = loadAdapters(dir, config);
  assert.deepEqual(back.settings, lora);
  for (const [k, v] of a) assert.deepEqual(back.adapters.get(k), v);
});

test("lora - PEFT adapters that are not plain LoRA (rsLoRA, DoRA, alpha/rank patterns, extra tensors) are refused, not misread", () => {
  const saved = () => {
    const dir = mkdtempSync(join(tmpdir(), "azr-peft-"));
    saveAdapters(dir, nonzeroAdapters(3), lora, config);
    return dir;
  };
  const editConfig = (dir: string, extra: object) => {
    const f = join(dir, "adapter_config.json");
    writeFileSync(f, JSON.stringify({ ...JSON.parse(readFileSync(f, "utf8")), ...extra }));
  };
  for (const extra of [{ use_rslora: true }, { use_dora: true }, { alpha_pattern: { "model.layers.0.self_attn.q_proj": 32 } }, { rank_pattern: { q_proj: 8 } }]) {
    const dir = saved();
    editConfig(dir, extra);
    assert.throws(() => loadAdapters(dir, config), /not supported/, JSON.stringify(extra));
  }
  // bias: "all" saves the trained base biases beside the adapters: dropping them would change the model.
  const dir = saved();
  const file = join(dir, "adapter_model.safetensors");
  const tensors = readHeader(file).map((t) => ({ name: t.name, shape: t.shape, data: readTensor(t) }));
  writeSafetensors(file, [...tensors, { name: "base_model.model.model.layers.0.mlp.down_proj.bias", shape: [config.hiddenSize], data: new Float32Array(config.hiddenSize) }]);
  assert.throws(() => loadAdapters(dir, config), /down_proj\.bias/);
  // PEFT also allows target_modules as one string.
  const one = saved();
  editConfig(one, { target_modules: "q_proj" });
  assert.throws(() => loadAdapters(one, config), /no LoRA adapter/); // the file has k/o/up/down adapters too
});
