/**
 * A safetensors file renamed over its name while it is being read (weight sync publishes each
 * version that way) gives the first file's tensors, or a clear error: never some tensors of one
 * file and the rest of the other. The reader used to reopen the name for every tensor.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readHeader, readSafetensors, readTensor, SafetensorsError, SafetensorsReader, writeSafetensors } from "../../model/safetensors.ts";
import { iterWeights, randomWeights, saveModel } from "../../model/checkpoint.ts";
import { smallConfigs } from "./fixtures.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "azr-st-swap-"));

/** A file of three tensors, every value `v` (F16: the half-precision path reads in chunks too). */
function version(file: string, v: number, dtype: "F32" | "F16" = "F32"): void {
  const t = (name: string, n: number) => ({ name, shape: [n], data: new Float32Array(n).fill(v) });
  writeSafetensors(file, [t("a", 16), t("b", 5000), t("c", 7)], dtype);
}

const valuesOf = (m: Map<string, Float32Array>) => new Set([...m.values()].flatMap((x) => [...x]));

test("safetensors swap - readHeader, then the file renamed over, then readTensor: refused naming the file, not the other file's bytes", () => {
  const dir = tmp();
  try {
    const path = join(dir, "weights-v1.safetensors"), next = join(dir, "next.safetensors");
    version(path, 1);
    version(next, 2);
    const [a, b] = readHeader(path);
    assert.deepEqual(readTensor(a), new Float32Array(16).fill(1));
    renameSync(next, path); // the next version lands under the same name
    let got: Float32Array | undefined;
    try {
      got = readTensor(b);
    } catch (e) {
      assert.ok(e instanceof SafetensorsError, String(e));
      assert.match((e as Error).message, new RegExp(`${path.replace(/[.\\/]/g, "\\$&")} was replaced .* read the file again`));
    }
    if (got) assert.deepEqual([...new Set(got)], [1], "tensor b read from the other file than its header");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("safetensors swap - SafetensorsReader reads every tensor of the file whose header it read, whatever is renamed over the name", () => {
  const dir = tmp();
  try {
    for (const dtype of ["F32", "F16"] as const) {
      const path = join(dir, `w-${dtype}.safetensors`), next = join(dir, `next-${dtype}.safetensors`);
      version(path, 1, dtype);
      version(next, 2, dtype);
      const r = new SafetensorsReader(path);
      try {
        const first = r.read(r.tensors[0]!);
        renameSync(next, path);
        const rest = r.tensors.slice(1).map((t) => r.read(t));
        assert.deepEqual(valuesOf(new Map([["a", first], ...rest.map((x, i) => [String(i), x] as [string, Float32Array])])), new Set([1]), `${dtype}: every tensor from the first file`);
        assert.deepEqual(r.read("c"), new Float32Array(7).fill(1));
      } finally {
        r.close();
      }
      assert.throws(() => r.read("a"), /read after close/);
      assert.deepEqual(valuesOf(readSafetensors(path)), new Set([2]), "read again: the new file");
    }
    // a tensor listed by another reader is refused, not read at its offsets in this file
    const other = new SafetensorsReader(join(dir, "w-F32.safetensors"));
    const mine = new SafetensorsReader(join(dir, "w-F16.safetensors"));
    try {
      assert.throws(() => mine.read(other.tensors[1]!), /was not read from this reader's header/);
      assert.throws(() => mine.read("nope"), /no tensor nope/);
    } finally {
      other.close();
      mine.close();
    }
    assert.throws(() => new SafetensorsReader(join(dir, "absent.safetensors")), /safetensors file not found: .*absent\.safetensors/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("safetensors swap - loadWeights' files are opened once: a model file renamed over mid-load gives the first model whole", () => {
  const dir = tmp();
  try {
    const config = smallConfigs.llama;
    const first = randomWeights(config, 1), second = randomWeights(config, 2);
    saveModel(join(dir, "m"), config, first);
    saveModel(join(dir, "n"), config, second);
    const got = new Map<string, Float32Array>();
    let swapped = false;
    for (const [name, data] of iterWeights(join(dir, "m"), config)) {
      got.set(name, data);
      if (!swapped) {
        renameSync(join(dir, "n", "model.safetensors"), join(dir, "m", "model.safetensors")); // after the header and one tensor
        swapped = true;
      }
    }
    assert.ok(got.size > 2);
    const fromSecond = [...got].filter(([n, d]) => Buffer.compare(Buffer.from(d.buffer), Buffer.from(first.get(n)!.buffer)) !== 0).map(([n]) => n);
    assert.deepEqual(fromSecond, [], "tensors that are not the first model's");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
