/**
 * A model's identity for resuming `azr eval` records is its files' content: touching them keeps
 * it, other weight bytes change it — for small files hashed whole and for large ones sampled.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeSafetensors } from "../../model/safetensors.ts";
import { fileIdentity, weightStamps } from "../../actors/eval/weights-identity.ts";

/** Overwrites bytes of a file in place (its size unchanged). */
function overwrite(file: string, at: number, bytes: Buffer): void {
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, bytes, 0, bytes.length, at);
  } finally {
    closeSync(fd);
  }
}

const later = new Date(Date.now() + 3_600_000);

describe("model content identity (eval resume fingerprint)", () => {
  let dir: string;
  let weights: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "azr-weights-id-"));
    weights = join(dir, "model.safetensors");
    const tensor = (name: string, n: number, k: number) => ({ name, shape: [n], data: Float32Array.from({ length: n }, (_, i) => Math.sin(i + k)) });
    // 3 tensors of 64 KiB each: big enough that the sampled path reads only part of each
    writeSafetensors(weights, [tensor("a", 16_384, 1), tensor("b", 16_384, 2), tensor("c", 16_384, 3)]);
    writeFileSync(join(dir, "config.json"), JSON.stringify({ hidden_size: 32 }));
    writeFileSync(join(dir, "notes.txt"), "not part of the model");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("touching the files keeps the fingerprint", () => {
    const before = weightStamps(dir);
    assert.deepEqual(before.map((s) => s.split(":")[0]), ["config.json", "model.safetensors"]);
    utimesSync(weights, later, later);
    utimesSync(join(dir, "config.json"), later, later);
    assert.deepEqual(weightStamps(dir), before);
  });

  it("changing a weight's bytes changes it (file hashed whole)", () => {
    const before = weightStamps(dir);
    const original = readFileSync(weights);
    try {
      overwrite(weights, original.length - 4, Buffer.from([1, 2, 3, 4])); // the last element of the last tensor
      assert.notDeepEqual(weightStamps(dir), before);
    } finally {
      writeFileSync(weights, original);
    }
    assert.deepEqual(weightStamps(dir), before, "the same bytes again: the same identity");
  });

  it("a large safetensors file is sampled per tensor: a changed tensor changes it, a touch does not", () => {
    const sampled = () => fileIdentity(weights, 1024); // as if the file were larger than the whole-file limit
    const original = readFileSync(weights);
    const id = sampled();
    utimesSync(weights, later, later);
    assert.equal(sampled(), id);
    try {
      // tensor "b" updated everywhere, as a training step does; its bytes lie in the file's middle third
      const headerEnd = 8 + Number(original.readBigUInt64LE(0));
      const b = JSON.parse(original.subarray(8, headerEnd).toString("utf8")).b.data_offsets as [number, number];
      overwrite(weights, headerEnd + b[0], Buffer.alloc(b[1] - b[0], 7));
      assert.notEqual(sampled(), id);
    } finally {
      writeFileSync(weights, original);
    }
    assert.equal(sampled(), id);
  });

  it("a large file of another format is sampled over its length", () => {
    const bin = join(dir, "pytorch_model.bin");
    writeFileSync(bin, Buffer.alloc(1 << 20, 5));
    const id = fileIdentity(bin, 1024);
    utimesSync(bin, later, later);
    assert.equal(fileIdentity(bin, 1024), id);
    overwrite(bin, 0, Buffer.alloc(1 << 19, 9)); // its first half
    assert.notEqual(fileIdentity(bin, 1024), id);
    rmSync(bin);
  });
});
