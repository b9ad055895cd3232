/**
 * `azr logs <actor>` (no -f) on a large log file: the file is streamed — lines are printed while
 * the rest is still unread, and --tail / --since hold no more than the lines asked for — where it
 * was read whole (and an object made per line) before the first line came out.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFileSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { logFile, printLogs } from "../../cli/commands/logs.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "azr-logs-stream-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
mkdirSync(join(tmp, "logs"));

const T0 = Date.parse("2024-01-01T00:00:00.000Z");
const line = (i: number, actor = "big") => `${new Date(T0 + i * 1000).toISOString()} [${actor}] line ${i} ${"x".repeat(60)}`;

/** `n` lines, written a block at a time (the test must not hold the file either). */
function writeLog(actor: string, n: number): void {
  const fd = openSync(logFile(tmp, actor), "w");
  for (let i = 0; i < n; i += 10_000) writeSync(fd, Array.from({ length: Math.min(10_000, n - i) }, (_, k) => line(i + k, actor) + "\n").join(""));
  closeSync(fd);
}

test("logs - the file is read as it is printed: a line appended after the first is printed comes out too", async () => {
  writeLog("grow", 50_000); // ~4 MB, far more than one read
  const got: string[] = [];
  await printLogs({
    runDir: tmp, actor: "grow", follow: false,
    write: (l) => {
      // Read whole first, the file would be done with before this line lands.
      if (got.length === 0) appendFileSync(logFile(tmp, "grow"), "2024-02-01T00:00:00.000Z [grow] appended while printing\n");
      got.push(l);
    },
  });
  assert.equal(got.length, 50_001);
  assert.equal(got[0], line(0, "grow"));
  assert.equal(got.at(-1), "2024-02-01T00:00:00.000Z [grow] appended while printing");
});

test("logs --tail / --since on a small file: the same lines as before, in order", async () => {
  writeFileSync(logFile(tmp, "small"), [line(0, "small"), "an old line without a time", line(1, "small"), line(2, "small"), line(3, "small"), ""].join("\n"));
  const run = async (o: { tail?: number; since?: number }) => {
    const got: string[] = [];
    await printLogs({ runDir: tmp, actor: "small", follow: false, write: (l) => got.push(l), ...o });
    return got;
  };
  assert.deepEqual(await run({}), [line(0, "small"), "an old line without a time", line(1, "small"), line(2, "small"), line(3, "small")]);
  assert.deepEqual(await run({ tail: 2 }), [line(2, "small"), line(3, "small")]);
  assert.deepEqual(await run({ tail: 0 }), []);
  assert.deepEqual(await run({ tail: 9 }), await run({}));
  assert.deepEqual(await run({ since: T0 + 1000 }), [line(1, "small"), line(2, "small"), line(3, "small")]);
  assert.deepEqual(await run({ since: T0 + 1000, tail: 1 }), [line(3, "small")]);
});

test("logs --tail on a 40 MB file runs in a 24 MB heap (the whole file would not fit)", { timeout: 120_000 }, () => {
  writeLog("big", 400_000);
  const env = { ...process.env };
  delete env.NATS_URL;
  const r = spawnSync(process.execPath, ["--max-old-space-size=24", "--import", "tsx", join(ROOT, "cli", "bin.ts"), "logs", "big", "--run-dir", tmp, "--tail", "2", "--since", "2024-01-05T00:00:00Z"], {
    cwd: ROOT, env, encoding: "utf8", timeout: 100_000,
  });
  assert.equal(r.status, 0, `signal ${r.signal}; stderr: ${r.stderr.slice(-1500)}`);
  assert.equal(r.stdout, `${line(399_998, "big")}\n${line(399_999, "big")}\n`);
  const since = spawnSync(process.execPath, ["--max-old-space-size=24", "--import", "tsx", join(ROOT, "cli", "bin.ts"), "logs", "big", "--run-dir", tmp, "--since", new Date(T0 + 399_997_000).toISOString()], {
    cwd: ROOT, env, encoding: "utf8", timeout: 100_000,
  });
  assert.equal(since.status, 0, `signal ${since.signal}; stderr: ${since.stderr.slice(-1500)}`);
  assert.equal(since.stdout, [399_997, 399_998, 399_999].map((k) => line(k, "big")).join("\n") + "\n");
});
