/** The decode batch's KV cache (model/ort/kv-cache.ts): unpadded rows admitted, rows kept in place, freed rows reused. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MASKED } from "../../model/arch/transformer.ts";
import { parseConfig } from "../../model/config.ts";
import { KvCache, type PrefilledRow } from "../../model/ort/kv-cache.ts";

// One layer, one KV head of dimension 2: a row's K is [D=2, S], its V [S, D=2].
const config = parseConfig({ architectures: ["Qwen2ForCausalLM"], vocab_size: 8, hidden_size: 4, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1 });

/** A prompt of T tokens whose K/V entries all read `tag` + 0.1·column. */
function row(T: number, tag: number): PrefilledRow {
  const col = (t: number) => tag + 0.1 * t;
  return {
    T,
    keys: [Float32Array.from({ length: 2 * T }, (_, i) => col(i % T))], // [D, T]
    values: [Float32Array.from({ length: T * 2 }, (_, i) => col(Math.floor(i / 2)))], // [T, D]
    logprobs: new Float32Array(8),
  };
}

/** Row b's (K of dimension 0, bias) per column, masked columns as null. */
function show(c: KvCache, b: number) {
  const S = c.capacity;
  return Array.from({ length: c.length }, (_, s) => (c.keyBias[b * S + s] === 0 ? Math.round(c.keys[0][b * 2 * S + s] * 10) / 10 : null));
}

test("kv cache - rows of different lengths end at the same column; keep compacts in place; a freed row is reused with its old columns masked", () => {
  const c = new KvCache(config, 0, 0);
  c.admit([row(2, 1), row(3, 2)], 4);
  assert.equal(c.batch, 2);
  assert.equal(c.length, 3);
  assert.deepEqual(show(c, 0), [null, 1, 1.1]);
  assert.deepEqual(show(c, 1), [2, 2.1, 2.2]);
  assert.equal(c.keys[0].length, 2 * 2 * c.capacity, "views of the live rows only");
  assert.equal(c.keyBias.length, 2 * c.capacity);
  c.append([new Float32Array([9, 9, 8, 8])], [new Float32Array([9, 9, 8, 8])]);
  c.keep([1]);
  assert.equal(c.batch, 1);
  assert.deepEqual(show(c, 0), [2, 2.1, 2.2, 8], "row 1 moved to row 0");
  c.admit([row(1, 5)], 4);
  assert.deepEqual(show(c, 1), [null, null, null, 5], "the freed row's old columns are masked");
  assert.ok(c.keyBias.subarray(c.capacity, 2 * c.capacity).every((v, s) => (s === 3 ? v === 0 : v === MASKED)));
  c.admit([row(5, 7), row(1, 3)], 4);
  assert.equal(c.batch, 4, "room for rows grows past the first admission's");
  assert.equal(c.length, 5, "columns opened at the front for the longer prompt");
  assert.deepEqual(show(c, 0), [null, 2, 2.1, 2.2, 8]);
  assert.deepEqual(show(c, 2), [7, 7.1, 7.2, 7.3, 7.4]);
  assert.deepEqual(show(c, 3), [null, null, null, null, 3]);
  c.keep([3, 0]);
  assert.deepEqual([show(c, 0), show(c, 1)], [[null, null, null, null, 3], [null, 2, 2.1, 2.2, 8]], "any order, through a copy");
});
