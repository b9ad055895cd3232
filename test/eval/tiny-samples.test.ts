/**
 * tiny-samples.ts: the tally: maj@k votes over extracted answers (no answer is no vote, a tie goes
 * to the answer in the lower sample slot), pass@k, pass@1 as a mean of per-task fractions, and the
 * tasks greedy got wrong that some sample got right.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { tallySamples } from "../../actors/eval/tiny-samples.ts";

test("tallySamples: majority, any-right, mean and rescuable counts over hand-made samples", () => {
  const t = tallySamples([
    // greedy right; the majority ("3", twice) is wrong; one sample right
    { greedy: true, answers: ["3", "4", "3", undefined], correct: [false, true, false, false] },
    // greedy wrong; majority right; a rescuable task
    { greedy: false, answers: ["7", "7", "1", "2"], correct: [true, true, false, false] },
    // greedy wrong; a two-two tie: the answer in the lower slot ("5", wrong) wins; still rescuable
    { greedy: false, answers: ["5", "6", "5", "6"], correct: [false, true, false, true] },
    // nothing answered: no vote, nothing right
    { greedy: false, answers: [undefined, undefined, undefined, undefined], correct: [false, false, false, false] },
  ]);
  assert.equal(t.greedy, 1);
  assert.equal(t.majK, 1);
  assert.equal(t.passK, 3);
  assert.equal(t.rescuable, 2);
  assert.ok(Math.abs(t.pass1 - (0.25 + 0.5 + 0.5 + 0)) < 1e-12, `pass1 ${t.pass1}`);
  assert.equal(t.distinct, (2 + 3 + 2 + 0) / 4);
});
