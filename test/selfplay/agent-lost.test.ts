/**
 * A self-play run whose actors live on another node agent, and that agent SIGKILLed mid-run (its
 * machine gone): the run's own agent declares the node lost, re-places the actors on itself, the
 * driver rolls the learner back to the last checkpoint and replays the steps since, and the run
 * finishes with each step's metrics line once and the same losses as before the loss. Real
 * nats-server, real agents in their own processes, the tiny recipe (AZR_TEST_LOST_NODE_MS: 4 s
 * instead of 30 s before a silent node is lost).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cliEnv, ROOT } from "../helpers/cli.ts";
import { useNatsServer } from "../helpers/nats.ts";
import { startAgentProcess } from "../runtime/helpers.ts";

const nats = useNatsServer();
const tmp = mkdtempSync(join(tmpdir(), "azr-agent-lost-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test("selfplay - the agent holding the run's actors is SIGKILLed: they are re-placed, the learner rolls back, the run finishes", { timeout: 300_000 }, async () => {
  const runDir = join(tmp, "run");
  // 16 cpus: placement (most free cpu first) puts every actor of the run on this agent.
  const far = await startAgentProcess({ cluster: "azr", id: "far-node", cpu: 16, runDir: tmp, env: { NATS_URL: nats.url } });
  const args = ["--import", "tsx", join(ROOT, "cli", "bin.ts"), "selfplay", "--run-dir", runDir, "--steps", "3",
    "--set", "seed.topUp=false", "--set", "eval.every=0", "--set", "trainer.saveEvery=1", "--set", "selfplay.batchSize=4"];
  const run = spawn(process.execPath, args, { cwd: ROOT, env: { ...cliEnv(), NATS_URL: nats.url, AZR_TEST_LOST_NODE_MS: "4000" }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  run.stdout.on("data", (d: Buffer) => (out += d));
  run.stderr.on("data", (d: Buffer) => (out += d));
  const exited = new Promise<number | null>((done) => run.on("exit", (code) => done(code)));
  try {
    // Once step 2 is done, while its checkpoint is written or step 3 runs on the far agent's actors.
    await new Promise<void>((done, fail) => {
      const t = setInterval(() => /^step +2\/3 /m.test(out) && (clearInterval(t), done()), 100);
      void exited.then((code) => (clearInterval(t), fail(new Error(`the run ended (exit ${code}) before step 2: ${out}`))));
    });
    far.kill("SIGKILL");
    assert.equal(await exited, 0, out);
  } finally {
    far.kill("SIGKILL");
    run.kill("SIGKILL");
  }
  for (const actor of ["learner", "rollout-engine", "task-buffer", "code-executor"]) {
    assert.match(out, new RegExp(`actor '${actor}' re-placing: its node far-node .* restarting it on node \\S+ \\(restart 1 of \\d+`), `${actor} re-placed`);
  }
  // to step 2's checkpoint, or to step 1's when the kill cut step 2's save short
  const back = /rolled back to step (\d); the learner is back/.exec(out);
  assert.ok(back && ["1", "2"].includes(back[1]), out);
  assert.match(out, /^done: 3 steps/m);
  const lines = readFileSync(join(runDir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number; train: { loss: number } });
  assert.deepEqual(lines.map((l) => l.step), [1, 2, 3], "each step's line once: a replayed step replaced the one cut off");
  // Step 2 ran before the loss (printed); if it was replayed, the replay is the same update.
  const step2 = /^step +2\/3 .* loss (-?[\d.]+)/m.exec(out)![1];
  assert.equal(lines[1].train.loss.toFixed(4), step2, "step 2's line has the loss it had before the node was lost");
});
