/**
 * Rollout replicas on the real actors (azr selfplay: actor processes, embedded nats-server): with
 * `actors.rollout-engine.replicas=2` the run spawns rollout-engine and rollout-engine-1, both
 * generate, and both load every weight version the learner published — over shm, and over the
 * object store on the resumed run (one upload read by both). A replica SIGKILLed mid-run is
 * re-synced and retried alone, and the run's steps equal a one-engine run's (each replica's part
 * samples from the request's own streams).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { selfplay } from "../../cli/commands/selfplay.ts";
import { shmRoot } from "../../actors/weight-sync/index.ts";
import { captureLog, writeRandomTinyModel } from "./fixtures.ts";
import { until } from "../helpers/wait.ts";
import { killDuringRun, metricsLines, watchRun } from "./run-watch.ts";
import type { Cluster } from "../../runtime/index.ts";

/** The CLI's closing line per replica: sequences generated and the versions it loaded. */
function replicaStats(lines: string[]): Record<string, { generated: number; loaded: number[] }> {
  const out: Record<string, { generated: number; loaded: number[] }> = {};
  for (const l of lines) {
    const m = /^(rollout-engine(?:-\d+)?): (\d+) sequences generated, weights version \d+ \(loaded: ([\d, ]+|none)\)$/.exec(l);
    if (m) out[m[1]] = { generated: Number(m[2]), loaded: m[3] === "none" ? [] : m[3].split(", ").map(Number) };
  }
  return out;
}

test("selfplay replicas - two rollout engines share generation and each loads every weight version (shm, then object store on resume)", { timeout: 900_000 }, async () => {
  const model = writeRandomTinyModel(4);
  const runDir = mkdtempSync(join(tmpdir(), "azr-run-replicas-"));
  const set = [
    "model.path=" + model, "actors.rollout-engine.replicas=2", "actors.rollout-engine.cpus=1",
    "selfplay.batchSize=2", "selfplay.nSamples=2", "data.maxResponseTokens=16", "trainer.saveEvery=1", "trainer.microBatch=4", "seed.topUp=false", "eval.every=0",
  ];
  const leftovers = () => readdirSync(shmRoot()).filter((f) => f.startsWith(`azr-weights-${basename(runDir)}`));
  try {
    const first = await captureLog(() => selfplay({ recipe: "tiny", set, runDir, resume: false, steps: 2, web: false }));
    const s1 = replicaStats(first);
    assert.deepEqual(Object.keys(s1).sort(), ["rollout-engine", "rollout-engine-1"], first.join("\n"));
    for (const [name, s] of Object.entries(s1)) {
      assert.ok(s.generated > 0, `${name} generated nothing: ${first.join("\n")}`);
      assert.deepEqual(s.loaded, [1, 2], `${name} loaded every version`);
    }
    assert.ok(first.some((l) => /^weight sync v2 → rollout-engine: shm/.test(l)), first.join("\n"));
    assert.deepEqual(leftovers(), [], "the learner removed its files at the end");

    const second = await captureLog(() => selfplay({ recipe: "tiny", set: [...set, "resources.weightSync=object-store"], runDir, resume: true, steps: 3, web: false }));
    const s2 = replicaStats(second);
    assert.deepEqual(Object.keys(s2).sort(), ["rollout-engine", "rollout-engine-1"], second.join("\n"));
    // The resume pushes the checkpoint's version 2, step 3's sync version 3: both replicas read each upload.
    for (const [name, s] of Object.entries(s2)) {
      assert.ok(s.generated > 0, `${name} generated nothing on the resumed run`);
      assert.deepEqual(s.loaded, [2, 3], `${name} loaded every version from the object store`);
    }
    const lines = readFileSync(join(runDir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => [l.step, l.weightSync?.version, l.weightSync?.transport]), [[1, 1, "shm"], [2, 2, "shm"], [3, 3, "object-store"]]);
    assert.deepEqual(leftovers(), []);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
    rmSync(model, { recursive: true, force: true });
  }
});

test("selfplay replicas - SIGKILL rollout-engine-1 mid-run: it is re-synced and retried alone, and every step equals a one-engine run's", { timeout: 900_000 }, async () => {
  const STEPS = 3;
  const model = writeRandomTinyModel(5);
  const runDir = mkdtempSync(join(tmpdir(), "azr-run-replicas-kill-"));
  const single = mkdtempSync(join(tmpdir(), "azr-run-replicas-one-"));
  const set = ["model.path=" + model, "selfplay.batchSize=2", "selfplay.nSamples=2", "data.maxResponseTokens=16", "trainer.saveEvery=1", "trainer.microBatch=4", "seed.topUp=false", "eval.every=0"];
  let op: Cluster | undefined;
  try {
    const logged = captureLog(async () => {
      const run = selfplay({ recipe: "tiny", set: [...set, "actors.rollout-engine.replicas=2"], runDir, resume: false, steps: STEPS, web: false });
      run.catch(() => {}); // awaited below
      op = await watchRun(runDir);
      await until("step 1", () => metricsLines(runDir) >= 1 || undefined);
      await killDuringRun(op, "rollout-engine-1", runDir, STEPS);
      await run;
    });
    const lines = await logged;
    // The restarted replica is brought back to the current weights either by a re-push (the kill
    // surfaced in one of its calls) or by the next step's regular sync (it surfaced in that sync's
    // hostId call, which is retried): which one depends on where the SIGKILL lands.
    assert.ok(lines.some((l) => /^rollout-engine-1: weights version \d+ pushed again to the restarted engine/.test(l) || /^rollout-engine-1\.hostId\(\) succeeded on retry/.test(l)), lines.join("\n"));
    assert.ok(lines.some((l) => new RegExp(`^rollout-engine-1: \\d+ sequences generated, weights version ${STEPS} `).test(l)), "the restarted replica ends on the last version");
    assert.ok(!lines.some((l) => /^rollout-engine: weights version \d+ pushed again/.test(l)), "the live replica was not re-synced");
    await captureLog(() => selfplay({ recipe: "tiny", set, runDir: single, resume: false, steps: STEPS, web: false }));
    const strip = (l: { step: number; groups: unknown; train: unknown; bufferSizes: unknown }) => ({ step: l.step, groups: l.groups, train: l.train, bufferSizes: l.bufferSizes });
    const metrics = (dir: string) => readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => strip(JSON.parse(l)));
    assert.deepEqual(metrics(runDir), metrics(single), "two replicas (one killed) sample and train what one engine does");
  } finally {
    await op?.close().catch(() => {});
    for (const d of [runDir, single, model]) rmSync(d, { recursive: true, force: true });
  }
});
