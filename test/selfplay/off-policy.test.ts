/**
 * `azr selfplay --off-policy 1` on real actors (nats-server, executor, onnxruntime; tiny recipe,
 * random model): step t+1's rollouts overlap step t's update, the lagged steps train with the
 * behaviour policy's log-probs (a non-zero importance ratio spread, where a synchronous step's
 * is exactly zero), the pipeline drains at each checkpoint, and resume continues the same way.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { selfplay } from "../../cli/commands/selfplay.ts";
import { writeRandomTinyModel } from "./fixtures.ts";

const lines = (runDir: string) => readFileSync(join(runDir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));

test("selfplay --off-policy 1 - rollouts overlap the previous update, lagged steps are importance-corrected, checkpoints drain, resume works", { timeout: 900_000 }, async () => {
  const model = writeRandomTinyModel(5);
  const runDir = mkdtempSync(join(tmpdir(), "azr-run-offpolicy-"));
  const sync = mkdtempSync(join(tmpdir(), "azr-run-sync-"));
  // a higher learning rate so one update moves the policy measurably
  const set = ["model.path=" + model, "selfplay.batchSize=2", "selfplay.nSamples=2", "data.maxResponseTokens=16", "trainer.saveEvery=2", "trainer.microBatch=4", "trainer.optimizer.lr=3e-3", "seed.topUp=false", "eval.every=0"];
  try {
    await selfplay({ recipe: "tiny", set, runDir, resume: false, steps: 4, offPolicy: 1, web: false });
    const m = lines(runDir);
    assert.deepEqual(m.map((l) => l.step), [1, 2, 3, 4]);
    // Steps 1 and 3 start a pipeline (2 and 4 are checkpoints, where it drains): the next step's collection overlaps their update.
    assert.deepEqual(m.map((l) => l.offPolicy.lagged), [false, true, false, true]);
    for (const i of [0, 2]) assert.ok(m[i].offPolicy.overlapSeconds > 0, `step ${i + 1}: overlap ${m[i].offPolicy.overlapSeconds} s`);
    for (const i of [1, 3]) assert.equal(m[i].offPolicy.overlapSeconds, 0, "a checkpoint step is not overlapped");
    for (const l of m) assert.ok(Number.isFinite(l.train.loss) && Number.isFinite(l.train.gradNorm));
    const kl = (l: { train: { terms: Record<string, number> } }) => l.train.terms.approxKl;
    console.log(`off-policy: overlap per step ${m.map((l) => l.offPolicy.overlapSeconds.toFixed(2)).join(", ")} s; approx KL to the behaviour policy ${m.map((l) => kl(l)?.toExponential(2)).join(", ")}`);
    // A lagged step's samples come from the weights before the previous update: π_θ ≠ π_behaviour.
    for (const i of [1, 3]) assert.ok(kl(m[i]) > 1e-7, `step ${i + 1}: approx KL ${kl(m[i])} against the behaviour policy (terms: ${Object.keys(m[i].train.terms).join(", ")})`);

    await selfplay({ recipe: "tiny", set, runDir, resume: true, steps: 5, offPolicy: 1, web: false });
    assert.deepEqual(lines(runDir).map((l) => l.step), [1, 2, 3, 4, 5], "resume continues at step 5");

    // The synchronous path: no offPolicy field, and its π_old is the learner's own (approx KL exactly 0).
    await selfplay({ recipe: "tiny", set, runDir: sync, resume: false, steps: 1, web: false });
    const s = lines(sync);
    assert.equal(s[0].offPolicy, undefined);
    assert.equal(kl(s[0]), 0);
  } finally {
    for (const d of [runDir, sync, model]) rmSync(d, { recursive: true, force: true });
  }
});
