/**
 * One self-play step end to end over a real executor and a real task buffer, with a scripted
 * policy standing in for the model (so every reward is known in advance) and a learner port
 * that records the batch. The model engine and learner have their own tests; this one attacks
 * the step's bookkeeping: which samples are trained, the rewards they get, admission, metrics.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { identityInductionEntry, identityTriplet, promptText, type Prompt } from "../../azr/index.ts";
import { CodeExecutor } from "../../actors/code-executor/index.ts";
import { TaskBuffer } from "../../actors/selfplay/task-buffer.ts";
import { runStep, type StepConfig } from "../../actors/selfplay/step.ts";
import type { ExecutorPort, RolloutOptions, RolloutPort, RolloutSample } from "../../actors/selfplay/ports.ts";
import { childProcesses } from "../helpers/processes.ts";
import type { TrainSequence } from "../../model/engine.ts";
import { BASE } from "../../recipes/index.ts";

const N_SAMPLES = 4;
const B = 4;

/** Scripted answers keyed on the compact prompts' first line; `i % N_SAMPLES` < 2 answers right in learnability. */
function respond(prompt: string, index: number, call: number): string {
  const wrap = (answer: string) => `<think>ok</think> <answer>${answer}</answer>`;
  const program = /```python\n([\s\S]*?)\n```/.exec(prompt)?.[1] ?? "";
  const k = Number(/return a \* (\d+)/.exec(program)?.[1] ?? 1);
  const task = prompt.split("User: ")[1] ?? "";
  if (task.startsWith("Write a new Python function")) {
    if (index % B === 3) return wrap("```python\nimport random\ndef f(a):\n    return random.random()\n```\n```input\n1\n```"); // banned
    return wrap(`\`\`\`python\ndef f(a):\n    return a * ${index + 2}\n\`\`\`\n\`\`\`input\n${index + 1}\n\`\`\``);
  }
  if (task.startsWith("Write ")) return wrap("```input\n1\n```\n```input\n2\n```\n```input\n3\n```\n```input\n4\n```\n```message\nscales\n```");
  const right = call === 3 || index % N_SAMPLES < 2;
  if (task.startsWith("Predict the output")) {
    const input = Number(/```input\n([\s\S]*?)\n```/.exec(task)?.[1]);
    return wrap("```output\n" + (right ? input * k : -1) + "\n```");
  }
  if (task.startsWith("Give one input")) {
    const output = Number(/```output\n([\s\S]*?)\n```/.exec(task)?.[1]);
    return wrap("```input\n" + (right ? output / k : 0.5) + "\n```");
  }
  const i0 = Number(/```input_0\n([\s\S]*?)\n```/.exec(task)?.[1]);
  const o0 = Number(/```output_0\n([\s\S]*?)\n```/.exec(task)?.[1]);
  return wrap("```python\ndef f(a):\n    return a * " + (right ? o0 / i0 : 0) + "\n```");
}

class ScriptedRollout implements RolloutPort {
  calls = 0;
  async *generate(prompts: Prompt[], _o: RolloutOptions): AsyncGenerator<RolloutSample> {
    const call = ++this.calls;
    for (const [index, p] of prompts.entries()) {
      const text = respond(promptText(p), index, call);
      yield { index, promptTokens: [1, 2, 3], tokens: Array.from(text, (c) => c.charCodeAt(0)), text, finishReason: "eos", promptTooLong: false };
    }
  }
  async countTokens(prompts: Prompt[]): Promise<number[]> {
    return prompts.map((p) => promptText(p).length);
  }
}

let executor: CodeExecutor;
before(async () => {
  executor = await CodeExecutor.start({ workers: 1, warn: () => {} });
});
after(async () => {
  await executor?.close();
});

/** The identity seeds; B induction entries (the identity program on shifted inputs) so every solve batch is full. */
async function seed(buffer: TaskBuffer): Promise<void> {
  await buffer.admit("deduction", [identityTriplet()], 0);
  await buffer.admit("abduction", [identityTriplet()], 0);
  const base = identityInductionEntry();
  const entries = Array.from({ length: B }, (_, k) => ({ ...base, inputs: base.inputs.map((x, j) => (j === 0 ? String(k) : x)), outputs: base.outputs.map((x, j) => (j === 0 ? String(k) : x)) }));
  assert.equal((await buffer.admit("induction", entries, 0)).length, B);
}

function config(): StepConfig {
  return {
    ...BASE,
    selfplay: { ...BASE.selfplay, batchSize: B, nSamples: N_SAMPLES, inductionInputs: 4, references: 2 },
    prompt: { ...BASE.prompt, variant: "compact" },
  };
}

test("selfplay step - rewards, admission and the trained batch follow the spec", async () => {
  const buffer = new TaskBuffer({ maxEntries: 100, capPolicy: "evict-oldest", dedupe: "exact", referenceSampling: "uniform", solverMix: "max-new" });
  await seed(buffer);
  const batches: TrainSequence[][] = [];
  const learner = { trainStep: async (b: TrainSequence[]) => (batches.push(b), { step: 1, loss: 0, gradNorm: 0, lr: 0, tokens: 0, terms: {} }) };
  const rollout = new ScriptedRollout();
  const r = await runStep(1, config(), { rollout, executor, buffer, learner });

  assert.equal(rollout.calls, 3, "propose, learnability, solve");
  for (const type of ["deduction", "abduction"] as const) {
    const g = r.groups[`propose/${type}`]!;
    assert.equal(g.validRate, 3 / 4, `${type}: the banned-import proposal is invalid`);
    assert.deepEqual(g.invalidReasons, { "banned import": 1 });
    assert.equal(g.solveRateMean, 0.5, `${type}: 2 of 4 learnability samples right`);
    assert.equal(g.newEntries, 3);
    assert.equal(g.rewardMean, (3 * 0.5 - 1) / 4);
    assert.equal(r.groups[`solve/${type}`]!.accuracy, 1);
  }
  // Induction proposals all reuse one program with the same inputs: valid, but de-duplicated to one entry.
  assert.equal(r.groups["propose/induction"]!.validRate, 1);
  assert.equal(r.groups["propose/induction"]!.newEntries, 1);
  assert.equal(r.bufferSizes.deduction, 4);

  assert.equal(batches.length, 1, "one optimiser step per self-play step");
  const batch = batches[0];
  assert.equal(batch.length, 6 * B, "B proposer + B solver sequences per type");
  for (const seq of batch) assert.equal(seq.advantages.length, seq.response.length);
  // TRR++: within each group the advantages have zero mean (or are all zero).
  for (let g = 0; g < 6; g++) {
    const groupAdv = batch.slice(g * B, (g + 1) * B).map((s) => s.advantages[0]);
    assert.ok(Math.abs(groupAdv.reduce((a, b) => a + b, 0)) < 1e-6, `group ${g} advantages ${groupAdv} sum to 0`);
  }
});

test("selfplay step - learnability samples are drawn at selfplay.learnabilityTemperature (1.0; 0 = the reference's greedy decoding)", async () => {
  for (const t of [1, 0]) {
    const buffer = new TaskBuffer({ maxEntries: 100, capPolicy: "evict-oldest", dedupe: "exact", referenceSampling: "uniform", solverMix: "max-new" });
    await seed(buffer);
    const cfg = config();
    cfg.selfplay = { ...cfg.selfplay, temperature: 0.9, learnabilityTemperature: t };
    const temperatures: number[] = [];
    const rollout = new ScriptedRollout();
    const generate = rollout.generate.bind(rollout);
    rollout.generate = (prompts, o) => (temperatures.push(o.temperature), generate(prompts, o));
    const learner = { trainStep: async () => ({ step: 1, loss: 0, gradNorm: 0, lr: 0, tokens: 0, terms: {} }) };
    await runStep(1, cfg, { rollout, executor, buffer, learner });
    assert.deepEqual(temperatures, [0.9, t, 0.9], "propose, learnability, solve");
  }
});

test("selfplay step - previous-step solves what the last step admitted, and a disabled proposer is not trained", async () => {
  const buffer = new TaskBuffer({ maxEntries: 100, capPolicy: "evict-oldest", dedupe: "exact", referenceSampling: "uniform", solverMix: "max-new" });
  await seed(buffer);
  const cfg = config();
  cfg.selfplay = { ...cfg.selfplay, solveFrom: "previous-step", trainPropose: false };
  const batches: TrainSequence[][] = [];
  const learner = { trainStep: async (b: TrainSequence[]) => (batches.push(b), { step: 1, loss: 0, gradNorm: 0, lr: 0, tokens: 0, terms: {} }) };
  const r = await runStep(1, cfg, { rollout: new ScriptedRollout(), executor, buffer, learner });
  assert.equal(batches[0].length, 3 * B, "solver sequences only");
  assert.equal(r.carry.fresh.deduction?.length, 3);
  assert.deepEqual(r.groups["propose/deduction"]!.learnabilityMean, 0.5, "proposer metrics are still reported");
});

test("selfplay step - pretrainPredSteps: the warm-up steps propose nothing and train the solver on buffer tasks; the next step proposes", async () => {
  const buffer = new TaskBuffer({ maxEntries: 100, capPolicy: "evict-oldest", dedupe: "exact", referenceSampling: "uniform", solverMix: "max-new" });
  await seed(buffer);
  const cfg = config();
  cfg.selfplay = { ...cfg.selfplay, pretrainPredSteps: 1 };
  const batches: TrainSequence[][] = [];
  const learner = { trainStep: async (b: TrainSequence[]) => (batches.push(b), { step: 1, loss: 0, gradNorm: 0, lr: 0, tokens: 0, terms: {} }) };
  const sizesBefore = await buffer.sizes();
  const warm = await runStep(1, cfg, { rollout: new ScriptedRollout(), executor, buffer, learner });
  // the seeded buffers hold 1 deduction, 1 abduction and B induction tasks: the solver draws what there is
  const held = { deduction: 1, abduction: 1, induction: B };
  assert.equal(batches[0].length, 2 + B, "solver sequences only, no proposer sequence");
  for (const type of ["deduction", "abduction", "induction"] as const) {
    assert.equal(warm.groups[`propose/${type}`]!.count, 0, `${type}: nothing proposed`);
    assert.equal(warm.groups[`solve/${type}`]!.count, held[type], `${type}: the solver draws from the buffer`);
  }
  assert.deepEqual(await buffer.sizes(), sizesBefore, "nothing admitted");
  const next = await runStep(2, cfg, { rollout: new ScriptedRollout(), executor, buffer, learner });
  for (const type of ["deduction", "abduction", "induction"] as const) assert.equal(next.groups[`propose/${type}`]!.count, B, `${type}: step 2 proposes again`);
});

test("selfplay step - trainLearnabilitySamples trains the n learnability samples in their solve groups, outside the solver metrics", async () => {
  const buffer = new TaskBuffer({ maxEntries: 100, capPolicy: "evict-oldest", dedupe: "exact", referenceSampling: "uniform", solverMix: "max-new" });
  await seed(buffer);
  const cfg = config();
  cfg.selfplay = { ...cfg.selfplay, trainLearnabilitySamples: true };
  const batches: TrainSequence[][] = [];
  const learner = { trainStep: async (b: TrainSequence[]) => (batches.push(b), { step: 1, loss: 0, gradNorm: 0, lr: 0, tokens: 0, terms: {} }) };
  const rollout = new ScriptedRollout();
  const r = await runStep(1, cfg, { rollout, executor, buffer, learner });
  assert.equal(rollout.calls, 3, "nothing is generated twice");
  // Valid proposals: 3 deduction, 3 abduction, 4 induction, each with N_SAMPLES learnability samples (2 right, 2 wrong).
  const extra = (3 + 3 + 4) * N_SAMPLES;
  assert.equal(batches[0].length, 6 * B + extra, "B proposer + B solver sequences per type, plus every learnability sample");
  for (const type of ["deduction", "abduction", "induction"] as const) assert.equal(r.groups[`solve/${type}`]!.count, B, `${type}: solver metrics count the solve batch only`);
  for (const type of ["deduction", "abduction"] as const) assert.equal(r.groups[`solve/${type}`]!.accuracy, 1, `${type}: half the learnability samples are wrong, the solve batch is not`);
  const solverAdv = batches[0].slice(3 * B).map((s) => s.advantages[0]);
  // Every deduction / abduction solve response is right while half their learnability samples are wrong: the groups' rewards now differ.
  assert.ok(solverAdv.slice(0, 2 * B).every((a) => a > 0), `solve advantages ${solverAdv.slice(0, 2 * B)}`);
  assert.ok(solverAdv.slice(3 * B).some((a) => a < 0), "the wrong learnability samples are pushed down");
  assert.ok(Math.abs(solverAdv.reduce((a, b) => a + b, 0)) < 1e-6, "each solve group's advantages still sum to 0");
});

test("selfplay step - a proposer prompt that never fits prompt.maxTokens fails the step naming the buffer", async () => {
  const buffer = new TaskBuffer({ maxEntries: 100, capPolicy: "evict-oldest", dedupe: "exact", referenceSampling: "uniform", solverMix: "max-new" });
  await seed(buffer);
  const cfg = config();
  cfg.prompt = { ...cfg.prompt, maxTokens: 10, maxRedraws: 2 };
  const rollout = new ScriptedRollout();
  const learner = { trainStep: async () => ({ step: 1, loss: 0, gradNorm: 0, lr: 0, tokens: 0, terms: {} }) };
  await assert.rejects(runStep(1, cfg, { rollout, executor, buffer, learner }), /deduction proposer prompt\(s\) still exceed prompt\.maxTokens = 10 after 2 re-draws/);
  assert.equal(rollout.calls, 0, "nothing was generated");
});

test("selfplay step - with a reference model every trained sequence carries its reference log-probs", async () => {
  const buffer = new TaskBuffer({ maxEntries: 100, capPolicy: "evict-oldest", dedupe: "exact", referenceSampling: "uniform", solverMix: "max-new" });
  await seed(buffer);
  let batch: TrainSequence[] = [];
  const learner = { trainStep: async (b: TrainSequence[]) => ((batch = b), { step: 1, loss: 0, gradNorm: 0, lr: 0, tokens: 0, terms: {} }) };
  const reference = { score: async (_p: number[][], r: number[][]) => r.map((x) => new Float32Array(x.length).fill(-2)) };
  await runStep(1, config(), { rollout: new ScriptedRollout(), executor, buffer, learner, reference });
  assert.ok(batch.length > 0);
  for (const s of batch) assert.equal(s.refLogprobs?.length, s.response.length);
});

test("selfplay step - the extra diversity reward adds to r_prop against the counters from before the step, and the buffers report their values", async () => {
  const buffer = new TaskBuffer({ maxEntries: 100, capPolicy: "evict-oldest", dedupe: "exact", referenceSampling: "uniform", solverMix: "max-new" });
  await seed(buffer);
  const cfg = config();
  cfg.reward = { ...cfg.reward, extra: { combine: "sum", terms: { ...cfg.reward.extra.terms, outputDiversity: { enabled: true, coef: 1, max: 0.3 } } } };
  const learner = { trainStep: async () => ({ step: 1, loss: 0, gradNorm: 0, lr: 0, tokens: 0, terms: {} }) };
  const r = await runStep(1, cfg, { rollout: new ScriptedRollout(), executor, buffer, learner });
  for (const type of ["deduction", "abduction"] as const) {
    // three valid proposals with unseen outputs: r_prop 0.5 + min(1 · 1, 0.3); one banned: −1
    assert.equal(r.groups[`propose/${type}`]!.rewardMean, (3 * (0.5 + 0.3) - 1) / 4, type);
  }
  assert.deepEqual(r.bufferValues.deduction, { size: 4, inputTypes: 2, inputValues: 4, outputTypes: 2, outputValues: 4 }, "'Hello world' and three ints in, three ints out");
  const c = await buffer.valueCounters("deduction");
  assert.equal(c.outputs.total, 4);
  // The counters survive a snapshot round trip, and an old (version 1) state recounts them.
  const again = new TaskBuffer({ maxEntries: 100, capPolicy: "evict-oldest", dedupe: "exact", referenceSampling: "uniform", solverMix: "max-new" });
  const { counters: _c, ...v1 } = await buffer.snapshot();
  again.loadState({ ...v1, version: 1 });
  assert.deepEqual(await again.valueCounters("deduction"), c);
});

test("selfplay step - an unknown extra reward term fails before anything is generated", async () => {
  const buffer = new TaskBuffer({ maxEntries: 100, capPolicy: "evict-oldest", dedupe: "exact", referenceSampling: "uniform", solverMix: "max-new" });
  await seed(buffer);
  const cfg = config();
  cfg.reward = { ...cfg.reward, extra: { combine: "sum", terms: { novelty: { enabled: true, coef: 1, max: 1 } } } };
  const rollout = new ScriptedRollout();
  const learner = { trainStep: async () => ({ step: 1, loss: 0, gradNorm: 0, lr: 0, tokens: 0, terms: {} }) };
  await assert.rejects(runStep(1, cfg, { rollout, executor, buffer, learner }), /reward\.extra\.terms\.novelty: no reward term of that name/);
  assert.equal(rollout.calls, 0);
});

/** Induction proposals (inputs 1–4 of the identity program: 3 and 4 hidden) and solver answers that reproduce the hidden 3 but not 4. */
class HalfRightInduction implements RolloutPort {
  async *generate(prompts: Prompt[], _o: RolloutOptions): AsyncGenerator<RolloutSample> {
    const wrap = (answer: string) => `<think>ok</think> <answer>${answer}</answer>`;
    for (const [index, p] of prompts.entries()) {
      const task = promptText(p).split("User: ")[1] ?? "";
      const text = task.startsWith("Write a Python function f")
        ? wrap("```python\ndef f(a):\n    return a if a == 3 else 0\n```")
        : wrap("```input\n1\n```\n```input\n2\n```\n```input\n3\n```\n```input\n4\n```\n```message\nreturns its input\n```");
      yield { index, promptTokens: [1, 2, 3], tokens: Array.from(text, (c) => c.charCodeAt(0)), text, finishReason: "eos", promptTooLong: false };
    }
  }
  async countTokens(prompts: Prompt[]): Promise<number[]> {
    return prompts.map((p) => promptText(p).length);
  }
}

test("selfplay step - reward.inductionMode scores induction answers in learnability and in the solve batch", async () => {
  // half the hidden pairs reproduced: binary 0, accuracy 0.5, any 1 (spec §6.2)
  for (const [mode, score] of [["binary", 0], ["accuracy", 0.5], ["any", 1]] as const) {
    const buffer = new TaskBuffer({ maxEntries: 100, capPolicy: "evict-oldest", dedupe: "exact", referenceSampling: "uniform", solverMix: "max-new" });
    await buffer.admit("deduction", [identityTriplet()], 0);
    await buffer.admit("abduction", [identityTriplet()], 0);
    const cfg = config();
    cfg.selfplay = { ...cfg.selfplay, taskTypes: ["induction"] };
    cfg.reward = { ...cfg.reward, inductionMode: mode };
    let batch: TrainSequence[] = [];
    const learner = { trainStep: async (b: TrainSequence[]) => ((batch = b), { step: 1, loss: 0, gradNorm: 0, lr: 0, tokens: 0, terms: {} }) };
    const r = await runStep(1, cfg, { rollout: new HalfRightInduction(), executor, buffer, learner });
    const g = r.groups["propose/induction"]!;
    assert.equal(g.validRate, 1, mode);
    assert.equal(g.solveRateMean, score, `${mode}: r̄`);
    assert.equal(g.learnabilityMean, score > 0 && score < 1 ? 1 - score : 0, `${mode}: r_prop`);
    // the buffer's one entry (this step's) is solved twice — as the new task and drawn again from the buffer; each answer gets the mode's score (wrong: −0.5)
    assert.equal(r.groups["solve/induction"]!.count, 2);
    assert.equal(r.groups["solve/induction"]!.rewardMean, score > 0 ? score : -0.5, `${mode}: solver reward`);
    assert.equal(batch.length, B + 2);
  }
});

/** Abduction proposals of a zero-parameter `f` (empty input); solvers answer the empty input on even indices, `1` on odd ones. */
class ZeroParamAbduction implements RolloutPort {
  async *generate(prompts: Prompt[], _o: RolloutOptions): AsyncGenerator<RolloutSample> {
    const wrap = (answer: string) => `<think>ok</think> <answer>${answer}</answer>`;
    for (const [index, p] of prompts.entries()) {
      const task = promptText(p).split("User: ")[1] ?? "";
      const text = task.startsWith("Write a new Python function")
        ? wrap("```python\ndef f():\n    return 7\n```\n```input\n```")
        : wrap(index % 2 === 0 ? "```input\n```" : "```input\n1\n```");
      yield { index, promptTokens: [1, 2, 3], tokens: Array.from(text, (c) => c.charCodeAt(0)), text, finishReason: "eos", promptTooLong: false };
    }
  }
  async countTokens(prompts: Prompt[]): Promise<number[]> {
    return prompts.map((p) => promptText(p).length);
  }
}

test("selfplay step - abduction of a zero-parameter f is solvable: the empty input is checked like any answer (§5.2, §6.2), not scored 0 unread", async () => {
  const buffer = new TaskBuffer({ maxEntries: 100, capPolicy: "evict-oldest", dedupe: "exact", referenceSampling: "uniform", solverMix: "max-new" });
  await buffer.admit("abduction", [identityTriplet()], 0);
  const cfg = config();
  cfg.selfplay = { ...cfg.selfplay, taskTypes: ["abduction"] };
  const learner = { trainStep: async () => ({ step: 1, loss: 0, gradNorm: 0, lr: 0, tokens: 0, terms: {} }) };
  const r = await runStep(1, cfg, { rollout: new ZeroParamAbduction(), executor, buffer, learner });
  const g = r.groups["propose/abduction"]!;
  assert.equal(g.validRate, 1, "an empty input for a zero-parameter f is a valid proposal (§5.2)");
  assert.equal(g.solveRateMean, 0.5, "the empty answers are right, the `1` answers wrong (f takes no argument)");
  assert.equal(g.learnabilityMean, 0.5);
});

/** Deduction proposals, the first with a 3,000-character comment (its solver prompt is over the limit); solvers answer right. */
class LongProgramRollout implements RolloutPort {
  readonly calls: string[][] = [];
  async *generate(prompts: Prompt[], _o: RolloutOptions): AsyncGenerator<RolloutSample> {
    this.calls.push(prompts.map(promptText));
    const wrap = (answer: string) => `<think>ok</think> <answer>${answer}</answer>`;
    for (const [index, p] of prompts.entries()) {
      const task = promptText(p).split("User: ")[1] ?? "";
      let text: string;
      if (task.startsWith("Write a new Python function")) {
        const comment = index === 0 ? `    # ${"x".repeat(3000)}\n` : "";
        text = wrap(`\`\`\`python\ndef f(a):\n${comment}    return a * ${index + 2}\n\`\`\`\n\`\`\`input\n${index + 1}\n\`\`\``);
      } else {
        const k = Number(/return a \* (\d+)/.exec(task)?.[1] ?? 1);
        const input = /```input\n([\s\S]*?)\n```/.exec(task)?.[1] ?? "";
        text = wrap("```output\n" + (k === 1 ? input : Number(input) * k) + "\n```");
      }
      yield { index, promptTokens: [1, 2, 3], tokens: Array.from(text, (c) => c.charCodeAt(0)), text, finishReason: "eos", promptTooLong: false };
    }
  }
  async countTokens(prompts: Prompt[]): Promise<number[]> {
    return prompts.map((p) => promptText(p).length);
  }
}

test("selfplay step - prompt.maxTokens: an over-long learnability prompt gets r̄ = 0 unsampled, an over-long solver task is replaced from the buffer", async () => {
  const buffer = new TaskBuffer({ maxEntries: 100, capPolicy: "evict-oldest", dedupe: "exact", referenceSampling: "uniform", solverMix: "max-new" });
  await buffer.admit("deduction", [identityTriplet()], 0);
  const cfg = config();
  cfg.selfplay = { ...cfg.selfplay, taskTypes: ["deduction"] };
  cfg.prompt = { ...cfg.prompt, maxTokens: 1500 };
  const rollout = new LongProgramRollout();
  const learner = { trainStep: async () => ({ step: 1, loss: 0, gradNorm: 0, lr: 0, tokens: 0, terms: {} }) };
  const r = await runStep(1, cfg, { rollout, executor, buffer, learner });
  const [propose, learn, solve] = rollout.calls;
  assert.ok(propose.every((p) => p.length <= 1500), "the proposer prompts fit");
  const g = r.groups["propose/deduction"]!;
  assert.equal(g.validRate, 1);
  assert.equal(g.newEntries, 4, "the long program is valid and enters the buffer");
  assert.equal(learn.length, 3 * N_SAMPLES, "no learnability samples for the over-long prompt");
  assert.equal(g.solveRateMean, 3 / 4, "r̄ = 0 for the long one, 1 for the three others");
  assert.equal(g.rewardMean, (-0.5 * 4) / 4, "r̄ ∈ {0, 1}: every proposal is trivial");
  assert.equal(solve.length, B, "B solver tasks");
  assert.ok(solve.every((p) => p.length <= 1500), `solver prompt lengths ${solve.map((p) => p.length)}`);
  assert.equal(r.groups["solve/deduction"]!.accuracy, 1);
});

test("selfplay step - a learnability check lost to the executor's infrastructure is excluded from r̄; lost checks are counted (§8 executor failures)", async () => {
  // f(a) loops a times: the fourth learnability answer (700000003, also right) runs for minutes, and its worker is killed under it;
  // the solve batch's one answer is that long one too, and its worker is killed while it runs.
  const program = "def f(a):\n    s = 0\n    for i in range(a):\n        s += i\n    return a % 7";
  const answers = ["3", "10", "4", "700000003"]; // right, right, wrong, lost
  const rollout: RolloutPort = {
    async *generate(prompts: Prompt[]) {
      const wrap = (answer: string) => `<think>ok</think> <answer>${answer}</answer>`;
      for (const [index, p] of prompts.entries()) {
        const task = promptText(p).split("User: ")[1] ?? "";
        const text = task.startsWith("Write a new Python function")
          ? wrap(`\`\`\`python\n${program}\n\`\`\`\n\`\`\`input\n3\n\`\`\``)
          : wrap("```input\n" + (prompts.length === N_SAMPLES ? answers[index] : "700000003") + "\n```");
        yield { index, promptTokens: [1, 2, 3], tokens: Array.from(text, (c) => c.charCodeAt(0)), text, finishReason: "eos" as const, promptTooLong: false };
      }
    },
    countTokens: async (prompts: Prompt[]) => prompts.map((p) => promptText(p).length),
  };
  const others = new Set(childProcesses("worker.py"));
  const strict = await CodeExecutor.start({ mode: "strict", workers: 1, infraRetries: 0, limits: { timeoutMs: 60_000 }, warn: () => {} });
  try {
    const mine = () => childProcesses("worker.py").filter((pid) => !others.has(pid));
    const port: ExecutorPort = {
      validateProposals: (checks) => strict.validateProposals(checks),
      async *checkAnswers(checks, opts) {
        let seen = 0;
        // The solve batch (one check): its answer runs for minutes; its worker is killed a moment after it started.
        const timer = checks.length === 1 ? setTimeout(() => mine().forEach((pid) => process.kill(pid, "SIGKILL")), 1500) : undefined;
        try {
          for await (const v of strict.checkAnswers(checks, opts)) {
            yield v;
            // the three quick answers are judged: only the long one is still running
            if (checks.length === N_SAMPLES && ++seen === N_SAMPLES - 1) for (const pid of mine()) process.kill(pid, "SIGKILL");
          }
        } finally {
          clearTimeout(timer);
        }
      },
    };
    const buffer = new TaskBuffer({ maxEntries: 100, capPolicy: "evict-oldest", dedupe: "exact", referenceSampling: "uniform", solverMix: "max-new" });
    await buffer.admit("abduction", [identityTriplet()], 0);
    const cfg = config();
    cfg.selfplay = { ...cfg.selfplay, taskTypes: ["abduction"], batchSize: 1 };
    let trained: TrainSequence[] = [];
    const learner = { trainStep: async (b: TrainSequence[]) => ((trained = b), { step: 1, loss: 0, gradNorm: 0, lr: 0, tokens: 0, terms: {} }) };
    const r = await runStep(1, cfg, { rollout, executor: port, buffer, learner });
    assert.equal(trained.length, 1, "the proposal is trained; the solver answer whose check was lost has no verdict and is not");
    const g = r.groups["propose/abduction"]!;
    assert.equal(g.validRate, 1);
    assert.equal(g.solveRateMean, 2 / 3, "r̄ over the three judged answers");
    assert.equal(g.rewardMean, 1 - 2 / 3);
    assert.equal(g.learnabilityExecutorFailures, 1, "the killed learnability check");
    const s = r.groups["solve/abduction"]!;
    assert.equal(s.count, 1);
    assert.equal(s.executorFailures, 1, "the solve batch's killed check");
  } finally {
    await strict.close();
  }
});

/** The error type: proposals that raise, return, raise on purpose, or return an object; answers name the exception. */
class ErrorRollout implements RolloutPort {
  calls = 0;
  async *generate(prompts: Prompt[], _o: RolloutOptions): AsyncGenerator<RolloutSample> {
    const call = ++this.calls;
    const wrap = (answer: string) => `<think>ok</think> <answer>${answer}</answer>`;
    for (const [index, p] of prompts.entries()) {
      const task = promptText(p).split("User: ")[1] ?? "";
      let text: string;
      if (task.startsWith("Write a new Python function")) {
        const programs = ["def f(a):\n    return 10 // a", "def f(a):\n    return a + 1", "def f(a):\n    raise ValueError(a)", "def f(a):\n    return object()"];
        text = wrap(`\`\`\`python\n${programs[index % B]}\n\`\`\`\n\`\`\`input\n0\n\`\`\``);
      } else {
        const right = call === 3 || index % N_SAMPLES < 2;
        const gold = task.includes("10 // a") ? "ZeroDivisionError" : "NoError";
        text = wrap("```output\n" + (right ? gold.toLowerCase() : "KeyError") + "\n```");
      }
      yield { index, promptTokens: [1, 2, 3], tokens: Array.from(text, (c) => c.charCodeAt(0)), text, finishReason: "eos", promptTooLong: false };
    }
  }
  async countTokens(prompts: Prompt[]): Promise<number[]> {
    return prompts.map((p) => promptText(p).length);
  }
}

test("selfplay step - the optional error type: gold exception names from the executor, banned raise, answers compared by name", async () => {
  const buffer = new TaskBuffer({ maxEntries: 100, capPolicy: "evict-oldest", dedupe: "exact", referenceSampling: "uniform", solverMix: "max-new" });
  await buffer.admit("error", [{ ...identityTriplet(), output: "NoError" }], 0);
  const cfg = config();
  cfg.selfplay = { ...cfg.selfplay, taskTypes: ["error"] };
  let batch: TrainSequence[] = [];
  const learner = { trainStep: async (b: TrainSequence[]) => ((batch = b), { step: 1, loss: 0, gradNorm: 0, lr: 0, tokens: 0, terms: {} }) };
  const r = await runStep(1, cfg, { rollout: new ErrorRollout(), executor, buffer, learner });
  const g = r.groups["propose/error"]!;
  assert.equal(g.validRate, 0.5);
  assert.deepEqual(g.invalidReasons, { "banned error keyword": 1, "output not a literal": 1 });
  assert.equal(g.solveRateMean, 0.5);
  assert.deepEqual((await buffer.entries("error")).map((e) => ("output" in e ? e.output : "")), ["NoError", "ZeroDivisionError", "NoError"]);
  assert.equal(r.groups["solve/error"]!.accuracy, 1);
  assert.equal(batch.length, 2 * B, "the error proposer and solver groups are trained");
});
