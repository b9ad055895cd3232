/** The reference-model actor scores responses with the frozen weights, and the step attaches them when KL is on. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { ReferenceModel } from "../../actors/reference-model.ts";
import { writeLongContextModel, writeRandomTinyModel } from "./fixtures.ts";

test("reference-model - per-token log-probs of each response, response tokens only", async () => {
  const dir = writeRandomTinyModel(3);
  const ref = new ReferenceModel({ modelDir: dir, engine: "ort", threads: 1 });
  try {
    const out = await ref.score([[1, 2, 3], [4, 5]], [[6, 7], [8, 9, 10, 11]]);
    assert.deepEqual(out.map((x) => x.length), [2, 4]);
    for (const row of out) for (const v of row) assert.ok(v < 0 && Number.isFinite(v), `log-prob ${v}`);
    const again = await ref.score([[1, 2, 3]], [[6, 7]]);
    assert.deepEqual([...again[0]], [...out[0]], "a frozen model scores the same sequence the same way, whatever the batch");
  } finally {
    await ref.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("reference-model - scores a prompt + response as long as the model's positions, past the ORT default's 8,192", { timeout: 120_000 }, async () => {
  const dir = writeLongContextModel(3, 16_384);
  const ref = new ReferenceModel({ modelDir: dir, engine: "ort", threads: 1 });
  try {
    // within the recipe's data.maxPromptTokens + data.maxResponseTokens (6,144 + 8,096), which the learner trains on
    const response = Array.from({ length: 8300 }, (_, i) => 10 + (i % 50));
    const [lp] = await ref.score([[5, 6, 7]], [response]);
    assert.equal(lp.length, response.length);
    assert.ok(lp.every((v) => v < 0 && Number.isFinite(v)));
  } finally {
    await ref.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
