/**
 * Pretraining with the torch engine (Debian's CPU torch here; the same script ran the committed
 * model on a GPU): the loss falls, a run resumes at its step with a longer schedule, the model loads
 * in the ORT engine and scores like the torch engine, and a Python without torch is named with the fix.
 */
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pretrainTorch, type TorchPretrainOptions } from "../../actors/base-model/pretrain-torch.ts";
import { OrtEngine } from "../../model/ort/engine.ts";
import { createTorchEngine } from "../../model/torch/engine.ts";
import { findPython } from "../../model/python.ts";
import { interruptWhen } from "./interrupt.ts";
import { writeSmallCorpus } from "./small-corpus.ts";

test("pretrain --engine torch - loss falls, resumes with a longer schedule, the export scores alike in ORT and torch", { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "azr-pretrain-torch-"));
  try {
    writeSmallCorpus(dir, 30);
    const lines: string[] = [];
    const o: TorchPretrainOptions = {
      corpusDir: dir, outDir: join(dir, "model"), workDir: join(dir, "work"), steps: 6, batchTokens: 4096, lr: 3e-3, warmupSteps: 2,
      seed: 1, device: "cpu", maxSeqTokens: 1024, resume: false, log: (s) => lines.push(s),
    };
    const first = await pretrainTorch(o);
    assert.equal(first.steps, 6);
    assert.ok(existsSync(join(dir, "work", "tokens", "ids.u16.gz")), "the corpus was exported as token files");
    const second = await pretrainTorch({ ...o, steps: 10, resume: true });
    assert.ok(lines.includes("resumed at step 6/10 (schedule moved from 6 to 10 steps)"), lines.join("\n"));
    assert.equal(second.steps, 10);
    assert.ok(second.loss < first.loss, `loss ${second.loss} after 10 steps < ${first.loss} after 6`);
    assert.ok(second.validationLoss > 0 && Number.isFinite(second.validationLoss));
    const meta = JSON.parse(readFileSync(join(dir, "model", "pretraining.json"), "utf8"));
    assert.equal(meta.engine, "torch");
    assert.equal(meta.step, 10);
    assert.ok(existsSync(join(dir, "model", "tokenizer.json")), "the tokenizer travels with the model");

    // The same weights through both engines: the export is a plain Hugging Face folder.
    const prompts = [[5, 9, 300, 17], [42, 7]];
    const responses = [[12, 600, 3], [8, 8, 1018]];
    const ort = await OrtEngine.fromPretrained(join(dir, "model"), { threads: 1 });
    await using torch = await createTorchEngine({ modelDir: join(dir, "model"), threads: 1 });
    try {
      const [a, b] = [await torch.score({ prompts, responses }), await ort.score({ prompts, responses })];
      let worst = 0;
      a.forEach((row, i) => row.forEach((v, j) => { worst = Math.max(worst, Math.abs(v - b[i]![j]!) / Math.max(1, Math.abs(b[i]![j]!))); }));
      assert.ok(worst <= 1e-4, `max relative log-prob difference ${worst}`);
    } finally {
      await ort.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("pretrain --engine torch - a Python without torch/numpy fails naming what to install", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "azr-pretrain-torch-"));
  try {
    writeSmallCorpus(dir, 30);
    const bare = join(dir, "python-without-packages");
    writeFileSync(bare, `#!/bin/sh\nexec ${findPython().path} -S "$@"\n`); // -S: no site-packages, so no torch or numpy
    chmodSync(bare, 0o755);
    await assert.rejects(
      pretrainTorch({
        corpusDir: dir, outDir: join(dir, "model"), workDir: join(dir, "work"), steps: 2, batchTokens: 4096, lr: 3e-3, warmupSteps: 1,
        seed: 1, device: "cpu", maxSeqTokens: 1024, resume: false, log: () => {}, env: { ...process.env, AZR_PYTHON: bare },
      }),
      /has no (numpy|torch): install python3-torch and python3-numpy .*AZR_PYTHON/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("pretrain --engine torch - Ctrl-C reaches the trainer, which checkpoints the step in flight; exit 130, --resume continues", { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "azr-pretrain-torch-int-"));
  try {
    writeSmallCorpus(dir, 30);
    const cli = ["--import", "tsx", "cli/main.ts", "base-model", "--engine", "torch", "--device", "cpu", "--corpus", dir, "--out", join(dir, "model"),
      "--work-dir", join(dir, "work"), "--batch-tokens", "2048", "--warmup", "2", "--max-steps", "5000"];
    // the signal reaches the driver alone: it must pass it on to the trainer. Sent as soon as the
    // trainer's handler is set, mid-way between two periodic saves (--save-every 50): the checkpoint
    // is the one the signal made. (Waiting for the first "step 50/5000" line took minutes of CPU
    // training on a busy machine, past --test-timeout for this file.)
    const { code, out } = await interruptWhen(cli, /Ctrl-C or SIGTERM checkpoints the step in flight/);
    assert.equal(code, 130, out);
    const m = /stopped by SIGINT at step (\d+)\/5000: checkpoint saved in .*; continue with --resume/.exec(out);
    assert.ok(m, out);
    assert.ok(!existsSync(join(dir, "model", "model.safetensors")), "an interrupted run exports no model");
    const stoppedAt = Number(m[1]);
    assert.ok(stoppedAt >= 1 && stoppedAt % 50 !== 0, `stopped at step ${stoppedAt}: a step the periodic saves do not checkpoint`);
    const again = spawnSync(process.execPath, cli.map((x) => (x === "5000" ? String(stoppedAt + 2) : x)).concat("--resume"), { encoding: "utf8" });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`resumed at step ${stoppedAt}/`));
    assert.ok(existsSync(join(dir, "model", "model.safetensors")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
