/**
 * A learner that keeps dying (SIGKILLed again after each rollback, restarts left) ends the run
 * after the rollbacks a run rides through: `azr selfplay` says so and how to go on (the newest
 * checkpoint's --resume command), exit code 1, as for an actor gone for good, and not as a crash
 * with its stack trace. A real run (embedded nats-server, executor, onnxruntime) on a random tiny
 * model, killed from outside through the run's registry as an operator would.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, cliEnv } from "../helpers/cli.ts";
import { writeRandomTinyModel } from "../selfplay/fixtures.ts";
import { until } from "../helpers/wait.ts";
import { watchRun } from "../selfplay/run-watch.ts";
import type { Cluster } from "../../runtime/index.ts";

test("selfplay learner lost - a learner that dies again after every rollback stops the run with the --resume command, no stack trace", { timeout: 600_000 }, async () => {
  const model = writeRandomTinyModel(3);
  const runDir = mkdtempSync(join(tmpdir(), "azr-learner-lost-"));
  const set = [
    "model.path=" + model, "selfplay.batchSize=2", "selfplay.nSamples=2", "data.maxResponseTokens=16", "trainer.saveEvery=1", "trainer.microBatch=4",
    "seed.topUp=false", "eval.every=0", "actors.learner.maxRestarts=10",
  ];
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "cli", "bin.ts"), "selfplay", "--run-dir", runDir, "--steps", "50", ...set.flatMap((s) => ["--set", s])], {
    cwd: ROOT, env: cliEnv(), stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d));
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((done) => child.on("exit", (code) => ((exitCode = code), done())));
  let op: Cluster | undefined;
  try {
    op = await watchRun(runDir);
    await until("step 1", () => /^step +1\//m.test(stdout) || undefined);
    // Each kill after the previous rollback finished: four deaths the driver sees, one more than it rolls back.
    for (let kills = 0; exitCode === undefined && kills < 8; kills++) {
      const e = await until("the learner alive", async () => {
        const x = await op!.registry.get("learner").catch(() => undefined);
        return exitCode !== undefined ? null : x?.state === "alive" && x.pid ? x : undefined;
      });
      if (!e) break;
      const rolled = stdout.split("rolled back to step").length;
      try {
        process.kill(e.pid!, "SIGKILL");
      } catch {}
      await until("the rollback or the end", () => exitCode !== undefined || stdout.split("rolled back to step").length > rolled || undefined);
    }
    await exited;
    assert.equal(exitCode, 1, `stdout: ${stdout}\nstderr: ${stderr}`);
    assert.match(stderr, /^azr selfplay: the learner died .*/m);
    assert.match(stderr, new RegExp(`azr selfplay --run-dir ${runDir} --resume`));
    assert.doesNotMatch(stderr, /^\s+at /m, `no stack trace: ${stderr}`);
  } finally {
    if (exitCode === undefined) child.kill("SIGKILL");
    await op?.close().catch(() => {});
    rmSync(runDir, { recursive: true, force: true });
    rmSync(model, { recursive: true, force: true });
  }
});
