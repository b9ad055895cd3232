/**
 * `azr … | head -1`: the reader closes the pipe before the command has written all (or any) of its
 * output. The command must end quietly — no EPIPE stack trace, exit code 0 — whichever command it
 * is, as the handling lives once in cli/main.ts. Here the pipe is closed before the child writes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "azr-stdout-closed-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs `azr …` with its stdout pipe closed on our side at once (as `head` does when it has its line). */
function azrReaderGone(...args: string[]): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  const env = { ...process.env };
  delete env.NATS_URL;
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "cli", "bin.ts"), ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.destroy();
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return new Promise((resolve) =>
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    }),
  );
}

test("a closed stdout ends the command quietly with exit code 0 (recipes, recipes show, logs)", async () => {
  const logs = join(tmp, "run", "logs");
  mkdirSync(logs, { recursive: true });
  // More than a pipe buffer, so logs keeps writing after the reader is gone.
  writeFileSync(join(logs, "w1.log"), Array.from({ length: 20_000 }, (_, i) => `2024-01-01T00:00:00.000Z [w1] line ${i}\n`).join(""));
  for (const args of [["recipes"], ["recipes", "show", "tiny"], ["logs", "w1", "--run-dir", join(tmp, "run")]]) {
    const r = await azrReaderGone(...args);
    assert.doesNotMatch(r.stderr, /EPIPE|\n\s+at /, `azr ${args.join(" ")}: no stack trace:\n${r.stderr}`);
    assert.equal(r.stderr, "", `azr ${args.join(" ")}: nothing on stderr`);
    assert.deepEqual([r.code, r.signal], [0, null], `azr ${args.join(" ")}: exit code`);
  }
});
