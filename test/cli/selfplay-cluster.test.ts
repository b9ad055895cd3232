/**
 * `azr selfplay` runs on one NATS server (NATS_URL, as a shared cluster runs): one in another
 * --cluster than a live run finishes; one in the live run's cluster stops with one line naming the
 * cluster, the actor it found and the fix, not the runtime's ActorExistsError stack. Real
 * nats-server, real tiny runs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { cliEnv, ROOT } from "../helpers/cli.ts";
import { useNatsServer } from "../helpers/nats.ts";

const nats = useNatsServer();
const tmp = mkdtempSync(join(tmpdir(), "azr-selfplay-cluster-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const BIN = join(ROOT, "cli", "bin.ts");
const run = (steps: number, runDir: string, ...more: string[]) => ["selfplay", "--steps", String(steps), "--run-dir", runDir, "--set", "seed.topUp=false", "--set", "eval.every=0", "--set", "selfplay.batchSize=4", ...more];
const env = () => ({ ...cliEnv(), NATS_URL: nats.url });

async function azr(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(process.execPath, ["--import", "tsx", BIN, ...args], { cwd: ROOT, env: env(), timeout: 150_000 });
    return { code: 0, ...r };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === "number" ? x.code : -1, stdout: x.stdout ?? "", stderr: x.stderr ?? "" };
  }
}

test("selfplay --cluster - runs at once on one NATS server: another cluster's finishes, a second run in a live run's cluster names the cluster and the fix", { timeout: 200_000 }, async () => {
  // The first run holds cluster 'shared's actor names from its first spawn until it ends: long
  // enough (50 steps) to outlast the others' starts on a loaded machine; Ctrl-C ends it after.
  const first = spawn(process.execPath, ["--import", "tsx", BIN, ...run(50, join(tmp, "first"), "--cluster", "shared")], { cwd: ROOT, env: env(), stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const exited = new Promise<number | null>((done) => first.on("exit", (code) => done(code)));
  try {
    await new Promise<void>((done, fail) => {
      first.stdout.on("data", (d: Buffer) => ((out += d), /^seeds: /m.test(out) && done()));
      void exited.then((code) => fail(new Error(`the first run ended (exit ${code}) before seeding: ${out}`)));
    });
    assert.match(out, /cluster 'shared': give azr actors \/ top \/ logs \/ attach \/ kill --cluster shared/);
    const [other, same] = await Promise.all([azr(run(1, join(tmp, "other"), "--cluster", "other", "--set", "actors.code-executor.replicas=2")), azr(run(1, join(tmp, "second"), "--cluster", "shared"))]);
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stdout, /^done: 1 steps/m);
    assert.ok(existsSync(join(tmp, "other", "checkpoints", "step-1", "complete")));
    assert.equal(same.code, 2, same.stderr);
    assert.match(same.stderr, new RegExp(`^azr selfplay: cluster 'shared' on ${nats.url.replace(/[.]/g, "\\.")} already has an actor named '[\\w-]+' \\(alive on node [^)]+\\): another run uses this cluster\\. Give this run its own --cluster <name>`, "m"));
    assert.doesNotMatch(same.stderr, /\n\s+at /, "no stack trace");
    assert.equal(first.exitCode, null, "the first run is not disturbed");
  } finally {
    first.kill("SIGINT");
    await exited;
  }
  assert.match(out, /^step +1\/50 /m, "the first run went on stepping");
  // The finished run (two code executors) has in its line §8's tokens/s and time and peak memory per actor, as measured by the run itself.
  type Line = { tokens: { generated: number; generatedPerSecond: number; trained: number; trainedPerSecond: number }; actors: Record<string, { busySeconds: number; peakMemoryMB: number; workersPeakMemoryMB?: number }> };
  const line = JSON.parse(readFileSync(join(tmp, "other", "metrics.jsonl"), "utf8").trim().split("\n")[0]) as Line;
  assert.ok(line.tokens.generated > 0 && line.tokens.generatedPerSecond > 0, JSON.stringify(line.tokens));
  assert.ok(line.tokens.trained > 0 && line.tokens.trainedPerSecond > 0, JSON.stringify(line.tokens));
  // two executor replicas (a pool deals the checks), each busy in the step
  assert.deepEqual(Object.keys(line.actors).sort(), ["code-executor", "code-executor-1", "learner", "rollout-engine", "task-buffer"]);
  for (const name of ["learner", "rollout-engine", "code-executor", "code-executor-1"]) assert.ok(line.actors[name].busySeconds > 0, `${name}: ${JSON.stringify(line.actors[name])}`);
  for (const [name, u] of Object.entries(line.actors)) assert.ok(u.peakMemoryMB >= 30, `${name}'s process peaks at ${u.peakMemoryMB} MB`);
  // an executor's checks run in its Python workers: their memory is reported beside the actor's
  for (const name of ["code-executor", "code-executor-1"]) assert.ok(line.actors[name].workersPeakMemoryMB! >= 5, `${name}'s workers: ${JSON.stringify(line.actors[name])}`);
});
