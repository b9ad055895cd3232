/**
 * What `azr selfplay` says when Ctrl-C stops it: the resume command it prints repeats the run's
 * overrides (a resume takes its recipe from the command line, so without them it would go on with
 * the recipe's defaults), and a run stopped before its first checkpoint is told it has nothing to
 * resume, not sent to a `--resume` that cannot work. The last part stops a real run (tiny recipe)
 * during start-up, before its first step.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resumeCommand, stoppedLine } from "../../cli/commands/selfplay.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "azr-selfplay-stop-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test("selfplay stop - the resume command repeats --set, --steps and --off-policy, quoted for the shell", () => {
  const args = { recipe: "tiny", set: ["model.path=/models/my model", "selfplay.batchSize=4"], steps: 20, offPolicy: 1, resume: false, web: false };
  assert.equal(
    resumeCommand(args, "/runs/x"),
    "azr selfplay --recipe tiny --set 'model.path=/models/my model' --set selfplay.batchSize=4 --steps 20 --off-policy 1 --run-dir /runs/x --resume",
  );
  const run = join(tmp, "saved");
  mkdirSync(join(run, "checkpoints", "step-5"), { recursive: true });
  writeFileSync(join(run, "checkpoints", "step-5", "complete"), "");
  mkdirSync(join(run, "checkpoints", "step-10"), { recursive: true }); // cut off before its marker: not the one resumed
  assert.equal(stoppedLine(args, run, 5), `stopped; resume from the checkpoint of step 5 with: ${resumeCommand(args, run)}`);
  assert.match(stoppedLine(args, join(tmp, "unsaved"), 5), /^stopped before the first step completed \(no checkpoint; one is saved every 5 steps and at a stop\): there is nothing to resume/);
});

test("selfplay stop - Ctrl-C before the first step completes says there is nothing to resume", { timeout: 180_000 }, async () => {
  const runDir = join(tmp, "run");
  const env = { ...process.env };
  delete env.NATS_URL;
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(ROOT, "cli", "bin.ts"), "selfplay", "--run-dir", runDir, "--steps", "2", "--set", "seed.topUp=false", "--set", "eval.every=0"],
    { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
  // Its Ctrl-C handler is set once the cluster is up, which the "step traces" line follows.
  await new Promise<void>((done) =>
    child.stdout.on("data", (d: Buffer) => {
      stdout += d;
      if (/^step traces: /m.test(stdout)) done();
    }),
  );
  await new Promise((r) => setTimeout(r, 300));
  child.kill("SIGINT");
  const code = await exited;
  assert.equal(code, 0, `stdout: ${stdout}\nstderr: ${stderr}`);
  assert.match(stderr, /stopped before the first step completed .*there is nothing to resume/);
  assert.doesNotMatch(stderr, /--resume/, "not sent to a resume that would be refused");
});
