/**
 * The whole loop on real actors: embedded nats-server, actor processes for the executor, task
 * buffer, rollout engine (onnxruntime) and learner (ORT trainer), the driver, checkpoints and
 * resume. The model is random, so this attacks plumbing, not learning.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { selfplay } from "../../cli/commands/selfplay.ts";
import { completeCheckpoints } from "../../actors/selfplay/run-folder.ts";
import { writeRandomTinyModel } from "./fixtures.ts";

const HELDOUT = join(import.meta.dirname, "..", "eval", "fixtures", "heldout.jsonl");

test("selfplay e2e - two steps on actors, seed top-up, in-training evaluation, checkpoint, resume to a third", { timeout: 600_000 }, async () => {
  const model = writeRandomTinyModel();
  const runDir = mkdtempSync(join(tmpdir(), "azr-run-"));
  const common = [
    "model.path=" + model, "selfplay.batchSize=2", "selfplay.nSamples=2", "data.maxResponseTokens=24", "trainer.saveEvery=2", "trainer.microBatch=4",
    // one seeding round per phase: a random model proposes nothing valid, but the top-up path runs on the actors
    "seed.maxRounds=1",
    // the evaluation every 2 steps on a three-task held-out fixture, 16 new tokens each
    "eval.every=2", "eval.suites=tiny", `eval.data=${HELDOUT}`, "eval.maxNewTokens=16",
  ];
  try {
    await selfplay({ recipe: "tiny", set: common, runDir, resume: false, steps: 2, web: false });
    const lines = readFileSync(join(runDir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    assert.ok(lines[0].train, "the learner took a step");
    assert.ok(Number.isFinite(lines[0].train.loss));
    assert.ok(existsSync(join(runDir, "seed-triplets.jsonl")), "the seed set (identity + model-made) is kept in the run folder");
    assert.deepEqual([lines[0].eval, lines[1].eval?.benchmarks?.tiny?.n], [undefined, 3], "evaluated after step 2 only, on all three tasks");
    assert.ok(existsSync(join(runDir, "eval", "step-2.problems.jsonl")));
    assert.ok(lines[1].bufferValues.deduction.size >= 1, "buffer value statistics in the metrics");
    assert.deepEqual(completeCheckpoints(runDir).map((c) => c.step), [2]);
    await selfplay({ recipe: "tiny", set: common, runDir, resume: true, steps: 3, web: false });
    const after = readFileSync(join(runDir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(after.map((l) => l.step), [1, 2, 3], "resume continues at step + 1");
    assert.ok(existsSync(join(runDir, "checkpoints", "step-3", "complete")));
  } finally {
    rmSync(runDir, { recursive: true, force: true });
    rmSync(model, { recursive: true, force: true });
  }
});

test("selfplay e2e - the torch engine (CPU here, GPUs in the 3B–14B recipes) behind the same actors, LoRA with a KL term scored by the learner's frozen base, with resume", { timeout: 600_000 }, async (t) => {
  const model = writeRandomTinyModel(2);
  const runDir = mkdtempSync(join(tmpdir(), "azr-run-torch-"));
  const set = ["model.path=" + model, "model.engine=torch", "selfplay.batchSize=2", "selfplay.nSamples=2", "data.maxResponseTokens=16", "trainer.saveEvery=1", "trainer.microBatch=4", "seed.topUp=false", "eval.every=0",
    'trainer.lora={"r":4,"alpha":8,"dropout":0,"targetModules":["q_proj","v_proj"]}', "trainer.kl.estimator=k3", "trainer.kl.coef=0.05"];
  const logged: string[] = [];
  t.mock.method(console, "log", (...a: unknown[]) => void logged.push(a.join(" ")));
  try {
    await selfplay({ recipe: "tiny", set, runDir, resume: false, steps: 1, web: false });
    await selfplay({ recipe: "tiny", set, runDir, resume: true, steps: 2, web: false });
    const steps = readFileSync(join(runDir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(steps.map((l) => l.step), [1, 2]);
    assert.ok(steps.every((l) => Number.isFinite(l.train.loss)));
    assert.ok(steps.every((l) => Number.isFinite(l.train.terms?.kl)), `the loss has its KL term: ${JSON.stringify(steps[0].train)}`);
    assert.equal(logged.filter((l) => /^reference log-probs: the LoRA learner's frozen base/.test(l)).length, 2, "both runs, no reference-model actor");
  } finally {
    rmSync(runDir, { recursive: true, force: true });
    rmSync(model, { recursive: true, force: true });
  }
});

test("selfplay e2e - a tensor-parallel rollout engine (2 gloo ranks on CPU) generates and takes the learner's weight versions", { timeout: 600_000 }, async () => {
  const model = writeRandomTinyModel(3, 2);
  const runDir = mkdtempSync(join(tmpdir(), "azr-run-tp-"));
  const set = ["model.path=" + model, "model.engine=torch", "resources.rolloutTensorParallel=2", "selfplay.batchSize=2", "selfplay.nSamples=2",
    "data.maxResponseTokens=16", "trainer.microBatch=4", "seed.topUp=false", "eval.every=0"];
  try {
    await selfplay({ recipe: "tiny", set, runDir, resume: false, steps: 2, web: false });
    const steps = readFileSync(join(runDir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(steps.map((l) => l.step), [1, 2]);
    assert.ok(steps.every((l) => Number.isFinite(l.train.loss)));
    assert.deepEqual(steps.map((l) => [l.weightSync?.version, l.weightSync?.transport]), [[1, "shm"], [2, "shm"]], "each step's version reached both ranks through /dev/shm");
  } finally {
    rmSync(runDir, { recursive: true, force: true });
    rmSync(model, { recursive: true, force: true });
  }
});
