/**
 * The driver over in-process ports (a real executor and task buffer, a scripted model, a learner
 * that records): the seed top-up from the identity seeds when no seed file is given, the seed
 * files it leaves in the run folder, and the in-training evaluation every `eval.every` steps
 * written into the metrics lines. The actor wiring is e2e.test.ts's job.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { writeSafetensors } from "../../model/safetensors.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseSeedFile, parseTripletSeedLine, promptText, type Prompt } from "../../azr/index.ts";
import { CodeExecutor } from "../../actors/code-executor/index.ts";
import { InTrainingEval, type InTrainingConfig } from "../../actors/eval/in-training.ts";
import { runSelfplay, type DriverConfig } from "../../actors/selfplay/driver.ts";
import { completeCheckpoints } from "../../actors/selfplay/run-folder.ts";
import { checkResume } from "../../cli/commands/selfplay.ts";
import type { RolloutOptions, RolloutSample } from "../../actors/selfplay/ports.ts";
import { TaskBuffer } from "../../actors/selfplay/task-buffer.ts";
import { ActorDiedError } from "../../runtime/index.ts";
import { BASE } from "../../recipes/index.ts";
import { RecordingLearner } from "./fixtures.ts";

const HELDOUT = join(import.meta.dirname, "..", "eval", "fixtures", "heldout.jsonl");

/** Proposes `return a * k` programs (unique per call and prompt), answers the held-out `x + 1` task right and nothing else. */
class ScriptedPolicy {
  calls = 0;
  versions: number[] = [];
  async *generate(prompts: Prompt[], _o: RolloutOptions): AsyncGenerator<RolloutSample> {
    const call = ++this.calls;
    for (const [index, p] of prompts.entries()) {
      const task = promptText(p).split("User: ")[1] ?? "";
      const k = 100 * call + index + 2;
      let text = "<think>no idea</think><answer></answer>";
      const wrap = (answer: string) => `<think>plan</think><answer>${answer}</answer>`;
      if (task.startsWith("Write a new Python function")) text = wrap(`\`\`\`python\ndef f(a):\n    return a * ${k}\n\`\`\`\n\`\`\`input\n${k}\n\`\`\``);
      else if (task.startsWith("Write ")) text = wrap(`\`\`\`input\n${k}\n\`\`\`\n\`\`\`input\n${-k}\n\`\`\`\n\`\`\`message\nsigned numbers\n\`\`\``);
      else if (task.includes("return x + 1")) text = "<think>3 + 1</think><answer>```output\n4\n```</answer>";
      yield { index, promptTokens: [1], tokens: [2, 3], text, finishReason: "eos", promptTooLong: false, logprobs: new Float32Array(2) };
    }
  }
  async countTokens(prompts: Prompt[]): Promise<number[]> {
    return prompts.map((p) => promptText(p).length);
  }
  async setWeights(_w: Map<string, Float32Array>, version: number): Promise<void> {
    this.versions.push(version);
  }
}

function config(): DriverConfig & InTrainingConfig {
  return {
    ...BASE,
    selfplay: { ...BASE.selfplay, batchSize: 2, nSamples: 2, references: 2, inductionInputs: 2, steps: 2 },
    prompt: { ...BASE.prompt, variant: "compact" },
    seed: { ...BASE.seed, factor: 2, maxRounds: 4 },
    trainer: { ...BASE.trainer, saveEvery: 2 },
    eval: { ...BASE.eval, every: 2, suites: ["tiny"], data: HELDOUT, maxNewTokens: 16 },
  };
}

/** The task buffer every test here runs with (room for every entry, exact dedupe). */
const newBuffer = () => new TaskBuffer({ maxEntries: 100, capPolicy: "evict-oldest", dedupe: "exact", referenceSampling: "uniform", solverMix: "max-new" });

let executor: CodeExecutor;
before(async () => {
  executor = await CodeExecutor.start({ workers: 1, warn: () => {} });
});
after(async () => {
  await executor?.close();
});

test("selfplay driver - no seed file: the identity seeds are topped up to S·B with model-made seeds, written to the run folder", async () => {
  const runDir = mkdtempSync(join(tmpdir(), "azr-driver-"));
  try {
    const cfg = config();
    cfg.selfplay = { ...cfg.selfplay, steps: 1 };
    cfg.eval = { ...cfg.eval, every: 0 };
    const buffer = newBuffer();
    const lines: string[] = [];
    await runSelfplay(cfg, { rollout: new ScriptedPolicy(), executor, buffer, learner: new RecordingLearner() }, { runDir, log: (l) => lines.push(l) });
    const seeds = parseSeedFile(readFileSync(join(runDir, "seed-triplets.jsonl"), "utf8"), "seed-triplets.jsonl", 100, parseTripletSeedLine);
    assert.equal(seeds.length, 4, "S·B = 2 × 2");
    assert.equal(seeds[0].program, "def f(a):\n    return a", "starts from the identity triplet");
    assert.equal(readFileSync(join(runDir, "seed-induction.jsonl"), "utf8").trim().split("\n").length, 4);
    assert.ok(lines.some((l) => /topping up to 4 with model-made seeds/.test(l)), lines.join("\n"));
    const entries = await buffer.entries("deduction", 100);
    assert.ok(entries.filter((e) => e.step === 0).length === 4, "the seeds are step 0 in both triplet buffers");
    assert.ok((await buffer.entries("abduction", 100)).filter((e) => e.step === 0).length === 4);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test("selfplay driver - with seed.topUp off and no seed file the run starts from the identity seeds alone", async () => {
  const runDir = mkdtempSync(join(tmpdir(), "azr-driver-"));
  try {
    const cfg = config();
    cfg.selfplay = { ...cfg.selfplay, steps: 1 };
    cfg.seed = { ...cfg.seed, topUp: false };
    cfg.eval = { ...cfg.eval, every: 0 };
    const buffer = newBuffer();
    const rollout = new ScriptedPolicy();
    await runSelfplay(cfg, { rollout, executor, buffer, learner: new RecordingLearner() }, { runDir, log: () => {} });
    assert.equal(existsSync(join(runDir, "seed-triplets.jsonl")), false);
    assert.equal((await buffer.entries("deduction", 100)).filter((e) => e.step === 0).length, 1);
    assert.equal(rollout.calls, 3, "propose, learnability, solve: no seeding calls");
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test("selfplay driver - in-training evaluation every eval.every steps on the current weights, into metrics.jsonl and the run folder", async () => {
  const runDir = mkdtempSync(join(tmpdir(), "azr-driver-"));
  const cfg = config();
  const rollout = new ScriptedPolicy();
  const evaluator = new InTrainingEval(cfg, { rollout, executor }, { runDir, workers: 1, benchmarks: "/nonexistent" });
  try {
    cfg.eval = { ...cfg.eval, every: 2 };
    cfg.selfplay = { ...cfg.selfplay, steps: 3 };
    const buffer = newBuffer();
    const evaluatedAt: number[] = [];
    await runSelfplay(cfg, { rollout, executor, buffer, learner: new RecordingLearner() }, {
      runDir, log: () => {}, evaluate: (step) => (evaluatedAt.push(rollout.versions.at(-1)!), evaluator.evaluate(step)),
    });
    assert.deepEqual(evaluatedAt, [2], "after step 2, with the weights of step 2 published");
    const lines = readFileSync(join(runDir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.eval !== undefined), [false, true, false]);
    assert.deepEqual(lines[1].eval.benchmarks, {
      tiny: { n: 3, correct: 1, accuracy: 1 / 3 },
      // per task type too (2cff8c6)
      "tiny/deduction": { n: 1, correct: 1, accuracy: 1 }, "tiny/abduction": { n: 1, correct: 0, accuracy: 0 }, "tiny/induction": { n: 1, correct: 0, accuracy: 0 },
    }, "only the x + 1 deduction task is answered right");
    const records = readFileSync(join(runDir, "eval", "step-2.problems.jsonl"), "utf8").trim().split("\n");
    assert.equal(records.length, 3);
    // Step 2 again (a run resumed from an older checkpoint replays it) with other weights: the
    // earlier attempt's records are not reused.
    const forgetful = new InTrainingEval(cfg, { rollout: { ...rollout, generate: async function* (prompts: Prompt[]) {
      for (const index of prompts.keys()) yield { index, promptTokens: [1], tokens: [2], text: "<think>?</think><answer></answer>", finishReason: "eos" as const, promptTooLong: false };
    } } as unknown as ScriptedPolicy, executor }, { runDir, workers: 1, benchmarks: "/nonexistent" });
    try {
      assert.equal((await forgetful.evaluate(2)).benchmarks.tiny.correct, 0, "scored on the weights it holds now");
    } finally {
      await forgetful.close();
    }
    // A failing evaluation is recorded and logged; the run goes on.
    const again = mkdtempSync(join(tmpdir(), "azr-driver-"));
    try {
      const buffer2 = newBuffer();
      const r = await runSelfplay(cfg, { rollout, executor, buffer: buffer2, learner: new RecordingLearner() }, {
        runDir: again, log: () => {}, evaluate: async () => { throw new Error("scorer lost"); },
      });
      assert.equal(r?.step, 3);
      const l2 = readFileSync(join(again, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
      assert.equal(l2[1].evalError, "scorer lost");
    } finally {
      rmSync(again, { recursive: true, force: true });
    }
  } finally {
    await evaluator.close();
    rmSync(runDir, { recursive: true, force: true });
  }
});

test("selfplay driver - with the error type on and no seed.errors file, its buffer starts from the identity program (gold NoError)", async () => {
  const runDir = mkdtempSync(join(tmpdir(), "azr-driver-"));
  try {
    const cfg = config();
    cfg.selfplay = { ...cfg.selfplay, steps: 1, taskTypes: ["deduction", "abduction", "induction", "error"] };
    cfg.seed = { ...cfg.seed, topUp: false };
    cfg.eval = { ...cfg.eval, every: 0 };
    const buffer = newBuffer();
    const r = await runSelfplay(cfg, { rollout: new ScriptedPolicy(), executor, buffer, learner: new RecordingLearner() }, { runDir, log: () => {} });
    const seeds = (await buffer.entries("error", 100)).filter((e) => e.step === 0);
    assert.deepEqual(seeds.map((e) => ("output" in e ? [e.program, e.input, e.output] : [])), [["def f(a):\n    return a", "'Hello world'", "NoError"]]);
    assert.ok(r!.groups["propose/error"] && r!.groups["solve/error"], "the error groups ran");
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test("selfplay driver - a seed file short of B with seed.topUp off stops the run naming the file", async () => {
  const runDir = mkdtempSync(join(tmpdir(), "azr-driver-"));
  try {
    const file = join(runDir, "short_seed_io.jsonl");
    const line = (snippet: string, input: string) => JSON.stringify({ snippet, input, output: "1", imports: [] }) + "\n";
    // one good entry, the same again with other spacing (a duplicate), one that raises
    writeFileSync(file, line("def f(a):\n    return a", "1") + line("def f(a):\n    return  a", " 1") + line("def f(a):\n    return a.x", "1"));
    const cfg = config();
    cfg.seed = { ...cfg.seed, dir: runDir, triplets: file, topUp: false };
    const buffer = newBuffer();
    await assert.rejects(
      runSelfplay(cfg, { rollout: new ScriptedPolicy(), executor, buffer, learner: new RecordingLearner() }, { runDir: join(runDir, "run"), log: () => {} }),
      (e: Error) => e.name === "RunFolderError" && e.message.includes(`${file}: only 1 seed entries survived re-validation, fewer than the batch size 2`) && /seed\.topUp/.test(e.message),
    );
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test("selfplay driver - a seed file's induction programs are re-validated with the ban list (§4.2: checks 1–7), as proposals are", async () => {
  const runDir = mkdtempSync(join(tmpdir(), "azr-driver-"));
  try {
    const file = join(runDir, "code_f_seed_io.jsonl");
    const line = (snippet: string, inputs: string[]) => JSON.stringify({ snippet, inputs, outputs: inputs, message: "returns its input", imports: [] }) + "\n";
    // two clean programs, and one that imports a banned module (deterministic, so only the ban list can drop it)
    writeFileSync(file, line("def f(a):\n    return a", ["1", "2"]) + line("def f(b):\n    return b", ["3", "4"]) + line("import time\ndef f(a):\n    return a", ["5", "6"]));
    const cfg = config();
    cfg.seed = { ...cfg.seed, dir: runDir, induction: file, topUp: false };
    cfg.eval = { ...cfg.eval, every: 0 };
    const buffer = newBuffer();
    const lines: string[] = [];
    await runSelfplay(cfg, { rollout: new ScriptedPolicy(), executor, buffer, learner: new RecordingLearner() }, { runDir: join(runDir, "run"), stopAfter: 0, log: (l) => lines.push(l) });
    const seeds = (await buffer.entries("induction", 100)).filter((e) => e.step === 0);
    assert.deepEqual(seeds.map((e) => e.program), ["def f(a):\n    return a", "def f(b):\n    return b"], "the banned-import program is not a seed");
    assert.ok(lines.some((l) => /2\/3 induction entries re-validated \(dropped: banned import ×1\)/.test(l)), lines.join("\n"));
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

for (const offPolicy of [0, 1] as const)
test(`selfplay driver - a stop request (Ctrl-C) between due checkpoints saves the step it ends on${offPolicy ? " (off-policy)" : ""}`, async () => {
  const runDir = mkdtempSync(join(tmpdir(), "azr-driver-"));
  try {
    const cfg = config();
    cfg.selfplay = { ...cfg.selfplay, steps: 6, offPolicy };
    cfg.trainer = { ...cfg.trainer, saveEvery: 4 };
    cfg.eval = { ...cfg.eval, every: 0 };
    const buffer = newBuffer();
    const stop = new AbortController();
    await assert.rejects(
      runSelfplay(cfg, { rollout: new ScriptedPolicy(), executor, buffer, learner: new RecordingLearner() }, {
        runDir, log: () => {}, signal: stop.signal, onStep: (r) => { if (r.step === 1) stop.abort(); },
      }),
      (e: Error) => e.name === "AbortError",
    );
    // Off-policy, step 2 was being collected when step 1 completed: the pipeline drains, and the
    // stop is saved once, at the last step that completes.
    const end = offPolicy ? 2 : 1;
    assert.deepEqual(completeCheckpoints(runDir).map((c) => c.step), [end], `step ${end} is saved although saveEvery is 4: a resume continues from it`);
    assert.equal(readFileSync(join(runDir, "metrics.jsonl"), "utf8").trim().split("\n").length, end);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test("selfplay driver - a run that died between due checkpoints resumes from the last one with each step's metrics line once (a line the crash cut short dropped)", async () => {
  const runDir = mkdtempSync(join(tmpdir(), "azr-driver-"));
  try {
    const cfg = config();
    cfg.selfplay = { ...cfg.selfplay, steps: 4 };
    cfg.trainer = { ...cfg.trainer, saveEvery: 2 };
    cfg.eval = { ...cfg.eval, every: 0 };
    const metrics = join(runDir, "metrics.jsonl");
    // The driver dies after step 3's line (before step 4's was whole): the checkpoint of step 2 is the last.
    await assert.rejects(runSelfplay(cfg, { rollout: new ScriptedPolicy(), executor, buffer: newBuffer(), learner: new RecordingLearner() }, {
      runDir, log: () => {}, onStep: (r) => {
        if (r.step === 3) {
          appendFileSync(metrics, '{"time":"2026-01-01T00:00:00.000Z","step":4,"gro');
          throw new Error("killed");
        }
      },
    }), /killed/);
    assert.deepEqual(completeCheckpoints(runDir).map((c) => c.step), [2]);
    // A new driver process and new actors: --resume.
    const r = await runSelfplay(cfg, { rollout: new ScriptedPolicy(), executor, buffer: newBuffer(), learner: new RecordingLearner() }, { runDir, resume: true, log: () => {} });
    assert.equal(r?.step, 4);
    const lines = readFileSync(metrics, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number });
    assert.deepEqual(lines.map((l) => l.step), [1, 2, 3, 4], "steps 3 and 4 once each: the resumed run's, not the lost run's as well");
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test("selfplay driver - a learner that keeps dying before the first checkpoint stops the run with advice --resume takes (none to resume: another --run-dir)", async () => {
  const runDir = mkdtempSync(join(tmpdir(), "azr-driver-"));
  try {
    const cfg = config();
    cfg.selfplay = { ...cfg.selfplay, steps: 2 };
    cfg.eval = { ...cfg.eval, every: 0 };
    const buffer = newBuffer();
    // Every update kills it; each new incarnation answers at its start (version 0), so the driver rolls back each time.
    const learner = new (class extends RecordingLearner {
      override async trainStep(): Promise<never> {
        throw new ActorDiedError("learner", "killed by SIGKILL");
      }
    })();
    await assert.rejects(runSelfplay(cfg, { rollout: new ScriptedPolicy(), executor, buffer, learner }, { runDir, log: () => {} }), (e: Error) => {
      assert.equal(e.name, "LearnerLostError");
      assert.equal(completeCheckpoints(runDir).length, 0);
      assert.doesNotMatch(e.message, /continue with --resume/, "the CLI refuses --resume on a folder with no checkpoint");
      assert.match(e.message, /start it again with another --run-dir/);
      return true;
    });
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test("selfplay driver - a resume from a checkpoint whose buffers.json or driver.json is damaged stops naming the file and the fix (older checkpoint), before any actor call", async () => {
  const runDir = mkdtempSync(join(tmpdir(), "azr-driver-"));
  try {
    const cfg = config();
    cfg.selfplay = { ...cfg.selfplay, steps: 2 };
    cfg.trainer = { ...cfg.trainer, saveEvery: 1, keepCheckpoints: 2 };
    cfg.eval = { ...cfg.eval, every: 0 };
    await runSelfplay(cfg, { rollout: new ScriptedPolicy(), executor, buffer: newBuffer(), learner: new RecordingLearner() }, { runDir, log: () => {} });
    const [one, two] = completeCheckpoints(runDir);
    assert.deepEqual([one.step, two.step], [1, 2]);
    cfg.selfplay = { ...cfg.selfplay, steps: 3 };
    for (const file of ["buffers.json", "driver.json"]) {
      const path = join(two.dir, file);
      const whole = readFileSync(path, "utf8");
      writeFileSync(path, whole.slice(0, Math.floor(whole.length / 2))); // torn: an OS crash or a full disk
      const message = `checkpoint ${two.dir} is damaged: ${path} is not valid JSON`;
      for (const check of [
        () => checkResume({ resume: true, runDir }), // the CLI, before it starts any actor
        () => runSelfplay(cfg, { rollout: new ScriptedPolicy(), executor, buffer: newBuffer(), learner: new RecordingLearner() }, { runDir, resume: true, log: () => {} }),
      ]) {
        await assert.rejects(async () => check(), (e: Error) => {
          assert.ok(["RunFolderError", "RecipeSetupError"].includes(e.name), `${e.name}: ${e.stack}`);
          assert.ok(e.message.includes(message), e.message);
          assert.ok(e.message.includes(`remove ${two.dir}`) && e.message.includes("checkpoint of step 1"), e.message);
          return true;
        });
      }
      writeFileSync(path, whole);
    }
    // A learner file cut short (the weights of a real learner): named too, before the learner is asked to load it.
    const weights = join(two.dir, "learner", "model.safetensors");
    writeSafetensors(weights, [{ name: "w", shape: [64], data: new Float32Array(64) }]);
    truncateSync(weights, statSync(weights).size - 100);
    for (const check of [() => checkResume({ resume: true, runDir }), () => runSelfplay(cfg, { rollout: new ScriptedPolicy(), executor, buffer: newBuffer(), learner: new RecordingLearner() }, { runDir, resume: true, log: () => {} })]) {
      await assert.rejects(async () => check(), (e: Error) => {
        assert.ok(["RunFolderError", "RecipeSetupError"].includes(e.name), `${e.name}: ${e.stack}`);
        assert.match(e.message, new RegExp(`^checkpoint ${two.dir} is damaged: ${weights}: tensor w ends at byte \\d+ but the file has only \\d+; remove ${two.dir} and resume again`));
        return true;
      });
    }
    // The advice works: without the damaged one, the run continues after step 1, each step's line once.
    rmSync(two.dir, { recursive: true });
    const r = await runSelfplay(cfg, { rollout: new ScriptedPolicy(), executor, buffer: newBuffer(), learner: new RecordingLearner() }, { runDir, resume: true, log: () => {} });
    assert.equal(r?.step, 3);
    assert.deepEqual(readFileSync(join(runDir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { step: number }).step), [1, 2, 3]);
    // The only checkpoint damaged: nothing older to go back to.
    const only = completeCheckpoints(runDir).at(-1)!;
    for (const c of completeCheckpoints(runDir).slice(0, -1)) rmSync(c.dir, { recursive: true });
    writeFileSync(join(only.dir, "driver.json"), "");
    assert.throws(() => checkResume({ resume: true, runDir }), /is the run's only checkpoint: start the run again with another --run-dir/);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test("selfplay driver - a stop request (Ctrl-C) during seeding stops at the end of the seeding round, not after every round (a stop before step 1 keeps nothing)", async () => {
  const runDir = mkdtempSync(join(tmpdir(), "azr-driver-"));
  try {
    const cfg = config();
    cfg.seed = { ...cfg.seed, factor: 8, maxRounds: 20 }; // 16 seeds, at most 2 new a round: 8 rounds or more
    cfg.eval = { ...cfg.eval, every: 0 };
    const rollout = new ScriptedPolicy();
    const stop = new AbortController();
    await assert.rejects(
      runSelfplay(cfg, { rollout, executor, buffer: newBuffer(), learner: new RecordingLearner() }, {
        runDir, signal: stop.signal, log: (l) => { if (/^seeding triplets: round 1:/.test(l)) stop.abort(); },
      }),
      (e: Error) => e.name === "AbortError",
    );
    assert.equal(rollout.calls, 1, "one seeding round generated, then the stop");
    assert.equal(existsSync(join(runDir, "metrics.jsonl")), false);
    assert.equal(completeCheckpoints(runDir).length, 0);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test("selfplay driver - a checkpoint cut off mid-write (a kill during a stop's save) is removed by the next save, not kept for ever", async () => {
  const runDir = mkdtempSync(join(tmpdir(), "azr-driver-"));
  try {
    const cfg = config();
    cfg.selfplay = { ...cfg.selfplay, steps: 1 };
    cfg.trainer = { ...cfg.trainer, saveEvery: 1 };
    cfg.eval = { ...cfg.eval, every: 0 };
    await runSelfplay(cfg, { rollout: new ScriptedPolicy(), executor, buffer: newBuffer(), learner: new RecordingLearner() }, { runDir, log: () => {} });
    // Step 9 was being saved at a stop (saveEvery 10) when a second Ctrl-C quit: the replay after the resume never saves step 9 again.
    const cut = join(runDir, "checkpoints", "step-9.partial");
    mkdirSync(join(cut, "learner"), { recursive: true });
    writeSafetensors(join(cut, "learner", "model.safetensors"), [{ name: "w", shape: [4], data: new Float32Array(4) }]);
    cfg.selfplay = { ...cfg.selfplay, steps: 2 };
    await runSelfplay(cfg, { rollout: new ScriptedPolicy(), executor, buffer: newBuffer(), learner: new RecordingLearner() }, { runDir, resume: true, log: () => {} });
    assert.deepEqual(completeCheckpoints(runDir).map((c) => c.step), [1, 2]);
    assert.equal(existsSync(cut), false, "the half-written checkpoint (a learner's state: gigabytes for a large model) is gone");
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
