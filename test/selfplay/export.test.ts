/**
 * `azr export <checkpoint> <dir>` on a real self-play checkpoint (one tiny-recipe step on actors,
 * random model), through the CLI binary: the folder has the Hugging Face files, its weights are
 * the trained ones (not the base model's), and the run folder and step folder forms agree.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { selfplay } from "../../cli/commands/selfplay.ts";
import { loadModel, saveModel } from "../../model/checkpoint.ts";
import { exportCheckpoint } from "../../actors/selfplay/export.ts";
import { initAdapters, mergeLora, saveAdapters } from "../../model/train/lora.ts";
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

    // A folder that already holds files is refused, untouched: an earlier sharded export's index
    // and shards, mixed with the new model.safetensors, would be what loaders read.
    const base = loadModel(model);
    saveModel(join(out, "e"), base.config, base.weights, { maxShardBytes: 50_000 });
    const before = readdirSync(join(out, "e")).sort();
    const taken = azr("export", step, join(out, "e"));
    assert.equal(taken.status, 2, taken.stderr);
    assert.match(taken.stderr, /already exists and is not an empty folder.*nothing was written/);
    assert.deepEqual(readdirSync(join(out, "e")).sort(), before);
    assert.equal(maxDiff(loadModel(join(out, "e")).weights, base.weights), 0);

    // A refused export leaves no folder: here no tokenizer for a learner folder outside its run (the
    // weights used to be written before the tokenizer was looked for).
    const lone = join(out, "lone-learner");
    cpSync(join(step, "learner"), lone, { recursive: true });
    const noTok = azr("export", lone, join(out, "d"));
    assert.equal(noTok.status, 2, noTok.stderr);
    assert.match(noTok.stderr, /no tokenizer for/);
    assert.ok(!existsSync(join(out, "d")), "no half-written export");
    assert.deepEqual(readdirSync(out).filter((f) => f.includes("partial")), [], "no temp folder left behind");
  } finally {
    for (const d of [runDir, out, model]) rmSync(d, { recursive: true, force: true });
  }
});

test("azr export - a torch learner's LoRA checkpoint (PEFT adapters only) is merged into the run's base model", () => {
  const model = writeRandomTinyModel(5);
  const runDir = mkdtempSync(join(tmpdir(), "azr-run-export-peft-"));
  try {
    // The layout the torch learner saves under LoRA (model/torch/azr_torch/lora.py save_adapter):
    // learner/ holds adapter_config.json + adapter_model.safetensors (+ training_state.pt), no config.json.
    writeFileSync(join(runDir, "config.json"), JSON.stringify({ model: { path: model } }));
    const step = join(runDir, "checkpoints", "step-2");
    const base = loadModel(model);
    const lora = { r: 4, alpha: 8, dropout: 0, targetModules: ["q_proj", "v_proj", "down_proj"] };
    const adapters = initAdapters(base.config, lora, 3);
    for (const [name, a] of adapters) if (name.endsWith("lora_B.weight")) for (let i = 0; i < a.length; i++) a[i] = Math.sin(i + 1) * 0.05; // trained: B ≠ 0
    saveAdapters(join(step, "learner"), adapters, lora, base.config);
    writeFileSync(join(step, "learner", "training_state.pt"), "");
    writeFileSync(join(step, "complete"), "");

    const out = join(runDir, "hf");
    exportCheckpoint(runDir, out);
    const exported = loadModel(out);
    assert.deepEqual(exported.config, base.config);
    const merged = mergeLora(base.config, base.weights, adapters, lora);
    assert.equal(maxDiff(exported.weights, merged), 0, "base + (alpha / r)·B·A");
    assert.ok(maxDiff(exported.weights, base.weights) > 0);
    assert.equal(readFileSync(join(out, "tokenizer.json"), "utf8"), readFileSync(join(model, "tokenizer.json"), "utf8"));

    // Adapters azr cannot merge exactly (DoRA here) are one line naming the problem, exit 2, no stack trace.
    const cfgFile = join(step, "learner", "adapter_config.json");
    writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(readFileSync(cfgFile, "utf8")), use_dora: true }));
    const refused = azr("export", runDir, join(runDir, "hf-dora"));
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /^azr export: .*dora/i);
    assert.doesNotMatch(refused.stderr, /\n\s+at /, "no stack trace");
    assert.equal(existsSync(join(runDir, "hf-dora")), false);
  } finally {
    for (const d of [runDir, model]) rmSync(d, { recursive: true, force: true });
  }
});
