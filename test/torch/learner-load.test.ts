/**
 * The torch learner's load(dir) replaces its engine only once the checkpoint's engine has started
 * and taken the training state: a load that fails (no such folder, a model folder without
 * training state) leaves the learner training on the engine, weights and version it had.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Learner } from "../../actors/learner.ts";
import type { TrainSequence } from "../../model/engine.ts";
import { BASE } from "../../recipes/index.ts";
import { ids, makeModelDir, maxDiff, useTempDir } from "./helpers.ts";

const tmp = useTempDir("azr-learner-load-");

const batch: TrainSequence[] = [ids("def f(x):"), ids("ab"), ids("xyz")].map((prompt, i) => {
  const response = Array.from({ length: 3 + i }, (_, j) => 97 + ((i * 5 + j * 3) % 26));
  return { prompt, response, advantages: Float32Array.from(response, (_, j) => Math.cos(i + j)) };
});

test("learner - a failed torch load keeps the running engine, its weights and version", { timeout: 120_000 }, async () => {
  const modelDir = makeModelDir(join(tmp, "m"), "qwen2", 8);
  const l = new Learner({
    modelDir, engine: "torch", device: "cpu", ranks: 1, steps: 4, threads: 1,
    trainer: { ...BASE.trainer, microBatch: 2, optimizer: { ...BASE.trainer.optimizer, lr: 1e-3 } }, weightSync: { runId: `learner-load-${process.pid}` },
  });
  try {
    await l.trainStep(batch, 0);
    const trained = (await l.weights()).tensors;

    await assert.rejects(l.load(join(tmp, "no-such-checkpoint")));
    // a model folder is not a checkpoint: the engine starts, the training state is missing
    await assert.rejects(l.load(modelDir), /training_state/);

    assert.equal((await l.stats()).version, 1);
    assert.equal(maxDiff((await l.weights()).tensors, trained, true), 0, "the weights are the trained ones");
    const s = await l.trainStep(batch, 1); // the engine still trains, from where it was
    assert.equal(s.step, 2);
  } finally {
    await l.close();
  }
});
