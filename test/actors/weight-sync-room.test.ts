/**
 * A rollout engine's own weights folder out of room while it downloads an object-store version:
 * the error names the folder, how much was written and what to change (as the publisher's does,
 * files.ts outOfRoom), and leaves no partial download. The folder is a 1 MiB tmpfs (AZR_WEIGHTS_DIR),
 * which takes mount privileges: skipped where the test cannot mount one.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WeightLoader, WeightPublisher } from "../../actors/weight-sync/index.ts";
import { writeWeightsFile } from "../../actors/weight-sync/safetensors-file.ts";
import { useNatsServer } from "../helpers/nats.ts";

const nats = useNatsServer();
const dir = mkdtempSync(join(tmpdir(), "azr-room-"));
let mounted = false;

before(() => {
  mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]).status === 0;
  if (mounted) process.env.AZR_WEIGHTS_DIR = dir; // read once, at the first weight sync call of this process
});
after(() => {
  if (mounted) spawnSync("umount", [dir]);
  rmSync(dir, { recursive: true, force: true });
});

test("weight sync - the reader's folder out of room mid-download: an error naming the folder and the fix, no partial file left", { timeout: 60_000 }, async (t) => {
  if (!mounted) return t.skip("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)");
  const id = `room-${process.pid}`;
  const pub = new WeightPublisher({ runId: id, nats: { servers: [nats.url] } });
  const loader = new WeightLoader({ runId: id, nats: { servers: [nats.url] } });
  try {
    // 600 KB: the learner's upload file fits the folder (and is removed once uploaded); the download does not once it is filled
    const h = await pub.publish(1, { writeFile: async (p) => writeWeightsFile(p, new Map([["w", new Float32Array(150_000)]])), tensors: async () => new Map() }, { transport: "object-store" });
    writeFileSync(join(dir, "filler"), Buffer.alloc(700 * 1024));
    await assert.rejects(loader.load(h, { loadFile: async (p) => assert.fail(`a download of ${statSync(p).size} of ${h.bytes} bytes was handed on as whole`), setTensors: async () => {} }), (e: Error) => {
      assert.match(e.message, new RegExp(`weight sync: ${dir}/azr-weights-${id}-reader-\\d+-\\d+ ran out of room writing version 1 \\(\\d+ MB written before it failed, \\d+ MB free now\\)`));
      assert.match(e.message, /--shm-size.*AZR_WEIGHTS_DIR/);
      return true;
    });
    const readers = readdirSync(dir).filter((d) => d.includes("-reader-"));
    assert.ok(readers.length === 1 && readdirSync(join(dir, readers[0])).length === 0, "no partial download left");
  } finally {
    await loader.dispose();
    await pub.dispose();
  }
});
