/**
 * WeightFiles folders: readers of one run on one host (rollout replicas) each get a folder of their
 * own, so one's start cannot wipe another's download in flight (a failure seen in
 * rollout-pool.test.ts when two replicas shared `<run>-reader`); a per-process folder whose process
 * is gone is removed by the next start, a live one's is kept.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
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

test("weight files - a folder out of room: an error saying where, how much and what to change; no partial file left", async () => {
  const files = new WeightFiles(`wf-full-${process.pid}`, "", () => {});
  try {
    // /dev/full fails every write with ENOSPC, as a full /dev/shm does
    const node = files.write(4, async (tmp) => { writeFileSync(tmp, Buffer.alloc(3 << 20)); writeFileSync("/dev/full", Buffer.alloc(1024)); });
    await assert.rejects(node, (e: Error) => {
      assert.match(e.message, new RegExp(`weight sync: ${files.dir} ran out of room writing version 4 \\(3 MB written before it failed, \\d+ MB free now\\)`));
      assert.match(e.message, /--shm-size.*AZR_WEIGHTS_DIR/);
      assert.equal((e.cause as NodeJS.ErrnoException).code, "ENOSPC");
      return true;
    });
    // the torch worker's Python says it in its own words
    const torch = files.write(5, async () => { throw new Error("save_weights_file: OSError: [Errno 28] No space left on device"); });
    await assert.rejects(torch, /ran out of room writing version 5/);
    await assert.rejects(files.write(6, async () => { throw new Error("something else"); }), /^Error: something else$/, "other errors pass unchanged");
    // the torch worker writes <tmp>.tmp (renamed to <tmp> once complete): out of room, that is the partial file
    const worker = files.write(7, async (tmp) => {
      writeFileSync(`${tmp}.tmp`, Buffer.alloc(2 << 20));
      throw new Error("save_weights_file: OSError: [Errno 28] No space left on device");
    });
    await assert.rejects(worker, /ran out of room writing version 7 \(2 MB written before it failed/);
    assert.deepEqual(readdirSync(files.dir), [], "no partial file left behind");
  } finally {
    files.dispose();
  }
});

test("weight files - AZR_WEIGHTS_DIR: an absolute folder whatever the working folder; a file or a missing folder refused by name", () => {
  const host = new URL("../../actors/weight-sync/host.ts", import.meta.url).href;
  const base = mkdtempSync(join(tmpdir(), "azr-wdir-"));
  try {
    mkdirSync(join(base, "weights"));
    writeFileSync(join(base, "a-file"), "");
    const root = (dir: string) => spawnSync(process.execPath, ["--import", "tsx", "-e", `import(${JSON.stringify(host)}).then((m) => process.stdout.write(m.shmRoot()))`], {
      env: { ...process.env, AZR_WEIGHTS_DIR: dir }, encoding: "utf8",
    });
    const ok = root(relative(process.cwd(), join(base, "weights")));
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout, join(base, "weights"), "resolved against the working folder once, so a reader elsewhere opens the same files");
    for (const bad of [join(base, "a-file"), join(base, "missing")]) {
      const r = root(bad);
      assert.notEqual(r.status, 0);
      assert.ok(r.stderr.includes(`AZR_WEIGHTS_DIR=${bad} is not a writable folder`), r.stderr);
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
