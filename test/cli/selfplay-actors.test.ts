/** Which actors `azr selfplay` starts and how it warns about their cores (cli/commands/selfplay.ts), without starting any. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { overlapOversubscribes, referenceActor } from "../../cli/commands/selfplay.ts";
import { applySettings, getRecipe } from "../../recipes/index.ts";

const tiny = (...sets: string[]) => applySettings(getRecipe("tiny"), sets);

test("selfplay - off-policy on a CPU recipe whose actors each take every core: a note with the split that fits", () => {
  assert.equal(overlapOversubscribes(tiny(), 2), undefined, "synchronous: generation and training take turns on the cores");
  const note = overlapOversubscribes(tiny("selfplay.offPolicy=1"), 2);
  assert.match(note ?? "", /offPolicy 1 overlaps generation and training, and the rollout engine and learner ask for 4 cores together on this 2-core machine/);
  assert.match(note ?? "", /--set actors\.rollout-engine\.cpus=1 --set actors\.learner\.cpus=1$/);
  assert.equal(overlapOversubscribes(tiny("selfplay.offPolicy=1"), 8), undefined, "room for both");
  assert.equal(overlapOversubscribes(tiny("selfplay.offPolicy=1", "actors.learner.cpus=1", "actors.rollout-engine.cpus=1"), 2), undefined, "the fix silences it");
});

test("selfplay - the KL reference: none without KL, the actor with a replica, the LoRA learner's base with none", () => {
  assert.equal(referenceActor(tiny()), false);
  assert.equal(referenceActor(tiny("trainer.kl.estimator=k3", "trainer.kl.coef=0.1", "actors.reference-model.replicas=1")), true);
  const lora = 'trainer.lora={"r":4,"alpha":8,"dropout":0,"targetModules":["q_proj"]}';
  assert.equal(referenceActor(tiny(lora, "trainer.kl.estimator=k3", "trainer.kl.coef=0.1")), false, "0 replicas: the learner scores it");
});
