/**
 * A LoRA learner scores the KL term's reference (learner.scoreReference): its frozen base, the
 * adapters left out, so a LoRA run with a KL term starts no second copy of the model. Real ORT and
 * torch (CPU, Debian's python3-torch) learners on a small random model: the reference equals the
 * reference-model actor's scores before and after training, and scoring it leaves training as it
 * was (the adapters come back on). A full fine-tune refuses, naming the reference-model actor.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Learner } from "../../actors/learner.ts";
import { ReferenceModel } from "../../actors/reference-model.ts";
import type { TrainSequence } from "../../model/engine.ts";
import { loadModel } from "../../model/checkpoint.ts";
import { BASE } from "../../recipes/index.ts";
import { useBaseAndTrained } from "../selfplay/fixtures.ts";

const models = useBaseAndTrained();

const LORA = { r: 4, alpha: 8, dropout: 0, targetModules: ["q_proj", "v_proj", "up_proj", "down_proj"] };
const TRAINER = { ...BASE.trainer, optimizer: { ...BASE.trainer.optimizer, lr: 1e-2 }, lora: LORA };
const seq = (prompt: number[], response: number[], adv: number): TrainSequence => ({ prompt, response, advantages: new Float32Array(response.length).fill(adv) });
const BATCH = [seq([5, 9, 14, 3], [22, 7, 31], 1.1), seq([40, 2, 17], [8, 8, 50, 11], -0.8), seq([60, 61], [12, 70], 0.5)];
const PROMPTS = [[5, 9, 14, 3], [60, 61, 62]];
const RESPONSES = [[22, 7, 31], [12, 70, 4, 4, 9]];

let runs = 0;
const learner = (engine: "ort" | "torch", trainer: typeof TRAINER = TRAINER) =>
  new Learner({ modelDir: models.base, engine, trainer, steps: 10, threads: 1, weightSync: { runId: `test-learner-ref-${process.pid}-${++runs}` } });

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  assert.deepEqual(a.map((x) => x.length), b.map((x) => x.length));
  return Math.max(...a.map((x, i) => Math.max(...x.map((v, j) => Math.abs(v - b[i][j])))));
}

for (const engine of ["ort", "torch"] as const) {
  test(`learner (${engine}, LoRA) - scoreReference is the frozen base's log-probs before and after training; training is unchanged by it`, { timeout: 120_000 }, async () => {
    const ref = new ReferenceModel({ modelDir: models.base, engine, threads: 1 });
    const scored = learner(engine);
    const plain = learner(engine);
    try {
      const want = await ref.score(PROMPTS, RESPONSES);
      assert.ok(maxDiff(await scored.scoreReference(PROMPTS, RESPONSES), want) <= 1e-5, "before training: the reference-model actor's scores");
      await scored.trainStep(BATCH);
      await plain.trainStep(BATCH);
      const after = await scored.scoreReference(PROMPTS, RESPONSES);
      assert.ok(maxDiff(after, want) <= 1e-5, "after a step the reference is still the base");
      // The adapters are back on: the next step, and the weights it makes, are those of a learner never asked.
      const a = await scored.trainStep(BATCH);
      const b = await plain.trainStep(BATCH);
      assert.equal(a.loss, b.loss, "the second step's loss");
      const [wa, wb] = [(await scored.weights()).tensors, (await plain.weights()).tensors];
      for (const [name, t] of wa) assert.deepEqual(t, wb.get(name), `${name} after two steps`);
      // ...and they moved away from the base, so a score with the adapters on would differ from the reference
      const base = loadModel(models.base).weights;
      const moved = Math.max(...[...wa].map(([name, t]) => Math.max(...t.map((v, i) => Math.abs(v - base.get(name)![i])))));
      assert.ok(moved > 1e-3, `the adapters moved the merged weights by ${moved}`);
      await assert.rejects(scored.scoreReference([[1, 2]], []), /1 prompts but 0 responses/);
    } finally {
      await Promise.all([ref.close(), scored.close(), plain.close()]);
    }
  });
}

test("learner (full fine-tune) - scoreReference refuses: no copy of the starting weights, use the reference-model actor", async () => {
  const l = learner("ort", { ...TRAINER, lora: null } as unknown as typeof TRAINER);
  try {
    await assert.rejects(l.scoreReference(PROMPTS, RESPONSES), /full fine-tune keeps no copy of its starting weights; .*actors\.reference-model\.replicas 1.*trainer\.lora/);
  } finally {
    await l.close();
  }
});
