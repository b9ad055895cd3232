/**
 * Buffer and reference rules of azr-spec §4 and §12 that only show over a whole step or run, and
 * the per-group figures of a metrics line (§8) checked by hand against a scripted policy whose
 * every answer is fixed in advance. Real executor and task buffer; the model is scripted.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { identityTriplet, promptText, type Prompt } from "../../azr/index.ts";
import { CodeExecutor } from "../../actors/code-executor/index.ts";
import { runSelfplay, type DriverConfig } from "../../actors/selfplay/driver.ts";
import { runStep, type StepConfig } from "../../actors/selfplay/step.ts";
import type { RolloutOptions, RolloutPort, RolloutSample } from "../../actors/selfplay/ports.ts";
import { TaskBuffer } from "../../actors/selfplay/task-buffer.ts";
import { BASE } from "../../recipes/index.ts";
import { RecordingLearner } from "./fixtures.ts";

type Reply = string | { text: string; finishReason: "eos" | "length" };
/**
 * Answers by (call number, index, task text); records every call's task texts, and the prompt
 * lengths it reports (one token per character of the prompt, as countTokens counts).
 */
class Scripted implements RolloutPort {
  calls: string[][] = [];
  promptLengths: number[][] = [];
  constructor(private readonly reply: (call: number, index: number, task: string) => Reply) {}
  async *generate(prompts: Prompt[], _o: RolloutOptions): AsyncGenerator<RolloutSample> {
    const tasks = prompts.map((p) => promptText(p).split("User: ")[1] ?? "");
    this.calls.push(tasks);
    this.promptLengths.push(prompts.map((p) => promptText(p).length));
    for (const [index, task] of tasks.entries()) {
      const r = this.reply(this.calls.length, index, task);
      const { text, finishReason } = typeof r === "string" ? { text: r, finishReason: "eos" as const } : r;
      const promptTokens = Array.from(promptText(prompts[index]), (c) => c.charCodeAt(0));
      yield { index, promptTokens, tokens: Array.from(text, (c) => c.charCodeAt(0)), text, finishReason, promptTooLong: false };
    }
  }
  async countTokens(prompts: Prompt[]): Promise<number[]> {
    return prompts.map((p) => promptText(p).length);
  }
  async setWeights(): Promise<void> {}
}

const wrap = (answer: string) => `<think>ok</think><answer>${answer}</answer>`;
const propose = (program: string, input: string) => "```python\n" + program + "\n```\n```input\n" + input + "\n```";
const programOf = (task: string) => /```python\n([\s\S]*?)\n```/.exec(task)?.[1] ?? "";
/** The last fence of a language in a task text. */
const fenced = (task: string, tag: string) => [...task.matchAll(new RegExp("```" + tag + "\\n([\\s\\S]*?)\\n```", "g"))].at(-1)?.[1];

function driverConfig(): DriverConfig {
  return {
    ...BASE,
    selfplay: { ...BASE.selfplay, taskTypes: ["deduction", "abduction"], batchSize: 4, nSamples: 2, references: 2, inductionInputs: 2, steps: 1 },
    prompt: { ...BASE.prompt, variant: "compact" },
    seed: { ...BASE.seed, topUp: false },
    trainer: { ...BASE.trainer, saveEvery: 10 },
    eval: { ...BASE.eval, every: 0 },
  };
}

const newBuffer = () => new TaskBuffer({ maxEntries: 100, capPolicy: "evict-oldest", dedupe: "exact", referenceSampling: "uniform", solverMix: "max-new" });

let executor: CodeExecutor;
before(async () => {
  executor = await CodeExecutor.start({ workers: 1, warn: () => {} });
});
after(async () => {
  await executor?.close();
});

async function runOneStep(cfg: DriverConfig, rollout: Scripted, buffer = newBuffer()): Promise<{ line: Record<string, any>; buffer: TaskBuffer }> {
  const runDir = mkdtempSync(join(tmpdir(), "azr-buffer-rules-"));
  try {
    await runSelfplay(cfg, { rollout, executor, buffer, learner: new RecordingLearner() }, { runDir, log: () => {} });
    const lines = readFileSync(join(runDir, "metrics.jsonl"), "utf8").trim().split("\n");
    assert.equal(lines.length, 1);
    return { line: JSON.parse(lines[0]), buffer };
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}

test("buffer rules - solveFrom previous-step: step 1 solves the seeds as its new tasks (§4.3 'at t = 1: the seeds')", async () => {
  const cfg = driverConfig();
  cfg.selfplay = { ...cfg.selfplay, solveFrom: "previous-step" };
  // Every proposal is unparsable, so the buffers hold the identity seed alone when the solver draws.
  const rollout = new Scripted(() => wrap("no idea"));
  const { line } = await runOneStep(cfg, rollout);
  assert.equal(line.bufferSizes.deduction, 1);
  // New = the seed (up to L = 4), then the rest from the whole buffer without replacement, which
  // may draw a new one again: the identity task twice. Solving nothing new gave it once.
  for (const type of ["deduction", "abduction"]) assert.equal(line.groups[`solve/${type}`].count, 2, `${type}: the seed as new, then drawn from the buffer`);
  const solveTasks = rollout.calls.at(-1)!;
  assert.equal(solveTasks.length, 4);
  assert.ok(solveTasks.every((t) => programOf(t) === "def f(a):\n    return a"), "every solver task is the identity seed");
});

/** Mean, min, max of numbers, written out here rather than taken from the code under test. */
const spreadOf = (xs: number[]) => ({ mean: xs.reduce((a, b) => a + b, 0) / xs.length, min: Math.min(...xs), max: Math.max(...xs) });
/** TRR++ advantages of one group by §7.1 (per-response statistics, Bessel-corrected; all equal → 0). */
function advantagesOf(rewards: number[]): number[] {
  const n = rewards.length;
  const mu = rewards.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? rewards.reduce((a, r) => a + (r - mu) ** 2, 0) / (n - 1) : 0;
  return rewards.every((r) => r === rewards[0]) ? rewards.map(() => 0) : rewards.map((r) => (r - mu) / Math.sqrt(variance + 1e-8));
}
function nearSpread(got: { mean: number; min: number; max: number } | undefined, want: { mean: number; min: number; max: number }, what: string) {
  assert.ok(got, `${what}: missing`);
  for (const k of ["mean", "min", "max"] as const) assert.ok(Math.abs(got[k] - want[k]) < 1e-9, `${what} ${k}: ${got[k]} ≠ ${want[k]}`);
}

/**
 * The scripted step of the field-by-field test. Proposals: call 1, deduction prompts 0–3 then abduction prompts 4–7.
 *  d0 f=a*3 on 1 (valid, r̄ 1/2, 3 lines)   d1 f=a*5 on 2 (valid, bad tags, r̄ 1, 2 lines + a comment and a blank)   d2 banned import   d3 f=a*7 on 3 (valid, r̄ 0, hit the length limit)
 *  a0 no program                           a1 f=a+10 on 5 (valid, r̄ 1/2)   a2 = a1 (duplicate)   a3 raises
 * `solved` gets the solve batch's scripted outcomes in order; `learnability` each learnability sample's.
 */
function scriptedStep() {
  const proposals: Reply[] = [
    wrap(propose("def f(a):\n    x = 0\n    return a * 3", "1")),
    "<think>ok<answer>" + propose("def f(a):\n    # five times\n\n    return a * 5", "2") + "</answer>",
    wrap(propose("import random\ndef f(a):\n    return random.random()", "1")),
    { text: wrap(propose("def f(a):\n    return a * 7", "3")), finishReason: "length" },
    wrap("I give up"),
    wrap(propose("def f(a):\n    return a + 10", "5")),
    wrap(propose("def f(a):\n    return a + 10", "5")),
    wrap(propose("def f(a):\n    return a // 0", "1")),
  ];
  const solved: { reward: number; formatOk: boolean; correct: boolean }[] = [];
  const learnability: { type: "deduction" | "abduction"; reward: number }[] = [];
  const rollout = new Scripted((call, index, task) => {
    if (call === 1) return proposals[index];
    const program = programOf(task);
    const k = Number(/return a [*+] (\d+)/.exec(program)?.[1] ?? 0);
    const deduction = task.startsWith("Predict the output");
    const value = deduction ? Number(fenced(task, "input")) : Number(fenced(task, "output"));
    const right = deduction ? String(program.includes("+") ? value + k : value * (k || 1)) : String(program.includes("+") ? value - k : value / (k || 1));
    const tag = deduction ? "output" : "input";
    const answer = (ok: boolean) => wrap("```" + tag + "\n" + (ok ? right : "-99") + "\n```");
    if (call === 2) {
      // Learnability, n = 2 per valid proposal: sample 0 right for ×3 and +10; both right for ×5; both wrong for ×7.
      const s = index % 2;
      const ok = k === 5 || ((k === 3 || k === 10) && s === 0);
      learnability.push({ type: deduction ? "deduction" : "abduction", reward: ok ? 1 : -0.5 });
      return answer(ok);
    }
    // The solve batch: ×3 and ×7 right, ×5 and +10 wrong, the identity task answered right but without
    // its <think> tags (F = 0: reward −1, and not counted correct — §6.2 scores untagged answers as failures).
    if (program === "def f(a):\n    return a") {
      solved.push({ reward: -1, formatOk: false, correct: false });
      return "<answer>```" + tag + "\n'Hello world'\n```</answer>";
    }
    const ok = k === 3 || k === 7;
    solved.push({ reward: ok ? 1 : -0.5, formatOk: true, correct: ok });
    return answer(ok);
  });
  return { proposals, solved, learnability, rollout };
}

test("buffer rules - a metrics line's per-group figures, by hand: counts, rewards, format, valid and solve rates, learnability, new entries", async () => {
  const cfg = driverConfig();
  const { proposals, solved, rollout } = scriptedStep();
  const { line } = await runOneStep(cfg, rollout);
  const near = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} ≠ ${b}`);

  const len = (r: Reply) => (typeof r === "string" ? r : r.text).length;
  const pd = line.groups["propose/deduction"];
  assert.equal(pd.count, 4);
  near(pd.rewardMean, (0.5 + -1 + -1 + -0.5) / 4, "propose/deduction reward: r_prop 0.5, bad tags −1, invalid −1, never solved −0.5");
  near(pd.formatRate, 3 / 4, "propose/deduction format rate");
  near(pd.validRate, 3 / 4, "propose/deduction valid rate");
  assert.deepEqual(pd.invalidReasons, { "banned import": 1 });
  near(pd.solveRateMean, (0.5 + 1 + 0) / 3, "mean r̄ over the valid proposals");
  near(pd.learnabilityMean, (0.5 + 0 + 0) / 3, "mean r_prop over the valid proposals (r̄ 1 and 0 give 0)");
  assert.equal(pd.newEntries, 3, "every valid proposal enters, bad tags and r̄ ∈ {0, 1} included");
  near(pd.clipRatio, 1 / 4, "one proposal hit the length limit");
  assert.deepEqual(pd.responseLength, { mean: proposals.slice(0, 4).reduce((a, r) => a + len(r), 0) / 4, max: Math.max(...proposals.slice(0, 4).map(len)), min: Math.min(...proposals.slice(0, 4).map(len)) });

  const pa = line.groups["propose/abduction"];
  assert.equal(pa.count, 4);
  near(pa.rewardMean, (-1 + 0.5 + 0.5 + -1) / 4, "propose/abduction reward: the duplicate is still a valid proposal with its own reward");
  near(pa.validRate, 2 / 4, "propose/abduction valid rate");
  assert.equal(pa.invalidReasons["no program"], 1);
  assert.equal(Object.values(pa.invalidReasons as Record<string, number>).reduce((a, b) => a + b, 0), 2, JSON.stringify(pa.invalidReasons));
  near(pa.solveRateMean, 0.5, "abduction mean r̄");
  near(pa.learnabilityMean, 0.5, "abduction mean r_prop");
  assert.equal(pa.newEntries, 1, "a duplicate is not new");
  assert.deepEqual(line.bufferSizes, { deduction: 4, abduction: 2, induction: 1 });

  // Solver groups: exactly the solve batch (call 3), split by the task type of each prompt.
  const solveTasks = rollout.calls[2];
  assert.equal(solveTasks.length, solved.length);
  for (const type of ["deduction", "abduction"] as const) {
    const mine = solved.filter((_, i) => solveTasks[i].startsWith(type === "deduction" ? "Predict the output" : "Give one input"));
    // max-new: deduction has 3 new + 1 from its 4 entries; abduction 1 new + its 2 entries (all it holds).
    assert.equal(mine.length, type === "deduction" ? 4 : 3, `${type}: solve count`);
    const g = line.groups[`solve/${type}`];
    assert.equal(g.count, mine.length);
    near(g.rewardMean, mine.reduce((a, s) => a + s.reward, 0) / mine.length, `solve/${type} reward mean`);
    near(g.formatRate, mine.filter((s) => s.formatOk).length / mine.length, `solve/${type} format rate`);
    near(g.accuracy, mine.filter((s) => s.correct).length / mine.length, `solve/${type} accuracy`);
  }
  assert.ok(solveTasks.slice(0, 4).filter((t) => /return a \* [357]/.test(programOf(t))).length >= 3, "the deduction solve batch holds the step's 3 new tasks");
});

test("buffer rules - a metrics line's §8 spreads, by hand: reward / advantage / return mean-min-max, prompt length, program lines, executor failures", async () => {
  const cfg = driverConfig();
  const { solved, rollout } = scriptedStep();
  const { line } = await runOneStep(cfg, rollout);
  const SQRT_HALF = Math.sqrt(0.5 + 1e-8), SQRT_3_4 = Math.sqrt(0.75 + 1e-8);

  // propose/deduction: rewards 0.5 (r_prop), −1 (bad tags), −1 (invalid), −0.5 (never solved); μ = −0.5, σ² = 1.5/3 = 0.5.
  const pd = line.groups["propose/deduction"];
  nearSpread(pd.reward, { mean: -0.5, min: -1, max: 0.5 }, "propose/deduction reward");
  nearSpread(pd.advantage, { mean: 0, min: -0.5 / SQRT_HALF, max: 1 / SQRT_HALF }, "propose/deduction advantage");
  nearSpread(pd.return, { mean: -0.5, min: -1, max: 0.5 }, "propose/deduction return: R on every token (γ = 1), all four trained");
  // Valid d0, d1, d3: 3 lines (x = 0), 2 (the comment and blank line do not count), 2.
  assert.deepEqual(pd.programLines, { mean: 7 / 3, max: 3 });
  assert.equal(pd.learnabilityExecutorFailures, 0);
  const pdPrompts = rollout.promptLengths[0].slice(0, 4);
  assert.deepEqual(pd.promptLength, { mean: pdPrompts.reduce((a, b) => a + b, 0) / 4, max: Math.max(...pdPrompts) });

  // propose/abduction: −1 (no program), 0.5, 0.5 (the duplicate), −1 (raises); μ = −0.25, σ² = 4 · 0.5625 / 3 = 0.75.
  const pa = line.groups["propose/abduction"];
  nearSpread(pa.reward, { mean: -0.25, min: -1, max: 0.5 }, "propose/abduction reward");
  nearSpread(pa.advantage, { mean: 0, min: -0.75 / SQRT_3_4, max: 0.75 / SQRT_3_4 }, "propose/abduction advantage");
  nearSpread(pa.return, { mean: -0.25, min: -1, max: 0.5 }, "propose/abduction return");
  assert.deepEqual(pa.programLines, { mean: 2, max: 2 }, "a1 and its duplicate a2: both valid");
  const paPrompts = rollout.promptLengths[0].slice(4, 8);
  assert.deepEqual(pa.promptLength, { mean: paPrompts.reduce((a, b) => a + b, 0) / 4, max: Math.max(...paPrompts) });

  const solveTasks = rollout.calls[2];
  for (const type of ["deduction", "abduction"] as const) {
    const mine = solved.map((s, i) => ({ ...s, i })).filter((s) => solveTasks[s.i].startsWith(type === "deduction" ? "Predict the output" : "Give one input"));
    const g = line.groups[`solve/${type}`];
    const rewards = mine.map((s) => s.reward);
    nearSpread(g.reward, spreadOf(rewards), `solve/${type} reward`);
    nearSpread(g.advantage, spreadOf(advantagesOf(rewards)), `solve/${type} advantage`);
    nearSpread(g.return, spreadOf(rewards), `solve/${type} return`);
    assert.ok(g.advantage.max > g.advantage.min, `solve/${type}: rewards differ, so do advantages`);
    const prompts = mine.map((s) => rollout.promptLengths[2][s.i]);
    assert.deepEqual(g.promptLength, { mean: prompts.reduce((a, b) => a + b, 0) / prompts.length, max: Math.max(...prompts) });
    assert.equal(g.executorFailures, 0, "every answer check judged");
    assert.equal(g.programLines, undefined, "a proposer figure");
  }
});

test("buffer rules - with selfplay.trainLearnabilitySamples the solve groups' advantage / return cover the learnability samples; the other figures the solve batch only", async () => {
  const cfg = driverConfig();
  cfg.selfplay = { ...cfg.selfplay, trainLearnabilitySamples: true };
  const { solved, learnability, rollout } = scriptedStep();
  const { line } = await runOneStep(cfg, rollout);
  const solveTasks = rollout.calls[2];
  for (const type of ["deduction", "abduction"] as const) {
    const mine = solved.filter((_, i) => solveTasks[i].startsWith(type === "deduction" ? "Predict the output" : "Give one input")).map((s) => s.reward);
    const all = [...mine, ...learnability.filter((l) => l.type === type).map((l) => l.reward)];
    assert.equal(all.length - mine.length, type === "deduction" ? 3 * 2 : 2 * 2, `${type}: n = 2 learnability samples per valid proposal`);
    const g = line.groups[`solve/${type}`];
    assert.equal(g.count, mine.length, "count: the solve batch");
    nearSpread(g.reward, spreadOf(mine), `solve/${type} reward: the solve batch`);
    nearSpread(g.return, spreadOf(all), `solve/${type} return: every trained response`);
    // Normalised together: the advantage of the solve batch and the learnability samples come from one μ_g, σ_g.
    nearSpread(g.advantage, spreadOf(advantagesOf(all)), `solve/${type} advantage`);
  }
});

test("buffer rules - composite functions (§12): the proposer sees g_i from its buffer, f must call each, the stored task runs them", async () => {
  const buffer = newBuffer();
  await buffer.admit("deduction", [{ ...identityTriplet(), program: "import math\ndef f(a):\n    return math.floor(a)", input: "2.5", output: "2", imports: ["import math"] }], 0);
  const cfg: StepConfig = {
    ...BASE,
    selfplay: { ...BASE.selfplay, taskTypes: ["deduction"], batchSize: 3, nSamples: 2, references: 1, compositeFunctionsMin: 1, compositeFunctionsMax: 1 },
    prompt: { ...BASE.prompt, variant: "compact" },
    validation: { ...BASE.validation, rejectMultipleFunctions: false },
  };
  const replies = [
    wrap(propose("def f(a):\n    return g_0(a) * 2", "4.5")),
    wrap(propose("def f(a):\n    return a * 2", "4")),
    wrap(propose("def g_0(a):\n    return 0\n\ndef f(a):\n    return g_0(a)", "4")),
  ];
  const rollout = new Scripted((call, index) => (call === 1 ? replies[index] : wrap("```output\n8\n```")));
  const r = await runStep(1, cfg, { rollout, executor, buffer, learner: new RecordingLearner() });
  for (const task of rollout.calls[0]) assert.match(task, /```python\nimport math\ndef g_0\(a\):\n    return math\.floor\(a\)\n```/, "the buffer's program, renamed g_0, in every proposer prompt");
  const g = r.groups["propose/deduction"]!;
  assert.deepEqual(g.invalidReasons, { "composite functions not called": 1, "redefines a composite function": 1 });
  assert.equal(g.newEntries, 1);
  const stored = (await buffer.entries("deduction")).at(-1)! as { program: string; output: string; imports: string[] };
  assert.equal(stored.program, "import math\ndef g_0(a):\n    return math.floor(a)\n\ndef f(a):\n    return g_0(a) * 2");
  assert.equal(stored.output, "8", "f(4.5) = floor(4.5) * 2, run with g_0 defined");
  assert.deepEqual(stored.imports, ["import math"]);
  near1(g.solveRateMean!, 1, "the solver sees g_0 and f and answers 8");
  assert.deepEqual(g.programLines, { mean: 2, max: 2 }, "program lines: the proposer's own f, not the g_0 copied in (§8)");

  // Off (0/0, every published recipe): no g_i in the prompt.
  const plain = newBuffer();
  await plain.admit("deduction", [identityTriplet()], 0);
  const off = new Scripted((call, index) => (call === 1 ? replies[index] : wrap("```output\n8\n```")));
  const r0 = await runStep(1, { ...cfg, selfplay: { ...cfg.selfplay, compositeFunctionsMin: 0, compositeFunctionsMax: 0 } }, { rollout: off, executor, buffer: plain, learner: new RecordingLearner() });
  assert.equal(off.calls[0].length, 3);
  for (const task of off.calls[0]) assert.doesNotMatch(task, /g_0/);
  assert.equal(r0.groups["propose/deduction"]!.invalidReasons!["composite functions not called"], undefined, "no composite rule when off");
});

function near1(a: number, b: number, what: string) {
  assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} ≠ ${b}`);
}
