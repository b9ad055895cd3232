/** `azr model export <dir> <out>` through the command's parser: a saved model folder becomes a session-loadable transformers.js layout. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import yargs from "yargs";
import ort from "onnxruntime-node";
import { modelCommand } from "../../cli/commands/model.ts";
import { randomWeights, saveModel } from "../../model/checkpoint.ts";
import { smallConfigs } from "./fixtures.ts";

test("model export - the CLI writes onnx/model.onnx from a model folder", async () => {
  const dir = mkdtempSync(join(tmpdir(), "azr-export-cli-"));
  try {
    const config = smallConfigs.llama;
    saveModel(join(dir, "model"), config, randomWeights(config, 3));
    const out = join(dir, "out");
    await yargs(["model", "export", join(dir, "model"), out]).command(modelCommand).strict().exitProcess(false).parseAsync();
    const s = await ort.InferenceSession.create(join(out, "onnx", "model.onnx"));
    assert.ok(s.inputNames.includes("input_ids"), s.inputNames.join(", "));
    assert.ok(s.outputNames.includes("logits"), s.outputNames.join(", "));
    await s.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("model export - the model's generation_config.json is exported; a non-empty destination is refused untouched", async () => {
  const dir = mkdtempSync(join(tmpdir(), "azr-export-cli-"));
  try {
    const config = { ...smallConfigs.qwen2, eosTokenIds: [3] };
    const model = join(dir, "model");
    saveModel(model, config, randomWeights(config, 3));
    // as Qwen2.5 instruct: config.json stops at <|im_end|>, generation_config.json also at <|endoftext|>
    const gen = { bos_token_id: 1, eos_token_id: [3, 2], do_sample: true, temperature: 0.7, top_p: 0.8 };
    writeFileSync(join(model, "generation_config.json"), JSON.stringify(gen));
    const run = (out: string) => yargs(["model", "export", model, out]).command(modelCommand).strict().exitProcess(false).parseAsync();
    await run(join(dir, "out"));
    assert.deepEqual(JSON.parse(readFileSync(join(dir, "out", "generation_config.json"), "utf8")), gen, "not one rebuilt from config.json (eos 3 only, no sampling defaults)");

    const taken = join(dir, "taken");
    mkdirSync(taken);
    writeFileSync(join(taken, "notes.txt"), "mine");
    await run(taken);
    assert.equal(process.exitCode, 2);
    process.exitCode = 0;
    assert.deepEqual(readdirSync(taken), ["notes.txt"]);
    assert.deepEqual(readdirSync(dir).sort(), ["model", "out", "taken"], "no temp folder left behind");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
