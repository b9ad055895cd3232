/**
 * What `azr selfplay` says when Ctrl-C stops it: the resume command it prints, which continues the
 * run's own recipe (config.json: overrides kept, so a resume does not fall back to the recipe's
 * defaults), and a run stopped before its first step completed is told it has nothing to resume,
 * not sent to a `--resume` that cannot work. The last part stops a real run (tiny recipe)
 * during start-up, before its first step.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { progressLine, recipeChanges, resumeCommand, resumedRecipe, stoppedLine } from "../../cli/commands/selfplay.ts";
import type { StepResult } from "../../actors/selfplay/step.ts";
import { runnableRecipe } from "../../cli/commands/recipe-setup.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "azr-selfplay-stop-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test("selfplay stop - the resume command names the run folder (quoted for the shell); the recipe comes from the run's config.json", () => {
  assert.equal(resumeCommand("/runs/x"), "azr selfplay --run-dir /runs/x --resume");
  assert.equal(resumeCommand("/runs/my run"), "azr selfplay --run-dir '/runs/my run' --resume");
  const run = join(tmp, "saved");
  mkdirSync(join(run, "checkpoints", "step-5"), { recursive: true });
  writeFileSync(join(run, "checkpoints", "step-5", "complete"), "");
  mkdirSync(join(run, "checkpoints", "step-10"), { recursive: true }); // cut off before its marker: not the one resumed
  assert.equal(stoppedLine(run, 5), `stopped; resume from the checkpoint of step 5 with: ${resumeCommand(run)}`);
  assert.match(stoppedLine(join(tmp, "unsaved"), 5), /^stopped before the first step completed \(no checkpoint; one is saved every 5 steps and at a stop\): there is nothing to resume/);
});

test("selfplay resume - continues the recipe the run started with (its overrides kept), this command's --set on top; another --recipe is refused", async () => {
  const run = join(tmp, "resumed");
  mkdirSync(run, { recursive: true });
  // What the driver writes at a run's start: the whole recipe, overrides included.
  const started = await runnableRecipe("tiny", ["selfplay.batchSize=4", "trainer.optimizer.lr=3e-4"]);
  writeFileSync(join(run, "config.json"), JSON.stringify(started, null, 2) + "\n");
  const args = { set: [], resume: true, runDir: run, web: false };
  const same = await resumedRecipe(args, []);
  assert.deepEqual([same.name, same.selfplay.batchSize, same.trainer.optimizer.lr], ["tiny", 4, 3e-4], "not tiny's defaults (16, 1e-4)");
  assert.deepEqual(recipeChanges(started, same), []);
  const longer = await resumedRecipe({ ...args, recipe: "tiny" }, ["selfplay.steps=90"]);
  assert.deepEqual([longer.selfplay.steps, longer.selfplay.batchSize], [90, 4]);
  assert.deepEqual(recipeChanges(started, longer), ["selfplay.steps 60 → 90"]);
  await assert.rejects(resumedRecipe({ ...args, recipe: "7b" }, []), /is a run of recipe 'tiny', not '7b': drop --recipe/);
  // A config.json this version cannot read: only a recipe the command names replaces it (a fall-back
  // to tiny would resume a 7b run, through the printed command, as another recipe).
  writeFileSync(join(run, "config.json"), JSON.stringify({ ...started, retired: 1 }));
  await assert.rejects(resumedRecipe(args, []), /cannot be read as a recipe by this version .*: resume with --recipe tiny and the --set overrides the run started with/);
  assert.equal((await resumedRecipe({ ...args, recipe: "tiny" }, [])).selfplay.batchSize, 16);
});

/**
 * `azr selfplay` for 2 steps into `runDir`, resolved once its Ctrl-C handler is set (just after the
 * "step traces" line, once the cluster is up): the child, its output so far and its exit code.
 */
async function startRun(runDir: string) {
  const env = { ...process.env };
  delete env.NATS_URL;
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(ROOT, "cli", "bin.ts"), "selfplay", "--run-dir", runDir, "--steps", "2", "--set", "seed.topUp=false", "--set", "eval.every=0"],
    { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] },
  );
  const out = { stdout: "", stderr: "" };
  child.stderr.on("data", (d: Buffer) => (out.stderr += d));
  const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
  await new Promise<void>((done) =>
    child.stdout.on("data", (d: Buffer) => {
      out.stdout += d;
      if (/^step traces: /m.test(out.stdout)) done();
    }),
  );
  await new Promise((r) => setTimeout(r, 300));
  return { child, out, exited };
}

for (const sig of ["SIGINT", "SIGTERM"] as const)
test(`selfplay stop - ${sig === "SIGINT" ? "Ctrl-C" : "SIGTERM (kill)"} before the first step completes says there is nothing to resume`, { timeout: 180_000 }, async () => {
  const { child, out, exited } = await startRun(join(tmp, `run-${sig}`));
  child.kill(sig);
  const code = await exited;
  assert.equal(code, 0, `stdout: ${out.stdout}\nstderr: ${out.stderr}`);
  assert.match(out.stderr, /stopped before the first step completed .*there is nothing to resume/);
  assert.doesNotMatch(out.stderr, /--resume/, "not sent to a resume that would be refused");
});

test("selfplay stop - a second Ctrl-C quits at once and says so (not the first one's 'stopping after this step'), with what is left to resume", { timeout: 180_000 }, async () => {
  const { child, out, exited } = await startRun(join(tmp, "run-twice"));
  child.kill("SIGINT");
  await new Promise((r) => setTimeout(r, 500));
  child.kill("SIGINT");
  assert.equal(await exited, 130, `stdout: ${out.stdout}\nstderr: ${out.stderr}`);
  const said = out.stderr.trim().split("\n").filter(Boolean);
  assert.match(said[0], /^SIGINT: stopping after this step/);
  assert.match(said.at(-1)!, /^SIGINT again: quitting at once; the steps since the last checkpoint are lost\. stopped before the first step completed .*there is nothing to resume/);
});

test("selfplay resume - the progress line's ETA counts only the steps this invocation ran (a resume after step 2 of 4, 10 s for step 3: 10 s to go)", () => {
  const r = { step: 3, groups: {}, train: null, seconds: { total: 10 } } as unknown as StepResult;
  const eta = (from?: number) => Number(/ETA (\d+)s$/.exec(progressLine(r, 4, Date.now() - 10_000, from))![1]);
  assert.equal(eta(2), 10, "one step left at the 10 s the resumed step took, not 10 s spread over all 3 steps");
  assert.equal(eta(), 3, "a fresh run: 10 s over its 3 steps");
});
