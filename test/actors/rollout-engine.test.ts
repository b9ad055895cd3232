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

test("rollout-engine - each distinct prompt is tokenised once: countTokens then generate, and a prompt repeated n times", { timeout: 120_000 }, async () => {
  const r = new RolloutEngine({ modelDir: "data/tiny", engine: "ort", maxPromptTokens: 512, threads: 1, maxBatch: 4 });
  try {
    await r.countTokens([{ kind: "text", text: "warm up" }]);
    const { tokenizer } = await (r as unknown as { ready: Promise<{ tokenizer: { encode(t: string): number[] } }> }).ready;
    const real = tokenizer.encode.bind(tokenizer);
    const seen: string[] = [];
    tokenizer.encode = (t: string) => (seen.push(t), real(t));
    const p = { kind: "text" as const, text: "def f(x):\n    return x + 1\n# input: 3\n" };
    const q = { kind: "text" as const, text: "def f(s):\n    return s[::-1]\n# input: 'ab'\n" };
    const counts = await r.countTokens([p, q]);
    const out = [];
    for await (const s of r.generate([p, p, q, p], { maxNewTokens: 4, temperature: 1, topP: 1, seed: 3 })) out.push(s);
    assert.deepEqual(seen, [p.text, q.text], "two distinct prompts, two encodes");
    assert.deepEqual(counts, [real(p.text).length, real(q.text).length]);
    const byIndex = out.sort((a, b) => a.index - b.index);
    assert.deepEqual(byIndex.map((s) => s.promptTokens), [real(p.text), real(p.text), real(q.text), real(p.text)]);
  } finally {
    await r.close();
  }
});
