/** Pretraining: the loss falls on a small corpus, a stopped run resumes at its step, and the result loads as a model. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pretrain, type PretrainOptions } from "../../actors/base-model/pretrain.ts";
import { OrtEngine } from "../../model/ort/engine.ts";
import { interruptWhen } from "./interrupt.ts";
import { writeSmallCorpus } from "./small-corpus.ts";

test("pretrain - loss falls, a time-boxed run resumes at its step, the export loads in the engine", { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "azr-pretrain-"));
  try {
    writeSmallCorpus(dir);
    const lines: string[] = [];
    const o: PretrainOptions = {
      corpusDir: dir, outDir: join(dir, "model"), workDir: join(dir, "work"), batchTokens: 4096, microBatch: 8, lr: 3e-3, warmupSteps: 1,
      epochs: 40, maxSteps: 4, maxSeconds: 0, saveEvery: 2, maxSeqTokens: 1024, seed: 1, threads: 2, resume: false, log: (s) => lines.push(s),
    };
    const first = await pretrain(o);
    assert.equal(first.steps, 4);
    const second = await pretrain({ ...o, maxSteps: 8, resume: true });
    // More steps than the run started with move the cosine's horizon to the new end.
    assert.ok(lines.includes("resumed at step 4/8 (cosine horizon moved from 4 to 8 steps)"), lines.join("\n"));
    assert.equal(second.steps, 8);
    const horizon = () => JSON.parse(readFileSync(join(dir, "work", "checkpoint", "trainer_state.json"), "utf8")).optim.totalSteps;
    assert.equal(horizon(), 8);
    assert.ok(second.loss < first.loss, `loss ${second.loss} after 8 steps < ${first.loss} after 4`);
    const meta = JSON.parse(readFileSync(join(dir, "model", "pretraining.json"), "utf8"));
    assert.equal(meta.step, 8);
    assert.ok(existsSync(join(dir, "model", "tokenizer.json")));
    // An anneal added on resume stops the run at its end and is kept by a later plain resume.
    const annealed = await pretrain({ ...o, maxSteps: 12, resume: true, anneal: { from: 9, to: 10 } });
    assert.equal(annealed.steps, 10);
    assert.ok(lines.includes("resumed at step 8/12 (cosine horizon moved from 8 to 12 steps) (anneal from step 9, stop at 10)"), lines.join("\n"));
    assert.equal(horizon(), 12);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, "model", "pretraining.json"), "utf8")).anneal, { from: 9, to: 10 });
    const again = await pretrain({ ...o, maxSteps: 12, resume: true });
    assert.equal(again.steps, 10, "the checkpoint's anneal still says stop at 10");
    assert.ok(lines.includes("resumed at step 10/12 (anneal from step 9, stop at 10)"), "the same plan again moves nothing");
    const engine = await OrtEngine.fromPretrained(join(dir, "model"), { threads: 1 });
    try {
      const gens = [];
      for await (const g of engine.generate({ prompts: [[1, 2, 3]], maxNewTokens: 4, temperature: 0 })) gens.push(g);
      assert.equal(gens.length, 1);
    } finally {
      await engine.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("pretrain - a run killed after a checkpoint resumes to the unbroken run's weights and loss; a damaged checkpoint is named, in one line", { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "azr-pretrain-kill-"));
  try {
    writeSmallCorpus(dir, 4);
    const o: PretrainOptions = {
      corpusDir: dir, outDir: join(dir, "unbroken"), workDir: join(dir, "work-unbroken"), batchTokens: 2048, microBatch: 8, lr: 3e-3, warmupSteps: 1,
      epochs: 40, maxSteps: 10, maxSeconds: 0, saveEvery: 2, maxSeqTokens: 1024, seed: 1, threads: 1, resume: false, log: () => {},
    };
    const unbroken = await pretrain(o);
    const work = join(dir, "work");
    const cli = ["--import", "tsx", "cli/main.ts", "base-model", "--corpus", dir, "--out", join(dir, "resumed"), "--work-dir", work,
      "--batch-tokens", "2048", "--micro-batch", "8", "--warmup", "1", "--epochs", "40", "--max-steps", "10", "--save-every", "2", "--threads", "1", "--resume"];
    // SIGKILL once a checkpoint past step 0 exists: nothing after it is saved.
    const child = spawn(process.execPath, cli, { stdio: "ignore" });
    const saved = () => { try { return JSON.parse(readFileSync(join(work, "checkpoint", "progress.json"), "utf8")).step as number; } catch { return 0; } };
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on("exit", (_code, signal) => r(signal)));
    const poll = setInterval(() => { if (saved() >= 2) child.kill("SIGKILL"); }, 10);
    const signal = await exited;
    clearInterval(poll);
    assert.equal(signal, "SIGKILL", "the run finished before it could be killed");
    const killedAt = saved();
    assert.ok(killedAt >= 2 && killedAt < 10, `killed at step ${killedAt}`);
    // A progress file beside the checkpoint from an older save (the layout before) must not move the step.
    writeFileSync(join(work, "progress.json"), JSON.stringify({ step: 0, tokens: 0, seconds: 0 }));
    const r = spawnSync(process.execPath, cli, { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`resumed at step ${killedAt}/10`));
    assert.match(r.stdout, /step 10\/10 {2}loss [\d.]+ {2}lr [\d.e+-]+ {2}\d+ tok\/s {2}elapsed [\d.]+ min {2}ETA 0\.0 min/);
    assert.ok(readFileSync(join(dir, "resumed", "model.safetensors")).equals(readFileSync(join(dir, "unbroken", "model.safetensors"))), "resumed weights differ from the unbroken run's");
    const meta = (d: string) => JSON.parse(readFileSync(join(dir, d, "pretraining.json"), "utf8")) as { step: number; tokens: number; loss: number };
    assert.equal(meta("resumed").step, 10);
    assert.equal(meta("resumed").tokens, meta("unbroken").tokens);
    assert.equal(meta("resumed").loss, unbroken.loss, "the reported loss restarted its average at the resume");

    // Step i trains batch i mod batches: another --batch-tokens (or corpus) would silently train other data.
    const other = spawnSync(process.execPath, cli.map((x) => (x === "2048" ? "4096" : x)), { encoding: "utf8" });
    assert.equal(other.status, 2, other.stderr);
    assert.match(other.stderr, /was trained on \d+ batches of ≤ 2048 tokens, this corpus and --batch-tokens 4096 make \d+: resume with the same corpus/);

    writeFileSync(join(work, "checkpoint", "trainer_state.json"), '{"format":');
    const bad = spawnSync(process.execPath, cli, { encoding: "utf8" });
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, new RegExp(`^azr base-model: the checkpoint in ${join(work, "checkpoint")} is damaged and cannot be resumed \\(.*JSON.*\\): remove .*, or start over with --restart instead of --resume\\n$`));
    assert.doesNotMatch(bad.stdout + bad.stderr, /Options:|    at /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("pretrain - Ctrl-C checkpoints the step in flight and exits 130; --resume then ends on the unbroken run's weights", { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "azr-pretrain-int-"));
  try {
    writeSmallCorpus(dir, 4);
    const o: PretrainOptions = {
      corpusDir: dir, outDir: join(dir, "unbroken"), workDir: join(dir, "work-unbroken"), batchTokens: 2048, microBatch: 8, lr: 3e-3, warmupSteps: 1,
      epochs: 40, maxSteps: 30, maxSeconds: 0, saveEvery: 1000, maxSeqTokens: 1024, seed: 1, threads: 1, resume: false, log: () => {},
    };
    await pretrain(o);
    const work = join(dir, "work");
    // --save-every 1000: without the signal handler nothing would be saved before the end
    const cli = ["--import", "tsx", "cli/main.ts", "base-model", "--corpus", dir, "--out", join(dir, "resumed"), "--work-dir", work,
      "--batch-tokens", "2048", "--micro-batch", "8", "--warmup", "1", "--epochs", "40", "--max-steps", "30", "--save-every", "1000", "--threads", "1", "--resume"];
    const { code, out } = await interruptWhen(cli, /step 10\/30/);
    assert.equal(code, 130, out);
    const m = /stopped by SIGINT at step (\d+)\/30: checkpoint saved in .*; continue with --resume/.exec(out);
    assert.ok(m, out);
    const stoppedAt = Number(m[1]);
    assert.ok(stoppedAt >= 10 && stoppedAt < 30, `stopped at ${stoppedAt}`);
    assert.equal(JSON.parse(readFileSync(join(work, "checkpoint", "progress.json"), "utf8")).step, stoppedAt);
    assert.ok(!existsSync(join(dir, "resumed", "model.safetensors")), "an interrupted run exports no model");
    const r = spawnSync(process.execPath, cli, { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`resumed at step ${stoppedAt}/30`));
    assert.ok(readFileSync(join(dir, "resumed", "model.safetensors")).equals(readFileSync(join(dir, "unbroken", "model.safetensors"))), "resumed weights differ from the unbroken run's");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("pretrain --init: continued pretraining starts from the model's weights; a corpus of another tokenizer, torch and --arch are refused in one line", { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "azr-pretrain-init-"));
  try {
    writeSmallCorpus(dir);
    const o: PretrainOptions = {
      corpusDir: dir, outDir: join(dir, "model"), workDir: join(dir, "work"), batchTokens: 4096, microBatch: 8, lr: 1e-4, warmupSteps: 0,
      epochs: 1, maxSteps: 1, maxSeconds: 0, saveEvery: 1, maxSeqTokens: 1024, seed: 1, threads: 2, resume: false, log: () => {},
    };
    // one step's loss: a random model's is about ln(vocab) ≈ 6.9; data/tiny has seen such examples by the million
    const scratch = await pretrain({ ...o, workDir: join(dir, "w0"), outDir: join(dir, "m0") });
    const init = await pretrain({ ...o, init: "data/tiny" });
    assert.ok(scratch.loss > 5, `from scratch ${scratch.loss}`);
    assert.ok(init.loss < 2, `from data/tiny ${init.loss}`);
    const config = JSON.parse(readFileSync(join(dir, "model", "config.json"), "utf8"));
    assert.equal(config.hidden_size, JSON.parse(readFileSync("data/tiny/config.json", "utf8")).hidden_size);

    // a corpus tokenized otherwise: its ids would mean other text to the model
    const tok = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
    tok.model.merges = tok.model.merges.slice(1);
    const other = join(dir, "other");
    spawnSync("mkdir", ["-p", other]);
    writeFileSync(join(other, "tokenizer.json"), JSON.stringify(tok));
    writeFileSync(join(other, "corpus.jsonl"), readFileSync(join(dir, "corpus.jsonl")));
    const cli = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", "cli/main.ts", "base-model", "--out", join(dir, "m1"), "--work-dir", join(dir, "w1"), "--init", "data/tiny", ...args], { encoding: "utf8" });
    const mismatch = cli("--corpus", other, "--max-steps", "1", "--warmup", "0");
    assert.equal(mismatch.status, 2, mismatch.stderr);
    assert.match(mismatch.stderr, /--init data\/tiny: its tokenizer is not the corpus's .*make-corpus --tokenizer data\/tiny\/tokenizer\.json/);
    assert.equal(mismatch.stderr.trim().split("\n").length, 1, mismatch.stderr);
    const torch = cli("--corpus", dir, "--engine", "torch", "--max-steps", "1");
    assert.equal(torch.status, 2);
    assert.match(torch.stderr, /--init works with --engine ort only/);
    const arch = cli("--corpus", dir, "--arch", "hidden_size=64", "--max-steps", "1", "--warmup", "0");
    assert.equal(arch.status, 2);
    assert.match(arch.stderr, /--init and --arch contradict each other/);
    // a copy: were the check gone, this run would write over its --init folder
    const copy = join(dir, "init");
    cpSync("data/tiny", copy, { recursive: true });
    const over = spawnSync(process.execPath, ["--import", "tsx", "cli/main.ts", "base-model", "--corpus", dir, "--out", `${copy}/`, "--work-dir", join(dir, "w2"), "--init", copy, "--max-steps", "1", "--warmup", "0"], { encoding: "utf8" });
    assert.equal(over.status, 2, over.stderr);
    assert.match(over.stderr, /--out .*init\/ is the --init model's folder: the continued model would replace the one it starts from/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
