/**
 * `azr export <checkpoint> <dir>` on a real self-play checkpoint (one tiny-recipe step on actors,
 * random model), through the CLI binary: the folder has the Hugging Face files, its weights are
 * the trained ones (not the base model's), and the run folder and step folder forms agree.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { selfplay } from "../../cli/commands/selfplay.ts";
import { loadModel } from "../../model/checkpoint.ts";
import { writeRandomTinyModel } from "./fixtures.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const azr = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "cli", "bin.ts"), ...args], { cwd: ROOT, encoding: "utf8" });

const maxDiff = (a: Map<string, Float32Array>, b: Map<string, Float32Array>) => {
  let d = 0;
  for (const [k, x] of a) for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i] - b.get(k)![i]));
  return d;
};

test("azr export - a self-play checkpoint as a Hugging Face folder", { timeout: 600_000 }, async () => {
  const model = writeRandomTinyModel(4);
  const runDir = mkdtempSync(join(tmpdir(), "azr-run-export-"));
  const out = mkdtempSync(join(tmpdir(), "azr-export-"));
  try {
    const set = ["model.path=" + model, "selfplay.batchSize=2", "selfplay.nSamples=2", "data.maxResponseTokens=16", "trainer.saveEvery=1", "trainer.microBatch=4", "seed.topUp=false", "eval.every=0"];
    await selfplay({ recipe: "tiny", set, runDir, resume: false, steps: 1, web: false });
    const step = join(runDir, "checkpoints", "step-1");

    const r = azr("export", step, join(out, "a"));
    assert.equal(r.status, 0, r.stderr);
    const files = readdirSync(join(out, "a")).sort();
    for (const f of ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]) assert.ok(files.includes(f), `${f} in ${files.join(", ")}`);
    assert.ok(!files.includes("optimizer.safetensors") && !files.includes("trainer_state.json"), "no training state in the model folder");
    const exported = loadModel(join(out, "a"));
    const trained = loadModel(join(step, "learner"));
    assert.equal(maxDiff(exported.weights, trained.weights), 0, "the exported weights are the checkpoint's");
    assert.ok(maxDiff(exported.weights, loadModel(model).weights) > 0, "and they are the trained ones, not the base model's");
    assert.equal(readFileSync(join(out, "a", "tokenizer.json"), "utf8"), readFileSync(join(model, "tokenizer.json"), "utf8"));

    // The run folder names its newest checkpoint: the same files.
    assert.equal(azr("export", runDir, join(out, "b")).status, 0);
    assert.equal(maxDiff(loadModel(join(out, "b")).weights, exported.weights), 0);

    // A checkpoint that did not finish writing is refused, naming the fix.
    const partial = join(runDir, "checkpoints", "step-9");
    mkdirSync(join(partial, "learner"), { recursive: true });
    const bad = azr("export", partial, join(out, "c"));
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /did not finish writing.*export an older one/);
    assert.ok(!existsSync(join(out, "c")));
  } finally {
    for (const d of [runDir, out, model]) rmSync(d, { recursive: true, force: true });
  }
});
