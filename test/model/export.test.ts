/** The transformers.js export: transformers.js loads it and its greedy tokens equal ours. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AutoModelForCausalLM, Tensor, env } from "@huggingface/transformers";
import { exportTransformersJs } from "../../model/export/transformers-js.ts";
import { processAlive } from "../../runtime/process-alive.ts";
import { randomWeights } from "../../model/checkpoint.ts";
import { OrtEngine } from "../../model/ort/engine.ts";
import { smallConfigs } from "./fixtures.ts";

for (const family of ["qwen2", "llama", "qwen3"] as const) {
  test(`export - transformers.js generates our greedy tokens from the exported ${family} model`, async () => {
    const config = { ...smallConfigs[family], eosTokenIds: [] }; // no early stop on either side
    const weights = randomWeights(config, 5, 0.3);
    const dir = mkdtempSync(join(tmpdir(), "azr-tjs-"));
    exportTransformersJs(dir, config, weights, processAlive);
    env.allowRemoteModels = false;
    env.localModelPath = "/";
    const model = await AutoModelForCausalLM.from_pretrained(dir, { dtype: "fp32", device: "cpu", local_files_only: true, session_options: { intraOpNumThreads: 1 } } as never);
    const prompts = [[5, 6, 7, 8, 9], [9, 10, 11, 12, 13]];
    const input_ids = new Tensor("int64", BigInt64Array.from(prompts.flat().map(BigInt)), [2, 5]);
    const attention_mask = new Tensor("int64", new BigInt64Array(10).fill(1n), [2, 5]);
    const out = (await model.generate({ input_ids, attention_mask, max_new_tokens: 8, do_sample: false } as never)) as Tensor;
    const theirs = (out.tolist() as bigint[][]).map((r) => r.slice(5).map(Number));
    await model.dispose();
    const engine = await OrtEngine.fromWeights(config, weights, { threads: 1 });
    try {
      const ours: number[][] = [];
      for await (const g of engine.generate({ prompts, maxNewTokens: 8 })) ours[g.index] = g.tokens;
      assert.deepEqual(theirs, ours);
    } finally {
      await engine.dispose();
    }
  });
}
