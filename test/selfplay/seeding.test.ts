/**
 * Model-made seeds (spec §4.2) over a real executor, with a scripted model: the whole response is
 * parsed (no tags needed), programs are stripped before validation, invalid and duplicate
 * proposals are left out with their reasons, the pool stops at its target, and a model that never
 * proposes anything valid stops at seed.maxRounds instead of looping forever.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { identityInductionEntry, identityTriplet, promptText, type Prompt } from "../../azr/index.ts";
import { CodeExecutor } from "../../actors/code-executor/index.ts";
import { makeInductionSeeds, makeTripletSeeds, type SeedingConfig } from "../../actors/selfplay/seeding.ts";
import type { RolloutOptions, RolloutPort, RolloutSample } from "../../actors/selfplay/ports.ts";
import { BASE } from "../../recipes/index.ts";

class Scripted implements RolloutPort {
  calls = 0;
  temperatures: number[] = [];
  constructor(private readonly respond: (prompt: string, index: number, call: number) => string) {}
  async *generate(prompts: Prompt[], o: RolloutOptions): AsyncGenerator<RolloutSample> {
    const call = ++this.calls;
    this.temperatures.push(o.temperature);
    for (const [index, p] of prompts.entries()) {
      const text = this.respond(promptText(p), index, call);
      yield { index, promptTokens: [1], tokens: [2], text, finishReason: "eos", promptTooLong: false };
    }
  }
  async countTokens(prompts: Prompt[]): Promise<number[]> {
    return prompts.map((p) => promptText(p).length);
  }
}

const cfg = (maxRounds = 5): SeedingConfig => ({
  ...BASE,
  selfplay: { ...BASE.selfplay, batchSize: 4, references: 2, inductionInputs: 4 },
  prompt: { ...BASE.prompt, variant: "compact" },
  seed: { ...BASE.seed, maxRounds, temperature: 0.7 },
});

let executor: CodeExecutor;
before(async () => {
  executor = await CodeExecutor.start({ workers: 1, warn: () => {} });
});
after(async () => {
  await executor?.close();
});

test("seeding - triplets: whole responses parsed, programs stripped, invalid and duplicate ones left out, stops at the target", async () => {
  // Per round: index 0 a commented program with a docstring and a module-level call (valid once stripped),
  // 1 the same program again (a duplicate), 2 a banned import, 3 an exception.
  const rollout = new Scripted((_p, index, call) => {
    const k = call + 1;
    switch (index) {
      case 0: case 1: return `Here is my task.\n\`\`\`python\n# scales its argument\ndef f(a):\n    """times ${k}"""\n    return a * ${k}\nprint(f(2))\n\`\`\`\n\`\`\`input\n${call}\n\`\`\``;
      case 2: return "```python\nimport random\ndef f(a):\n    return random.random()\n```\n```input\n1\n```";
      default: return "```python\ndef f(a):\n    return 1 // 0\n```\n```input\n1\n```";
    }
  });
  const r = await makeTripletSeeds(cfg(), { rollout, executor }, [identityTriplet()], 3);
  assert.equal(r.entries.length, 3, "the identity seed and two made ones");
  assert.equal(r.made, 2);
  assert.equal(r.rounds, 2);
  assert.deepEqual(rollout.temperatures, [0.7, 0.7], "generated at seed.temperature");
  const made = r.entries.slice(1);
  for (const [j, e] of made.entries()) {
    assert.doesNotMatch(e.program, /#|times|print/, "comments, docstrings and module-level statements are stripped");
    assert.match(e.program, new RegExp(`return a \\* ${j + 2}`));
    assert.equal(e.output, String((j + 1) * (j + 2)), "the output is the executor's");
    assert.match(r.originals.get(e)!, /# scales its argument/, "the original program is kept for original_snippet");
  }
  assert.deepEqual(r.rejected, { "banned import": 2, exception: 2, duplicate: 2 });
});

test("seeding - a model that never proposes a valid task stops at seed.maxRounds with what it has", async () => {
  const rollout = new Scripted(() => "I do not know.");
  const r = await makeTripletSeeds(cfg(3), { rollout, executor }, [identityTriplet()], 10);
  assert.equal(r.rounds, 3);
  assert.equal(r.made, 0);
  assert.deepEqual(r.entries, [identityTriplet()]);
  assert.deepEqual(r.rejected, { "no program": 12 });
});

test("seeding - induction: inputs and a message over the seed programs, outputs from the executor", async () => {
  const rollout = new Scripted((_p, index, call) => {
    const base = 10 * call + index;
    const inputs = [0, 1, 2, 3].map((d) => `\`\`\`input\n${base * 4 + d}\n\`\`\``).join("\n");
    return index === 3 ? `${inputs}\n(no message)` : `${inputs}\n\`\`\`message\nreturns its argument\n\`\`\``;
  });
  const programs = [identityTriplet()];
  const r = await makeInductionSeeds(cfg(), { rollout, executor }, programs, [identityInductionEntry()], 5);
  assert.equal(r.entries.length, 5);
  assert.equal(r.rounds, 2, "three valid per round");
  assert.deepEqual(r.rejected, { "no message": 2 }, "one per round");
  for (const e of r.entries.slice(1)) {
    assert.equal(e.program, identityTriplet().program);
    assert.deepEqual(e.outputs, e.inputs, "the identity program returns its inputs");
    assert.equal(e.message, "returns its argument");
  }
});
