/**
 * Parity of our graphs with an independent PyTorch forward pass (float64) on random small
 * Qwen2-, Llama- and Qwen3-shaped models; KV-cache decode against full recompute.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadModel } from "../../model/checkpoint.ts";
import { ModelSessions } from "../../model/ort/session.ts";
import { leftPad } from "../../model/ort/batch.ts";
import { KvCache } from "../../model/ort/kv-cache.ts";
import { referenceLogits, relativeError, smallConfigs, writeRandomModel } from "./fixtures.ts";

const SEQS = [
  [5, 17, 33, 2, 90, 41, 8, 8, 61, 12, 77, 3],
  [44, 1, 9],
  [70, 71, 72, 73, 74, 75, 76],
];

for (const [family, config] of Object.entries(smallConfigs)) {
  test(`parity - ${family}: padded-batch logits match the PyTorch reference within 1e-4`, async () => {
    const { dir } = writeRandomModel(config, 7);
    const model = loadModel(dir);
    const s = new ModelSessions(model.config, model.weights, { threads: 1, maxPositions: 64 });
    const ref = referenceLogits(dir, SEQS);
    const b = leftPad(SEQS);
    const logits = await s.logits(b.ids, b.positions, b.keyBias, b.B, b.T);
    const V = config.vocabSize;
    SEQS.forEach((seq, i) => {
      const ours = logits.subarray((i * b.T + b.pads[i]) * V, (i + 1) * b.T * V);
      const err = relativeError(ours, ref[i].flat());
      assert.ok(err <= 1e-4, `${family} sequence ${i}: relative error ${err.toExponential(2)} > 1e-4`);
    });
    await s.dispose();
  });

  // The step graph has two spellings: constant weights (projections merged over concatenated
  // weights, folded at session creation) and weights fed per run (one GEMM per projection); decode
  // runs either through it or through the decode graph (the same spellings built for T = 1).
  for (const constant of [true, false])
  for (const decodeGraph of [true, false])
  test(`parity - ${family}: KV-cache decode (${constant ? "constant" : "fed"} weights, ${decodeGraph ? "decode" : "step"} graph) gives the logits of recomputing the whole prefix`, async () => {
    const { dir } = writeRandomModel(config, 11);
    const model = loadModel(dir);
    const s = new ModelSessions(model.config, model.weights, { threads: 1, maxPositions: 64, constantWeights: constant ? ["step", "decode"] : [], decodeGraph });
    assert.equal(s.decodeGraph, decodeGraph);
    const prompts = [SEQS[0].slice(0, 5), SEQS[1]];
    const extra = [[9, 10, 11, 12], [50, 51, 52, 53]]; // appended one step at a time
    const b = leftPad(prompts);
    const pre = await s.prefill(b.ids, b.positions, b.keyBias, b.B, b.T);
    const cache = new KvCache(config, b.B, b.T + extra[0].length);
    cache.writePrefill(pre.keys, pre.values, b.T, b.keyBias);
    const V = config.vocabSize;
    let stepLogprobs = pre.logprobs;
    for (let step = 0; step <= extra[0].length; step++) {
      // Full recompute of each prefix, through the score path's sibling (logits graph), unpadded.
      for (let r = 0; r < 2; r++) {
        const prefix = [...prompts[r], ...extra[r].slice(0, step)];
        const p = leftPad([prefix]);
        const full = await s.logits(p.ids, p.positions, p.keyBias, 1, p.T);
        const last = full.subarray((p.T - 1) * V, p.T * V);
        const lse = Math.log(last.reduce((a, x) => a + Math.exp(x), 0));
        const expected = Array.from(last, (x) => x - lse);
        const err = relativeError(stepLogprobs.subarray(r * V, (r + 1) * V), expected);
        assert.ok(err <= 1e-4, `${family} row ${r} step ${step}: relative error ${err.toExponential(2)}`);
      }
      if (step === extra[0].length) break;
      const ids = extra.map((e) => e[step]);
      const positions = prompts.map((p, r) => p.length + step);
      const out = await s.decode(ids, positions, cache.keyBias, cache.keys, cache.values, cache.batch, cache.capacity);
      cache.append(out.keys, out.values);
      stepLogprobs = out.logprobs;
    }
    await s.dispose();
  });
}

test("parity - moving the KV cache (grow, drop unused columns, open front columns) leaves decode unchanged", async () => {
  const config = smallConfigs.qwen2;
  const { dir } = writeRandomModel(config, 13);
  const model = loadModel(dir);
  const s = new ModelSessions(model.config, model.weights, { threads: 1, maxPositions: 64 });
  const b = leftPad([SEQS[1], SEQS[2]]); // different lengths: row 0 has masked pad columns
  const pre = await s.prefill(b.ids, b.positions, b.keyBias, b.B, b.T);
  const roomy = new KvCache(config, b.B, b.T + 8);
  const tight = new KvCache(config, b.B, b.T);
  roomy.writePrefill(pre.keys, pre.values, b.T, b.keyBias);
  tight.writePrefill(pre.keys, pre.values, b.T, b.keyBias);
  const moves = [() => tight.relayout(-3, tight.length + 5), () => tight.relayout(tight.firstUsedColumn(), tight.length + 2), () => tight.relayout(0, tight.length + 4)];
  let ids = [7, 8];
  for (let step = 0; step < 6; step++) {
    if (step < moves.length) moves[step]();
    const positions = [SEQS[1].length + step, SEQS[2].length + step];
    const a = await s.decode(ids, positions, roomy.keyBias, roomy.keys, roomy.values, 2, roomy.capacity);
    const c = await s.decode(ids, positions, tight.keyBias, tight.keys, tight.values, 2, tight.capacity);
    assert.ok(relativeError(c.logprobs, a.logprobs) < 1e-5, `step ${step}`);
    roomy.append(a.keys, a.values);
    tight.append(c.keys, c.values);
    ids = [ids[0] + 1, ids[1] + 1];
  }
  await s.dispose();
});
