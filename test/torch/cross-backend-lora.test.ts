/**
 * LoRA adapters cross between the backends (issue 11): a PEFT adapter folder written by the torch
 * engine after training loads in the ORT learner (settings from its adapter_config.json alone) and,
 * merged into an ORT inference engine, scores like the torch engine; one written by the ORT
 * learner's checkpoint loads in the torch engine and scores like the ORT side. Log-probs agree to
 * ≤ 1e-4 relative (|a − b| / max(1, |b|), as test/torch/cross-backend.test.ts), while the adapters
 * move them by far more than that (so a lost or mis-scaled adapter fails).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readConfig } from "../../model/config.ts";
import type { TrainSequence } from "../../model/engine.ts";
import { OrtEngine } from "../../model/ort/engine.ts";
import { createTorchEngine } from "../../model/torch/engine.ts";
import { createOrtTrainer } from "../../model/train/trainer.ts";
import { ids, makeModelDir, useTempDir } from "./helpers.ts";

const tmp = useTempDir();
const prompts = [ids("a = "), ids("def g(y):"), ids("for i in "), ids("x"), ids("while ")];
const responses = [ids("[1, 2]").slice(1), ids(" return y").slice(1), ids("range(3):").slice(1), ids("+1").slice(1), ids("True:").slice(1)];
const ADV = [1.2, -0.7, 0.4, -1.5, 0.9];
const batch: TrainSequence[] = prompts.map((prompt, i) => ({ prompt, response: responses[i]!, advantages: new Float32Array(responses[i]!.length).fill(ADV[i]!) }));
const LORA = { r: 4, alpha: 8, dropout: 0, targetModules: ["q_proj", "v_proj", "up_proj", "down_proj"] };
const TOL = 1e-4;
const PEFT = "base_model.model.";

/** max over tokens of |a − b| / max(1, |b|). */
function worstRel(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  a.forEach((row, i) => row.forEach((v, j) => { worst = Math.max(worst, Math.abs(v - b[i]![j]!) / Math.max(1, Math.abs(b[i]![j]!))); }));
  return worst;
}

/** Log-probs of the ORT inference engine on the ORT learner's weights with its adapters merged in. */
async function ortScore(trainer: { getMergedWeights(): Promise<Map<string, Float32Array>> }, modelDir: string): Promise<Float32Array[]> {
  const ort = await OrtEngine.fromWeights(readConfig(modelDir), await trainer.getMergedWeights(), { threads: 1, lanes: 1 });
  try {
    return await ort.score({ prompts, responses });
  } finally {
    await ort.dispose();
  }
}

test("lora cross-loading - adapters trained and saved by the torch engine load in the ORT learner and score the same", async (t) => {
  const modelDir = makeModelDir(join(tmp, "qwen2"), "qwen2", 51);
  const { r, alpha, targetModules } = LORA;
  await using torch = await createTorchEngine({ modelDir, threads: 1, seed: 3, lora: { rank: r, alpha, targetModules }, optim: { lr: 1e-2, microBatch: 5 } });
  const base = await torch.score({ prompts, responses });
  await torch.trainStep(batch);
  await torch.trainStep(batch);
  const tuned = await torch.score({ prompts, responses });
  assert.ok(worstRel(tuned, base) > 100 * TOL, `training moved the log-probs by only ${worstRel(tuned, base)}`);
  const dir = join(tmp, "torch-adapter");
  await torch.save(dir);

  await assert.rejects(createOrtTrainer({ modelDir }, { lora: { adapterDir: dir, alpha: 2 * alpha }, threads: 1 }), /lora\.alpha 16 disagrees with .*adapter_config\.json \(8\)/,
    "a setting that contradicts the adapter's own is refused, not silently used");
  await using trainer = await createOrtTrainer({ modelDir }, { lora: { adapterDir: dir }, threads: 1 });
  const theirs = await torch.getWeights();
  const ours = await trainer.getWeights();
  assert.deepEqual([...ours.keys()].map((n) => PEFT + n).sort(), [...theirs.keys()].sort(), "the same adapter tensors");
  for (const [name, t] of ours) assert.deepEqual(t, theirs.get(PEFT + name), `${name} is loaded bit for bit`);
  const err = worstRel(await ortScore(trainer, modelDir), tuned);
  t.diagnostic(`ORT vs torch log-probs with torch's adapters: max relative difference ${err.toExponential(2)}`);
  assert.ok(err <= TOL, `ORT (torch's adapters merged) vs torch log-probs: max relative difference ${err}`);
});

test("lora cross-loading - adapters trained and saved by the ORT learner load in the torch engine and score the same", async (t) => {
  const modelDir = makeModelDir(join(tmp, "llama"), "llama", 52);
  await using trainer = await createOrtTrainer({ modelDir }, { lora: LORA, seed: 5, optim: { lr: 1e-2, microBatch: 5 }, threads: 1 });
  await trainer.trainStep(batch);
  await trainer.trainStep(batch);
  const ckpt = join(tmp, "ort-ckpt");
  await trainer.save(ckpt); // the adapters in PEFT layout under <ckpt>/adapter
  const ortLp = await ortScore(trainer, modelDir);

  await using torch = await createTorchEngine({ modelDir, threads: 1, lora: { adapterDir: join(ckpt, "adapter") } });
  assert.deepEqual(torch.info.lora, { rank: LORA.r, alpha: LORA.alpha, targetModules: LORA.targetModules });
  const tuned = await torch.score({ prompts, responses });
  const err = worstRel(tuned, ortLp);
  t.diagnostic(`torch vs ORT log-probs with ORT's adapters: max relative difference ${err.toExponential(2)}`);
  assert.ok(err <= TOL, `torch (ORT's adapters) vs ORT log-probs: max relative difference ${err}`);
  await torch.setAdapters(false);
  const base = await torch.score({ prompts, responses });
  assert.ok(worstRel(tuned, base) > 100 * TOL, `the ORT-trained adapters moved the log-probs by only ${worstRel(tuned, base)}`);
});
