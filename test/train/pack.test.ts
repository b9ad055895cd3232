/** Packing a micro-batch (model/train/pack.ts): responses to one prompt share a row as branches. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MASKED } from "../../model/arch/transformer.ts";
import { packSequences } from "../../model/train/pack.ts";

test("pack - two responses to one prompt: one row, the trunk once, each branch sees the trunk and itself", () => {
  const p = packSequences([
    { prompt: [10, 11, 12], response: [20, 21] },
    { prompt: [40], response: [41] },
    { prompt: [10, 11, 12], response: [30, 31, 32] },
  ]);
  assert.equal(p.B, 2);
  assert.equal(p.T, 2 + 2 + 3, "trunk [10, 11] + branches [12, 20] and [12, 30, 31]");
  assert.deepEqual([...p.ids].map(Number), [10, 11, 12, 20, 12, 30, 31, 40, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...p.positions].map(Number), [0, 1, 2, 3, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0]);
  // Loss tokens in sequence order: 20, 21 | 41 | 30, 31, 32, each predicted from its own position.
  assert.deepEqual([...p.targets].map(Number), [20, 21, 41, 30, 31, 32]);
  assert.deepEqual([...p.rows].map(Number), [2, 3, 7, 4, 5, 6]);
  const sees = (b: number, q: number) => [...p.attnBias.subarray((b * p.T + q) * p.T, (b * p.T + q + 1) * p.T)].flatMap((v, k) => (v === 0 ? [k] : []));
  assert.deepEqual(sees(0, 1), [0, 1]);
  assert.deepEqual(sees(0, 3), [0, 1, 2, 3], "the first branch: trunk + itself");
  assert.deepEqual(sees(0, 5), [0, 1, 4, 5], "the second branch does not see the first");
  assert.deepEqual(sees(1, 0), [0]);
  assert.deepEqual(sees(1, 3), [0], "a pad sees the row's first token only");
  assert.ok(p.attnBias.every((v) => v === 0 || v === MASKED));
});

test("pack - empty responses take no room; a micro-batch of only empty responses is refused", () => {
  const p = packSequences([{ prompt: [1, 2], response: [] }, { prompt: [3], response: [4] }]);
  assert.equal(p.B, 1);
  assert.equal(p.T, 1);
  assert.deepEqual([...p.rows].map(Number), [0]);
  assert.throws(() => packSequences([{ prompt: [1], response: [] }]), /no sequence in the micro-batch has a response token/);
  assert.throws(() => packSequences([{ prompt: [], response: [1] }]), /sequence 0: empty prompt/);
});
