/** `azr model dump`: the written .onnx loads in onnxruntime and declares the graph's inputs. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import yargs from "yargs";
import ort from "onnxruntime-node";
import { modelCommand } from "../../cli/commands/model.ts";
import { toHfConfig } from "../../model/config.ts";
import { smallConfigs } from "./fixtures.ts";

test("model dump - writes a session-loadable graph from config.json alone", async () => {
  const dir = mkdtempSync(join(tmpdir(), "azr-dump-"));
  writeFileSync(join(dir, "config.json"), JSON.stringify(toHfConfig(smallConfigs.llama)));
  const out = join(dir, "score.onnx");
  await yargs(["model", "dump", dir, "--graph", "score", "--out", out]).command(modelCommand).strict().exitProcess(false).parseAsync();
  const s = await ort.InferenceSession.create(out);
  assert.ok(s.inputNames.includes("model.layers.1.mlp.down_proj.weight") && s.inputNames.includes("targets"));
  assert.deepEqual(s.outputNames, ["token_logprobs"]);
  await s.release();
});
