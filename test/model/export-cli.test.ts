/** `azr model export <dir> <out>` through the command's parser: a saved model folder becomes a session-loadable transformers.js layout. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
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
