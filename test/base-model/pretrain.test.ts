/** Pretraining: the loss falls on a small corpus, a stopped run resumes at its step, and the result loads as a model. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pretrain, type PretrainOptions } from "../../actors/base-model/pretrain.ts";
import { OrtEngine } from "../../model/ort/engine.ts";
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
