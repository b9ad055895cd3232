/**
 * Durable folder writes (model/durable.ts): every file and folder of a tree reaches fsync, a
 * missing tree is an error naming it, and writeNewFolder (exports, `azr model`) flushes its temp
 * folder before the rename and the parent after it. The fsync calls are counted with strace in a
 * child process: a count read from our own code could not tell a flush from a no-op.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { syncTree, syncTreeSync } from "../../model/durable.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "azr-durable-"));

/** a/, a/x, a/s/y, a/s/t/z: three files, three folders */
function tree(): string {
  const root = join(tmp(), "a");
  mkdirSync(join(root, "s", "t"), { recursive: true });
  writeFileSync(join(root, "x"), "x");
  writeFileSync(join(root, "s", "y"), "y");
  writeFileSync(join(root, "s", "t", "z"), "z");
  return root;
}

const hasStrace = spawnSync("strace", ["-V"]).status === 0;

/** The fsync calls (any thread) a node child made running `code` (an ES module body). */
function fsyncsOf(code: string): number {
  const log = join(tmp(), "strace.log");
  const r = spawnSync("strace", ["-f", "-qq", "-e", "trace=fsync", "-o", log, process.execPath, "--import", "tsx", "--input-type=module", "-e", code], { encoding: "utf8", cwd: resolve(".") });
  assert.equal(r.status, 0, r.stderr);
  return readFileSync(log, "utf8").split("\n").filter((l) => /\bfsync\(\d+\)\s+= 0/.test(l)).length;
}

test("durable - a tree's files and folders are all counted, sync and async", async () => {
  const root = tree();
  assert.deepEqual(syncTreeSync(root), { files: 3, folders: 3 });
  assert.deepEqual(await syncTree(root), { files: 3, folders: 3 });
});

test("durable - a missing tree is an error naming it, not a silent no-op", async () => {
  const gone = join(tmp(), "never-written");
  assert.throws(() => syncTreeSync(gone), (e: Error) => e.message.includes(gone));
  await assert.rejects(syncTree(gone), (e: Error) => e.message.includes(gone));
});

test("durable - each file and folder reaches fsync (strace)", { skip: !hasStrace && "strace not installed (make system-deps installs it)" }, () => {
  const root = tree();
  const mod = JSON.stringify(resolve("model/durable.ts"));
  assert.equal(fsyncsOf(`const m = await import(${mod}); m.syncTreeSync(${JSON.stringify(root)});`), 6);
  assert.equal(fsyncsOf(`const m = await import(${mod}); await m.syncTree(${JSON.stringify(root)});`), 6);
});

test("durable - writeNewFolder flushes what it wrote before the rename, and the folder it renamed into (strace)", { skip: !hasStrace && "strace not installed (make system-deps installs it)" }, () => {
  const out = join(tmp(), "export");
  const mod = JSON.stringify(resolve("model/checkpoint.ts"));
  const fill = `(d) => { fs.writeFileSync(d + "/config.json", "{}"); fs.writeFileSync(d + "/model.safetensors", "w"); }`;
  // two files and the temp folder before the rename, the parent after it
  assert.equal(fsyncsOf(`import * as fs from "node:fs"; const m = await import(${mod}); m.writeNewFolder(${JSON.stringify(out)}, ${fill}, () => false);`), 4);
  assert.equal(readFileSync(join(out, "model.safetensors"), "utf8"), "w");
});
