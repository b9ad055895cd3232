/**
 * Issue #6: "killing any one actor with SIGKILL during a run: the run completes, and the buffer
 * loses no task". A real run (embedded nats-server, executor, onnxruntime, the tiny recipe on a
 * random model) from outside, as an operator would see it: the test connects to the run's
 * server, SIGKILLs the code executor, the task-buffer, the rollout engine and the learner, one
 * at a time between steps (a step finishing after the previous one came back), sees each come back as a new process while the run still goes on,
 * and checks that every step finishes once and the task buffer after its restart (and at the
 * end) holds every task it held before the kill.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { selfplay } from "../../cli/commands/selfplay.ts";
import { completeCheckpoints } from "../../actors/selfplay/run-folder.ts";
import type { TaskBuffer, TaskBufferState } from "../../actors/selfplay/task-buffer.ts";
import { withCallOptions, type Cluster } from "../../runtime/index.ts";
import { writeRandomTinyModel } from "./fixtures.ts";
import { until } from "../helpers/wait.ts";
import { killDuringRun, metricsLines, watchRun } from "./run-watch.ts";

const STEPS = 10;

/** A few short seed programs, so the buffers hold more than the identity triplet. */
function writeSeeds(dir: string): string {
  const programs = ["def f(a):\n    return a + 1", "def f(a):\n    return a * 3", "def f(s):\n    return s[::-1]", "def f(a):\n    return [a, a]", "def f(a):\n    return a % 7"];
  const inputs = ["4", "5", "'abc'", "2", "19"];
  const lines = programs.map((p, i) => JSON.stringify({ snippet: p, input: inputs[i], output: "0", imports: [] }));
  writeFileSync(join(dir, "seeds.jsonl"), lines.join("\n") + "\n");
  return "seeds.jsonl";
}

/** Every entry of every buffer, as comparable strings. */
const tasksOf = (s: TaskBufferState) => new Set(Object.entries(s.buffers).flatMap(([b, es]) => (es ?? []).map((e) => `${b}:${JSON.stringify(e)}`)));

test("selfplay kill - SIGKILL the task-buffer, rollout-engine, code-executor and learner mid-run: every step finishes, no task lost", { timeout: 900_000 }, async (t) => {
  const model = writeRandomTinyModel(3);
  const runDir = mkdtempSync(join(tmpdir(), "azr-run-kill-"));
  const seedDir = mkdtempSync(join(tmpdir(), "azr-seeds-kill-"));
  const quiet = mkdtempSync(join(tmpdir(), "azr-run-nokill-"));
  const set = [
    "model.path=" + model, "selfplay.batchSize=2", "selfplay.nSamples=2", "data.maxResponseTokens=16", "trainer.saveEvery=1", "trainer.microBatch=4",
    `seed.dir=${seedDir}`, `seed.triplets=${writeSeeds(seedDir)}`, "seed.topUp=false", "eval.every=0",
  ];
  const logged: string[] = [];
  const log = console.log;
  t.after(() => void (console.log = log));
  console.log = (...a: unknown[]) => {
    logged.push(a.join(" "));
    log(...a);
  };
  let op: Cluster | undefined;
  try {
    const run = selfplay({ recipe: "tiny", set, runDir, resume: false, steps: STEPS, web: false });
    run.catch(() => {}); // awaited below; a failure must not surface as an unhandled rejection while the test waits
    // The operator's view: the run's own server, found through <run-dir>/nats.json.
    op = await watchRun(runDir);
    const cluster = op;

    // After step 1: the task buffer.
    // One actor at a time, each once a step has finished since the last one came back. The code
    // executor goes first: with a random model no later step may call it, so nothing waits for its restart.
    let before = new Set<string>();
    for (const actor of ["code-executor", "task-buffer", "rollout-engine", "learner"]) {
      const done = metricsLines(runDir);
      await until(`a step after ${done}`, () => metricsLines(runDir) > done || undefined);
      if (actor !== "task-buffer") {
        await killDuringRun(cluster, actor, runDir, STEPS);
        continue;
      }
      const buffer = withCallOptions(await cluster.getActor<TaskBuffer>("task-buffer"), { retries: 30 });
      before = tasksOf(await buffer.snapshot());
      await killDuringRun(cluster, actor, runDir, STEPS);
      // The restarted buffer answers with its saved state: every task from before the kill is there.
      const restored = tasksOf(await buffer.snapshot());
      for (const task of before) assert.ok(restored.has(task), `task lost by the task-buffer restart: ${task}`);
    }

    await run;
    await op.close().catch(() => {}); // the run's server has stopped: nothing more to watch
    op = undefined;
    const lines = readFileSync(join(runDir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.step), Array.from({ length: STEPS }, (_, i) => i + 1), "the run completes every step, each once");
    assert.ok(lines.every((l) => l.train === null || Number.isFinite(l.train.loss)));
    const final = JSON.parse(readFileSync(join(completeCheckpoints(runDir).at(-1)!.dir, "buffers.json"), "utf8")) as TaskBufferState;
    for (const task of before) assert.ok(tasksOf(final).has(task), `task missing at the end of the run: ${task}`);
    assert.ok(before.size >= 6, `the buffers held the seed tasks before the kill (${before.size})`);
    // The same run without kills: every step's groups and update statistics are the same (the retries and the replay changed nothing).
    await selfplay({ recipe: "tiny", set, runDir: quiet, resume: false, steps: STEPS, web: false });
    const strip = (l: { groups: unknown; train: unknown; bufferSizes: unknown }) => ({ groups: l.groups, train: l.train, bufferSizes: l.bufferSizes });
    const reference = readFileSync(join(quiet, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => strip(JSON.parse(l)));
    assert.deepEqual(lines.map(strip), reference, "the killed run's steps equal an undisturbed run's");
    assert.ok(logged.some((l) => /rolling the run back to checkpoint step-\d+ and replaying/.test(l)), "the learner's death rolled the run back to its last checkpoint");
  } finally {
    await op?.close().catch(() => {});
    rmSync(runDir, { recursive: true, force: true });
    rmSync(seedDir, { recursive: true, force: true });
    rmSync(quiet, { recursive: true, force: true });
    rmSync(model, { recursive: true, force: true });
  }
});
