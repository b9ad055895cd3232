/**
 * The learner actor over several torch ranks (CPU gloo here; one rank per GPU in the 3B–14B
 * recipes): ZeRO-1 ranks and FSDP ranks train like a one-rank learner, publish a weight version
 * that an ORT rollout engine loads bit for bit (the file written by rank 0 after the ranks gather),
 * and a checkpoint restores a new learner that continues in step. The FSDP case needs a torch with
 * CPU FSDP (AZR_PYTHON, `make test-torch-next`); Debian bookworm's 1.13 skips it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Learner, type LearnerOptions } from "../../actors/learner.ts";
import { RolloutEngine } from "../../actors/rollout-engine.ts";
import { syncWeights } from "../../actors/weight-sync/index.ts";
import type { ModelEngine, TrainSequence } from "../../model/engine.ts";
import { BASE } from "../../recipes/index.ts";
import { useBaseAndTrained } from "../selfplay/fixtures.ts";
import { fsdpUnavailable, maxDiff, TOL } from "../torch/helpers.ts";

const models = useBaseAndTrained();
const noFsdp = fsdpUnavailable();
let runs = 0;
const runId = () => `learner-ranks-${process.pid}-${++runs}`;

// 5 sequences, micro-batch 2: 3 micro-batches over 2 ranks
const batch: TrainSequence[] = Array.from({ length: 5 }, (_, i) => {
  const response = Array.from({ length: 3 + i }, (_, j) => (i * 31 + j * 7) % 200 + 5);
  return { prompt: [1, 2 + i, 3, 4 + 2 * i], response, advantages: Float32Array.from(response, (_, j) => Math.sin(i + 2 * j)) };
});

for (const fsdp of [false, true]) {
  const what = fsdp ? "FSDP" : "ZeRO-1";
  test(`learner - 2 torch ranks (${what}) train like one, publish a version an ORT engine loads bit for bit, and resume from a checkpoint`,
    { timeout: 300_000, skip: fsdp && noFsdp ? `needs a torch with FSDP on CPU (AZR_PYTHON): ${noFsdp}` : false }, async () => {
      const id = runId();
      const opts = (ranks: number, runId: string): LearnerOptions => ({
        modelDir: models.trained, engine: "torch", device: "cpu", ranks, steps: 4, threads: 1,
        trainer: { ...BASE.trainer, microBatch: 2, fsdp, optimizer: { ...BASE.trainer.optimizer, lr: 1e-3 } }, weightSync: { runId },
      });
      const two = new Learner(opts(2, id));
      const one = new Learner(opts(1, runId()));
      const rollout = new RolloutEngine({ modelDir: models.base, engine: "ort", maxPromptTokens: 64, threads: 1, maxBatch: 2, weightSync: { runId: id } });
      const ckpt = mkdtempSync(join(tmpdir(), "azr-learner-ranks-"));
      let again: Learner | undefined;
      try {
        for (let v = 0; v < 2; v++) {
          const [a, b] = [await two.trainStep(batch, v), await one.trainStep(batch, v)];
          assert.equal(a.tokens, b.tokens);
          assert.ok(Math.abs(a.loss - b.loss) <= TOL, `step ${v + 1}: loss ${a.loss} vs ${b.loss}`);
        }
        const mine = (await two.weights()).tensors;
        assert.ok(maxDiff(mine, (await one.weights()).tensors) <= TOL, "two ranks' weights = one rank's");
        const report = await syncWeights(two, rollout);
        assert.equal(report.transport, "shm");
        const { engine } = await (rollout as unknown as { ready: Promise<{ engine: ModelEngine }> }).ready;
        assert.equal(maxDiff(await engine.getWeights(), mine, true), 0, "the rollout engine holds the gathered weights");

        await two.save(ckpt, 2);
        again = new Learner(opts(2, runId()));
        await again.load(ckpt);
        const [c, d] = [await again.trainStep(batch, 2), await two.trainStep(batch, 2)];
        assert.ok(Math.abs(c.loss - d.loss) <= TOL && Math.abs(c.gradNorm - d.gradNorm) <= 1e-5 * d.gradNorm, `resumed ${JSON.stringify(c)} vs ${JSON.stringify(d)}`);
        assert.ok(maxDiff((await again.weights()).tensors, (await two.weights()).tensors) <= TOL, "the resumed learner continues in step");
      } finally {
        await Promise.all([two.close(), one.close(), rollout.close(), again?.close()]);
        rmSync(ckpt, { recursive: true, force: true });
      }
    });
}
