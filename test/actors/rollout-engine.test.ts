/** The rollout-engine actor over a real ORT engine: the recipe's length limits. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { RolloutEngine } from "../../actors/rollout-engine.ts";
import { BASE } from "../../recipes/index.ts";
import { writeLongContextModel } from "../selfplay/fixtures.ts";

test("rollout-engine - a prompt within data.maxPromptTokens gets the recipe's data.maxResponseTokens when the model has the positions (ORT engine)", { timeout: 120_000 }, async () => {
  const dir = writeLongContextModel(3, 16_384);
  // the recipe's limits (6,144 + 8,096 = 14,240 positions, what the learner is started with)
  const r = new RolloutEngine({ modelDir: dir, engine: "ort", maxPromptTokens: BASE.data.maxPromptTokens, threads: 1, maxBatch: 1 });
  try {
    const prompt = { kind: "text" as const, text: "def f(a):\n    return a * 2\n".repeat(20) };
    const [n] = await r.countTokens([prompt]);
    assert.ok(n > 8192 - BASE.data.maxResponseTokens && n <= BASE.data.maxPromptTokens, `prompt of ${n} tokens`);
    const out = [];
    for await (const s of r.generate([prompt], { maxNewTokens: BASE.data.maxResponseTokens, temperature: 1, topP: 1, seed: 1 })) out.push(s);
    assert.equal(out.length, 1);
    assert.equal(out[0].promptTooLong, false);
    assert.ok(out[0].tokens.length > 0 && out[0].tokens.length <= BASE.data.maxResponseTokens);
    assert.equal(out[0].logprobs?.length, out[0].tokens.length, "one behaviour log-prob per token");
  } finally {
    await r.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
