/**
 * Training on several intra-op threads: the gradients of a batch whose token ids repeat (as every
 * real batch's do) are the same on every run and equal one thread's bit for bit. The embedding's
 * scatter-add is where this broke: onnxruntime's multi-threaded ScatterND(add) lost updates to
 * rows two threads wrote at once (see model/train/graph.ts). Also the trainer's own embedding
 * lookup and scatter-add (model/train/embedding.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadModel } from "../../model/checkpoint.ts";
import { TrainCore, type TrainItem } from "../../model/train/core.ts";
import { gatherRows, scatterAddRows } from "../../model/train/embedding.ts";
import type { PolicyLossSettings } from "../../model/train/losses.ts";
import { smallConfigs, writeRandomModel } from "../model/fixtures.ts";

const policy: PolicyLossSettings = { kind: "policy", epsLow: 0.2, epsHigh: 0.28, dualClip: 3, entropyCoef: 0, klCoef: 0, klEstimator: "k3", lossAgg: "token-mean" };

/** 32 sequences of ~130 tokens drawn from 12 ids: every id repeats hundreds of times. */
function repetitiveBatch(): TrainItem[] {
  let s = 7;
  const next = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Array.from({ length: 32 }, (_, i) => {
    const prompt = Array.from({ length: 70 + (i % 5) * 3 }, () => Math.floor(next() * 12));
    const response = Array.from({ length: 50 + (i % 7) * 2 }, () => Math.floor(next() * 12));
    return { prompt, response, advantages: Float32Array.from(response, () => next() - 0.5) };
  });
}

const same = (a: Float32Array, b: Float32Array) => a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

for (const family of ["qwen2", "llama"] as const)
  test(`training on 2 threads (${family}, ${family === "qwen2" ? "tied" : "untied"} embeddings): gradients equal one thread's bit for bit, run after run`, async () => {
    const { dir } = writeRandomModel(smallConfigs[family], 5);
    const { config, weights } = loadModel(dir);
    const batch = repetitiveBatch();
    const one = new TrainCore({ config, weights, loss: policy, optim: { microBatch: 32 }, threads: 1 });
    const two = new TrainCore({ config, weights, loss: policy, optim: { microBatch: 32 }, threads: 2 });
    const ref = await one.accumulate(batch);
    for (let run = 0; run < 3; run++) {
      const got = await two.accumulate(batch);
      assert.equal(got.loss, ref.loss, `run ${run}: loss`);
      const differ = [...ref.grads].filter(([n, g]) => !same(got.grads.get(n)!, g)).map(([n]) => n);
      assert.deepEqual(differ, [], `run ${run}: gradients that differ from one thread's`);
    }
    await one.dispose();
    await two.dispose();
  });

test("embedding lookup: rows of the ids in order; an id outside the vocabulary is named", () => {
  const table = Float32Array.from({ length: 4 * 3 }, (_, i) => i); // 4 ids × h 3
  assert.deepEqual([...gatherRows(table, 3, BigInt64Array.from([2n, 0n, 2n]))], [6, 7, 8, 0, 1, 2, 6, 7, 8]);
  assert.throws(() => gatherRows(table, 3, BigInt64Array.from([1n, 4n])), /token id 4 \(position 1 of the batch\) is outside the model's vocabulary of 4/);
  assert.throws(() => gatherRows(table, 3, BigInt64Array.from([-1n])), /token id -1/);
});

test("embedding gradient: repeated ids add up, onto the tied head's part or a zero table", () => {
  const ids = BigInt64Array.from([1n, 3n, 1n]);
  const rows = Float32Array.from([1, 2, 10, 20, 100, 200]); // 3 tokens × h 2
  assert.deepEqual([...scatterAddRows(rows, ids, 2, 4)], [0, 0, 101, 202, 0, 0, 10, 20]);
  const head = Float32Array.from([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
  const out = scatterAddRows(rows, ids, 2, 4, head);
  assert.equal(out, head, "the head's part is updated in place");
  assert.deepEqual([...out], [0.5, 0.5, 101.5, 202.5, 0.5, 0.5, 10.5, 20.5]);
  assert.throws(() => scatterAddRows(rows, ids, 3, 4), /6 values for 3 tokens × 3/);
});
