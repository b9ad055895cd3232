/**
 * Ctrl-C in a terminal signals the whole foreground process group. Actor processes lead groups
 * of their own (so the agent can end what they start), which keeps them out of that group: the
 * SIGINT reaches `azr selfplay` alone, which stops its actors in order. This checks the
 * terminal's way (SIGINT to the group, not to one pid): a clean stop, and no process of the
 * run left behind.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const ROOT = join(import.meta.dirname, "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "azr-lc2-ctrlc-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

/** Pids of live processes whose environment carries `mark` (the run's, and whatever they started). */
function marked(mark: string): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/environ`, "latin1").split("\0").includes(mark) && !/\) Z /.test(readFileSync(`/proc/${d}/stat`, "utf8"));
      } catch {
        return false;
      }
    })
    .map(Number);
}

test("selfplay Ctrl-C (SIGINT to the terminal's process group) stops the run cleanly and leaves no process", { timeout: 180_000 }, async () => {
  const mark = `AZR_TEST_RUN_MARK=${process.pid}-${Date.now()}`;
  const env: NodeJS.ProcessEnv = { ...process.env, [mark.split("=")[0]]: mark.split("=")[1] };
  delete env.NATS_URL;
  // detached: its own process group, as a shell gives a foreground job.
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(ROOT, "cli", "bin.ts"), "selfplay", "--run-dir", join(tmp, "run"), "--steps", "2", "--set", "seed.topUp=false", "--set", "eval.every=0"],
    { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
  await new Promise<void>((done) =>
    child.stdout.on("data", (d: Buffer) => {
      stdout += d;
      if (/^step traces: /m.test(stdout)) done();
    }),
  );
  await sleep(300);
  try {
    process.kill(-child.pid!, "SIGINT");
    const code = await exited;
    assert.equal(code, 0, `stdout: ${stdout}\nstderr: ${stderr}`);
    assert.match(stderr, /stopped before the first step completed/);
    assert.doesNotMatch(stderr, /died|restart(ed|ing)/i, `no actor crashed on the SIGINT:\n${stderr}`);
    // Processes the run ended may take a moment to be gone: wait for that, not a fixed time.
    for (const end = Date.now() + 10_000; marked(mark).length > 0 && Date.now() < end; ) await sleep(200);
    assert.deepEqual(marked(mark), [], "no process of the run is left");
  } finally {
    for (const pid of marked(mark)) process.kill(pid, "SIGKILL");
  }
});
