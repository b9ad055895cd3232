/**
 * WeightFiles folders: readers of one run on one host (rollout replicas) each get a folder of their
 * own, so one's start cannot wipe another's download in flight (a failure seen in
 * rollout-pool.test.ts when two replicas shared `<run>-reader`); a per-process folder whose process
 * is gone is removed by the next start, a live one's is kept.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { WeightFiles } from "../../actors/weight-sync/files.ts";
import { shmRoot } from "../../actors/weight-sync/host.ts";

test("weight files - per-process reader folders: concurrent readers keep their files, a dead process's folder goes", () => {
  const run = `wf-test-${process.pid}`;
  const a = new WeightFiles(run, "reader", () => {}, true);
  const inFlight = a.scratch(3);
  writeFileSync(inFlight, "downloading");
  const b = new WeightFiles(run, "reader", () => {}, true);
  assert.notEqual(a.dir, b.dir);
  assert.ok(existsSync(inFlight), "the second reader's start left the first one's download alone");

  // A folder named for a process that has exited (a crash skips dispose): the next start removes it.
  const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  const deadDir = join(shmRoot(), `azr-weights-${run}-reader-${dead.stdout}-1`);
  mkdirSync(deadDir, { recursive: true });
  writeFileSync(join(deadDir, ".download-v1-00000000.partial"), "x");
  const logs: string[] = [];
  const c = new WeightFiles(run, "reader", (l) => logs.push(l), true);
  assert.ok(!existsSync(deadDir), "the dead process's folder was removed");
  assert.match(logs.join("\n"), new RegExp(`left by process ${dead.stdout} of this run, which is gone`));
  assert.ok(existsSync(inFlight) && existsSync(b.dir), "this live process's folders are kept");
  for (const f of [a, b, c]) f.dispose();
  assert.ok(!existsSync(a.dir) && !existsSync(c.dir));
});
