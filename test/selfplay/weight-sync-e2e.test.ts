/**
 * Weight sync on the real actors (azr selfplay: actor processes, embedded nats-server): every
 * step's metrics line carries its `weightSync` report and the progress log a line per sync; the
 * recipe's resources.weightSync forces the object store on a resumed run; nothing of the run is
 * left in the shared-memory folder afterwards.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { selfplay } from "../../cli/commands/selfplay.ts";
import { shmRoot } from "../../actors/weight-sync/index.ts";
import { captureLog, writeRandomTinyModel } from "./fixtures.ts";

test("selfplay weight sync - shm by default, object-store when the recipe forces it (on resume), in metrics.jsonl and the log; no file left", { timeout: 600_000 }, async () => {
  const model = writeRandomTinyModel(3);
  const runDir = mkdtempSync(join(tmpdir(), "azr-run-sync-"));
  const set = ["model.path=" + model, "selfplay.batchSize=2", "selfplay.nSamples=2", "data.maxResponseTokens=16", "trainer.saveEvery=1", "trainer.microBatch=4", "seed.topUp=false", "eval.every=0"];
  const leftovers = () => readdirSync(shmRoot()).filter((f) => f.startsWith(`azr-weights-${basename(runDir)}`));
  try {
    const first = await captureLog(() => selfplay({ recipe: "tiny", set, runDir, resume: false, steps: 1, web: false }));
    assert.ok(first.some((l) => /^weight sync v1 → rollout-engine: shm, [\d.]+ MB, publish \d+ ms, load \d+ ms/.test(l)), first.join("\n"));
    assert.deepEqual(leftovers(), [], "the learner removed its files at the end");
    const second = await captureLog(() => selfplay({ recipe: "tiny", set: [...set, "resources.weightSync=object-store"], runDir, resume: true, steps: 2, web: false }));
    assert.ok(second.some((l) => /^weight sync v2 → rollout-engine: object-store/.test(l)), second.join("\n"));
    assert.deepEqual(leftovers(), []);
    const lines = readFileSync(join(runDir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => [l.step, l.weightSync?.version, l.weightSync?.transport]), [[1, 1, "shm"], [2, 2, "object-store"]]);
    for (const l of lines) {
      const s = l.weightSync;
      assert.ok(s.bytes > 10_000 && s.publishMs > 0 && s.loadMs > 0 && s.totalMs >= s.loadMs, JSON.stringify(s));
    }
    assert.equal(lines[0].weightSync.bytes, lines[1].weightSync.bytes, "the same fp32 file either way");
    await assert.rejects(selfplay({ recipe: "tiny", set: [...set, "resources.weightSync=pigeon"], runDir, resume: true, steps: 3, web: false }), /resources\.weightSync/);
    assert.ok(!existsSync(join(runDir, "checkpoints", "step-3")));
  } finally {
    rmSync(runDir, { recursive: true, force: true });
    rmSync(model, { recursive: true, force: true });
  }
});
