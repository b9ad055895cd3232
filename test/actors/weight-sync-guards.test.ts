/**
 * Weight sync's guards on the shared-memory path (actors/weight-sync): what a reader refuses to
 * read, what the publisher refuses to hand out, and who may see the folder. /dev/shm is shared by
 * every user of the machine and a handle arrives over the wire, so neither is trusted.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostIdentity, shmRoot, WeightLoader, WeightPublisher, type WeightHandle, type WeightSink, type WeightSource } from "../../actors/weight-sync/index.ts";
import { WeightFiles } from "../../actors/weight-sync/files.ts";
import { readWeightsFile, writeWeightsFile } from "../../actors/weight-sync/safetensors-file.ts";

let runs = 0;
const runId = () => `guard-${process.pid}-${++runs}`;

/** A stand-in engine: its weights are one tensor holding the version. */
const source = (v: number): WeightSource => ({
  writeFile: async (path) => writeWeightsFile(path, new Map([["w", new Float32Array([v, v, v])]])),
  tensors: async () => new Map([["w", new Float32Array([v, v, v])]]),
});

function recordingSink(): WeightSink & { read: string[]; values: number[] } {
  const read: string[] = [];
  const values: number[] = [];
  return { read, values, loadFile: async (p) => void (read.push(p), values.push(readWeightsFile(p).get("w")![0])), setTensors: async () => {} };
}

test("weight sync guards - a handle naming a file outside the run's weights folder, a link, or a version that is not an integer is refused unread", async () => {
  const id = runId();
  const pub = new WeightPublisher({ runId: id });
  const loader = new WeightLoader({ runId: id });
  const sink = recordingSink();
  const elsewhere = mkdtempSync(join(tmpdir(), "azr-guard-"));
  try {
    const h = await pub.publish(3, source(3), { transport: "shm" });
    await loader.load(h, sink);
    assert.deepEqual(sink.values, [3], "the published handle loads");

    // A whole, valid weights file anywhere else on the machine, its size and this host in the handle.
    const outside = join(elsewhere, "weights-v3.safetensors");
    writeWeightsFile(outside, new Map([["w", new Float32Array([66, 66, 66])]]));
    const forged = (over: Partial<WeightHandle>): WeightHandle => ({ ...h, host: hostIdentity(), bytes: statSync(outside).size, ...over });
    await assert.rejects(loader.load(forged({ location: outside }), sink), (e: Error) =>
      e.message.includes(outside) && /not where this rollout engine reads weights/.test(e.message) && e.message.includes(join(shmRoot(), `azr-weights-${id}`)));
    // Inside the folder by name, elsewhere by `..`; another run's folder; another version's name.
    await assert.rejects(loader.load(forged({ location: `${h.location.replace(/[^/]+$/, "")}../../${outside}` }), sink), /not where this rollout engine reads weights/);
    await assert.rejects(loader.load(forged({ location: h.location.replace(`azr-weights-${id}`, `azr-weights-${id}-other`) }), sink), /not where this rollout engine reads weights/);
    await assert.rejects(loader.load(forged({ version: 4 }), sink), /weights-v4\.safetensors/);
    // The right name in the right folder, but a link to the outside file.
    const link = h.location.replace("weights-v3", "weights-v7");
    symlinkSync(outside, link);
    await assert.rejects(loader.load(forged({ version: 7, location: link }), sink), (e: Error) => e.message.includes(link) && /not a plain file/.test(e.message));
    // A version that would put a path into the reader's own file names.
    await assert.rejects(loader.load(forged({ version: "../../x" as unknown as number }), sink), /version "\.\.\/\.\.\/x" is not a non-negative integer/);
    await assert.rejects(loader.load({ ...h, transport: "object-store", version: 1.5, parts: [new Uint8Array(1)] }, sink), /version 1\.5 is not a non-negative integer/);
    assert.deepEqual(sink.read, [h.location], "nothing but the published file was read");
  } finally {
    await pub.dispose();
    await loader.dispose();
    rmSync(elsewhere, { recursive: true, force: true });
  }
});

test("weight sync guards - a version whose file vanished (/dev/shm cleared) is written again by the next publish, not handed out dead", async () => {
  const id = runId();
  const pub = new WeightPublisher({ runId: id });
  const loader = new WeightLoader({ runId: id });
  const sink = recordingSink();
  try {
    const h = await pub.publish(5, source(5), { transport: "shm" });
    const same = await pub.publish(5, source(5), { transport: "shm" });
    assert.equal(same.publishMs, 0, "while the file is there, the version is handed out again without a write");
    rmSync(pub.files().dir, { recursive: true, force: true }); // what systemd-logind's RemoveIPC or a manual clean does
    await assert.rejects(loader.load(h, sink), /is missing.*publish the version again/);
    // The fix the error names has to work: a publish of the same version writes it again.
    const again = await pub.publish(5, source(5), { transport: "shm" });
    await loader.load(again, sink);
    assert.deepEqual(sink.values, [5]);
    // Truncated under the same name: written again too.
    writeFileSync(again.location, "short");
    await loader.load(await pub.publish(5, source(5), { transport: "shm" }), sink);
    assert.deepEqual(sink.values, [5, 5]);
  } finally {
    await pub.dispose();
    await loader.dispose();
  }
});

test("weight sync guards - versions going back (a checkpoint of an earlier step loaded): the older number is published and loaded, the newer files go at its confirm", async () => {
  const id = runId();
  const pub = new WeightPublisher({ runId: id });
  const loader = new WeightLoader({ runId: id });
  const sink = recordingSink();
  try {
    for (const v of [7, 8]) {
      await loader.load(await pub.publish(v, source(v), { transport: "shm" }), sink);
      await pub.confirm(v);
    }
    await pub.publish(9, source(9), { transport: "shm" }); // published, never loaded: the learner died before the sync ended
    pub.forget(); // the learner loaded step 5's checkpoint
    const back = await pub.publish(5, source(50), { transport: "shm" });
    await loader.load(back, sink);
    await pub.confirm(5);
    assert.deepEqual(sink.values, [7, 8, 50], "the rollout engine takes the older number's new weights");
    assert.deepEqual(readdirSync(pub.files().dir), ["weights-v5.safetensors"], "v8 and v9 are gone after v5 is confirmed");
  } finally {
    await pub.dispose();
    await loader.dispose();
  }
});

test("weight files - the run's folder is private to this user; another user's folder of the same name is neither emptied nor used", { skip: process.getuid?.() !== 0 && "needs root to make a folder of another user" }, () => {
  const run = `guard-files-${process.pid}`;
  const own = new WeightFiles(run, "", () => {});
  try {
    assert.equal(statSync(own.dir).mode & 0o777, 0o700, "no other user of the machine can list or read the weight versions");
  } finally {
    own.dispose();
  }

  // Another user's folder under this run's name (the same run id elsewhere, or planted): left as it is.
  const theirs = join(shmRoot(), `azr-weights-${run}-x`);
  mkdirSync(theirs);
  writeFileSync(join(theirs, "weights-v1.safetensors"), "theirs");
  chmodSync(theirs, 0o755);
  chownSync(theirs, 4321, 4321);
  try {
    assert.throws(() => new WeightFiles(`${run}-x`, "", () => {}), (e: Error) => e.message.includes(theirs) && /owned by uid 4321/.test(e.message) && /AZR_WEIGHTS_DIR/.test(e.message));
    assert.ok(existsSync(join(theirs, "weights-v1.safetensors")), "their file is still there");
    // A link under the name: not followed into whatever it points at.
    rmSync(theirs, { recursive: true });
    const target = mkdtempSync(join(tmpdir(), "azr-guard-target-"));
    writeFileSync(join(target, "keep"), "x");
    symlinkSync(target, theirs);
    assert.throws(() => new WeightFiles(`${run}-x`, "", () => {}), /not a folder \(a link\?\)/);
    assert.ok(existsSync(join(target, "keep")));
    rmSync(target, { recursive: true });

    // A dead process's reader folder of another user: not removed by this user's reader (nor a failed start).
    rmSync(theirs, { force: true });
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout;
    const deadDir = join(shmRoot(), `azr-weights-${run}-reader-${dead}-1`);
    mkdirSync(deadDir);
    chownSync(deadDir, 4321, 4321);
    const reader = new WeightFiles(run, "reader", () => {}, true);
    reader.dispose();
    assert.ok(existsSync(deadDir), "another user's folder is theirs to clean");
    rmSync(deadDir, { recursive: true });
  } finally {
    rmSync(theirs, { recursive: true, force: true });
  }
});
