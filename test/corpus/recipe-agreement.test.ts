/**
 * The corpus is formatted with the tiny recipe's own prompt settings: if the recipe's K, N,
 * prompt variant, function rule or ban list changes, this fails until TINY_FORMAT_OPTIONS
 * follows (azr/ cannot import recipes/, so the agreement is checked here).
 */
import { strict as assert } from "node:assert";
import { it } from "node:test";
import { TINY_FORMAT_OPTIONS } from "../../azr/corpus/format.ts";
import { DEFAULT_BANNED_WORDS } from "../../actors/code-executor/index.ts";
import { getRecipe } from "../../recipes/index.ts";

it("TINY_FORMAT_OPTIONS matches the tiny recipe and the executor's ban list", () => {
  const r = getRecipe("tiny");
  const o = TINY_FORMAT_OPTIONS;
  assert.equal(o.proposer.variant, r.prompt.variant);
  assert.equal(o.maxReferences, r.selfplay.references);
  assert.equal(o.proposer.nInputs, r.selfplay.inductionInputs);
  assert.equal(o.proposer.rejectMultipleFunctions, r.validation.rejectMultipleFunctions);
  assert.equal(o.proposer.timeoutSeconds, r.executor.timeoutSeconds);
  assert.deepEqual([...o.proposer.bannedWords], [...r.validation.bannedWords]);
  assert.deepEqual([...o.proposer.bannedWords], [...DEFAULT_BANNED_WORDS]);
});
