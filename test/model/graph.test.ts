/** The graph builder: shapes tracked at build time, bytes that onnxruntime accepts and computes right. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { Graph } from "../../model/graph/builder.ts";
import { ShapeError } from "../../model/graph/shape.ts";
import { dumpGraph, serializeGraph } from "../../model/graph/serialize.ts";

test("graph - shapes are tracked through symbolic reshapes, matmul and slices", () => {
  const g = new Graph("shapes");
  const x = g.input("x", "float32", ["B", "T", 12]);
  const h = g.reshape(x, [0, 0, 3, 4]);
  assert.deepEqual(h.shape, ["B", "T", 3, 4]);
  const flat = g.reshape(x, [-1, 12]);
  assert.deepEqual(flat.shape, ["B*T", 12]);
  const w = g.input("w", "float32", [5, 12]);
  assert.deepEqual(g.linear(flat, w).shape, ["B*T", 5]);
  const t = g.transpose(h, [0, 2, 3, 1]);
  assert.deepEqual(t.shape, ["B", 3, 4, "T"]);
  assert.deepEqual(g.matmul(g.transpose(h, [0, 2, 1, 3]), t).shape, ["B", 3, "T", "T"]); // (B,3,T,4)@(B,3,4,T)
  assert.deepEqual(g.slice(x, 1, -1).shape, ["B", 1, 12]);
  assert.deepEqual(g.concat([x, x], 1).shape, ["B", "T+T", 12]);
  assert.throws(() => g.add(x, g.input("y", "float32", [7])), ShapeError);
  assert.throws(() => g.reshape(g.input("z", "float32", [2, 3]), [4, 2]), /6 elements/);
});

test("graph - serialised model runs in onnxruntime with the values numpy semantics give", async () => {
  const g = new Graph("mlp");
  const x = g.input("x", "float32", ["N", 3]);
  const w = g.input("w", "float32", [2, 3]);
  const b = g.input("b", "float32", [2]);
  const y = g.linear(x, w, b); // [N,2]
  const s = g.softmax(g.mul(y, g.scalar(2)));
  const m = g.reduceMean(y, [-1], false);
  const parts = g.split(y, -1, [1, 1]);
  g.output(s, "probs");
  g.output(m, "mean");
  g.output(g.sub(parts[0], parts[1]), "diff");
  const session = await ort.InferenceSession.create(serializeGraph(g));
  const xs = new Float32Array([1, 2, 3, -1, 0, 1]);
  const ws = new Float32Array([0.5, -1, 2, 1, 1, 1]);
  const bs = new Float32Array([0.1, -0.2]);
  const out = await session.run({
    x: new ort.Tensor("float32", xs, [2, 3]),
    w: new ort.Tensor("float32", ws, [2, 3]),
    b: new ort.Tensor("float32", bs, [2]),
  });
  const yRef = [[0.5 - 2 + 6 + 0.1, 1 + 2 + 3 - 0.2], [-0.5 + 0 + 2 + 0.1, -1 + 0 + 1 - 0.2]];
  const mean = out.mean.data as Float32Array;
  const diff = out.diff.data as Float32Array;
  const probs = out.probs.data as Float32Array;
  for (let i = 0; i < 2; i++) {
    assert.ok(Math.abs(mean[i] - (yRef[i][0] + yRef[i][1]) / 2) < 1e-5);
    assert.ok(Math.abs(diff[i] - (yRef[i][0] - yRef[i][1])) < 1e-5);
    const e0 = Math.exp(2 * yRef[i][0]), e1 = Math.exp(2 * yRef[i][1]);
    assert.ok(Math.abs(probs[2 * i] - e0 / (e0 + e1)) < 1e-5);
  }
  await session.release();
});

test("graph - dumpGraph writes the same bytes a session is made from", () => {
  const g = new Graph("dump");
  g.output(g.neg(g.input("x", "float32", [2])), "y");
  const path = join(mkdtempSync(join(tmpdir(), "azr-graph-")), "g.onnx");
  dumpGraph(g, path);
  assert.ok(Buffer.from(serializeGraph(g)).equals(readFileSync(path)));
});
