/**
 * Every gradient rule, one case per op (several where broadcasting or attributes vary), checked
 * forward and backward against PyTorch float64 autograd and backward against finite differences.
 * Plus the composites the architectures build from them: RMSNorm, SiLU, rotate-half RoPE, masking.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import type { Graph, Value } from "../../model/graph/builder.ts";
import { gradients } from "../../model/train/grad/backward.ts";
import { scalarLike } from "../../model/train/grad/tensors.ts";
import { maxErr, runCase, torchReference, type CaseResult, type OpCase } from "./gradcheck.ts";

const pos: [number, number] = [0.5, 1.5];
const gemm = (g: Graph, a: Value, b: Value, ta: number, tb: number, shape: number[]) =>
  g.node("Gemm", [a, b], [{ dtype: a.dtype, shape }], { transA: { type: "int", value: ta }, transB: { type: "int", value: tb } })[0];

const CASES: OpCase[] = [
  { name: "Add broadcast", inputs: [{ shape: [2, 3, 4] }, { shape: [3, 1] }], build: (g, [a, b]) => g.add(a, b), torch: "a + b" },
  { name: "Sub broadcast", inputs: [{ shape: [2, 3] }, { shape: [3] }], build: (g, [a, b]) => g.sub(a, b), torch: "a - b" },
  { name: "Mul both broadcast", inputs: [{ shape: [2, 1, 4] }, { shape: [3, 1] }], build: (g, [a, b]) => g.mul(a, b), torch: "a * b" },
  { name: "Mul same input twice", inputs: [{ shape: [5] }], build: (g, [a]) => g.mul(a, a), torch: "a * a" },
  { name: "Div", inputs: [{ shape: [2, 3] }, { shape: [2, 1], range: pos }], build: (g, [a, b]) => g.div(a, b), torch: "a / b" },
  { name: "Pow both", inputs: [{ shape: [2, 3], range: pos }, { shape: [2, 3] }], build: (g, [a, b]) => g.pow(a, b), torch: "a ** b" },
  { name: "Pow const exponent", inputs: [{ shape: [4] }], build: (g, [a]) => g.pow(a, scalarLike(g, a, 3)), torch: "a ** 3" },
  { name: "MatMul 3-D @ 2-D", inputs: [{ shape: [2, 3, 4] }, { shape: [4, 5] }], build: (g, [a, b]) => g.matmul(a, b), torch: "a @ b" },
  { name: "MatMul batch broadcast", inputs: [{ shape: [2, 1, 3, 4] }, { shape: [3, 4, 2] }], build: (g, [a, b]) => g.matmul(a, b), torch: "a @ b" },
  { name: "Gemm linear + bias", inputs: [{ shape: [3, 4] }, { shape: [5, 4] }, { shape: [5] }], build: (g, [a, w, c]) => g.linear(a, w, c), torch: "a @ b.T + c" },
  { name: "Gemm transA", inputs: [{ shape: [4, 3] }, { shape: [4, 5] }], build: (g, [a, b]) => gemm(g, a, b, 1, 0, [3, 5]), torch: "a.T @ b" },
  { name: "Gemm transA transB", inputs: [{ shape: [4, 3] }, { shape: [5, 4] }], build: (g, [a, b]) => gemm(g, a, b, 1, 1, [3, 5]), torch: "a.T @ b.T" },
  { name: "Gemm plain", inputs: [{ shape: [3, 4] }, { shape: [4, 5] }], build: (g, [a, b]) => gemm(g, a, b, 0, 0, [3, 5]), torch: "a @ b" },
  { name: "Neg", inputs: [{ shape: [3] }], build: (g, [a]) => g.neg(a), torch: "-a" },
  { name: "Sqrt", inputs: [{ shape: [2, 3], range: pos }], build: (g, [a]) => g.sqrt(a), torch: "a.sqrt()" },
  { name: "Reciprocal", inputs: [{ shape: [2, 3], range: pos }], build: (g, [a]) => g.reciprocal(a), torch: "1 / a" },
  { name: "Exp", inputs: [{ shape: [2, 3] }], build: (g, [a]) => g.exp(a), torch: "a.exp()" },
  { name: "Log", inputs: [{ shape: [2, 3], range: pos }], build: (g, [a]) => g.log(a), torch: "a.log()" },
  { name: "Sigmoid", inputs: [{ shape: [2, 3], range: [-3, 3] }], build: (g, [a]) => g.sigmoid(a), torch: "a.sigmoid()" },
  { name: "Tanh", inputs: [{ shape: [2, 3] }], build: (g, [a]) => g.tanh(a), torch: "a.tanh()" },
  { name: "Cos", inputs: [{ shape: [4] }], build: (g, [a]) => g.cos(a), torch: "a.cos()" },
  { name: "Sin", inputs: [{ shape: [4] }], build: (g, [a]) => g.sin(a), torch: "a.sin()" },
  { name: "Relu", inputs: [{ shape: [6] }], build: (g, [a]) => g.relu(a), torch: "a.relu()" },
  { name: "Identity", inputs: [{ shape: [2, 2] }], build: (g, [a]) => g.identity(a), torch: "a * 1" },
  { name: "Cast f64→f32→f64", inputs: [{ shape: [2, 3] }], build: (g, [a]) => g.cast(g.cast(a, "float32"), "float64"), torch: "a.float().double()", eps: 1e-3, tol: 1e-5 },
  { name: "Reshape", inputs: [{ shape: [2, 3, 4] }], build: (g, [a]) => g.reshape(a, [4, -1]), torch: "a.reshape(4, 6)" },
  { name: "Transpose", inputs: [{ shape: [2, 3, 4] }], build: (g, [a]) => g.transpose(a, [2, 0, 1]), torch: "a.permute(2, 0, 1)" },
  { name: "Unsqueeze", inputs: [{ shape: [2, 3] }], build: (g, [a]) => g.unsqueeze(a, [1, -1]), torch: "a.unsqueeze(1).unsqueeze(-1)" },
  { name: "Squeeze", inputs: [{ shape: [2, 1, 3] }], build: (g, [a]) => g.squeeze(a, [1]), torch: "a.squeeze(1)" },
  { name: "Concat", inputs: [{ shape: [2, 3] }, { shape: [2, 2] }], build: (g, [a, b]) => g.concat([a, b], -1), torch: "torch.cat([a, b], -1)" },
  { name: "Split both used", inputs: [{ shape: [2, 5] }], build: (g, [a]) => { const [x, y] = g.split(a, 1, [2, 3]); return g.concat([y, g.mul(x, x)], 1); }, torch: "torch.cat([a[:, 2:], a[:, :2] ** 2], 1)" },
  { name: "Split one used", inputs: [{ shape: [2, 5] }], build: (g, [a]) => g.split(a, 1, [2, 3])[1], torch: "a[:, 2:]" },
  { name: "Slice middle", inputs: [{ shape: [3, 5] }], build: (g, [a]) => g.slice(a, 1, 1, 4), torch: "a[:, 1:4]" },
  { name: "Slice negative start", inputs: [{ shape: [4, 2] }], build: (g, [a]) => g.slice(a, 0, -2), torch: "a[-2:]" },
  { name: "Expand", inputs: [{ shape: [3, 1] }], build: (g, [a]) => g.node("Expand", [a, g.constInt64([2, 3, 4])], [{ dtype: a.dtype, shape: [2, 3, 4] }])[0], torch: "a.expand(2, 3, 4)" },
  { name: "Gather rows (repeats)", inputs: [{ shape: [5, 3] }, { shape: [2, 4], dtype: "int64", high: 5 }], build: (g, [a, i]) => g.gather(a, i), torch: "a[b]" },
  { name: "GatherElements", inputs: [{ shape: [3, 5] }, { shape: [3, 2], dtype: "int64", high: 5 }], build: (g, [a, i]) => g.gatherElements(a, i, 1), torch: "torch.gather(a, 1, b)" },
  { name: "Where broadcast", inputs: [{ shape: [2, 3], dtype: "bool" }, { shape: [2, 3] }, { shape: [3] }], build: (g, [c, a, b]) => g.where(c, a, b), torch: "torch.where(a, b, c)" },
  { name: "Softmax last", inputs: [{ shape: [2, 5] }], build: (g, [a]) => g.softmax(a, -1), torch: "torch.softmax(a, -1)" },
  { name: "Softmax axis 0", inputs: [{ shape: [3, 2] }], build: (g, [a]) => g.softmax(a, 0), torch: "torch.softmax(a, 0)" },
  { name: "LogSoftmax", inputs: [{ shape: [2, 5] }], build: (g, [a]) => g.logSoftmax(a, -1), torch: "torch.log_softmax(a, -1)" },
  { name: "ReduceSum keepdims", inputs: [{ shape: [2, 3, 4] }], build: (g, [a]) => g.reduceSum(a, [1], true), torch: "a.sum(1, keepdim=True)" },
  { name: "ReduceSum drop axes", inputs: [{ shape: [2, 3, 4] }], build: (g, [a]) => g.reduceSum(a, [0, 2], false), torch: "a.sum((0, 2))" },
  { name: "ReduceMean", inputs: [{ shape: [2, 3, 4] }], build: (g, [a]) => g.reduceMean(a, [-1], true), torch: "a.mean(-1, keepdim=True)" },
  { name: "ReduceMax", inputs: [{ shape: [3, 4] }], build: (g, [a]) => g.reduceMax(a, [1], false), torch: "a.amax(1)" },
  { name: "ReduceLogSumExp", inputs: [{ shape: [3, 4] }], build: (g, [a]) => g.reduceLogSumExp(a, [-1], true), torch: "torch.logsumexp(a, -1, keepdim=True)" },
  // Composites, built exactly as model/arch/transformer.ts builds them.
  {
    name: "RMSNorm",
    inputs: [{ shape: [3, 8] }, { shape: [8] }],
    build: (g, [x, w]) => g.mul(g.mul(x, g.reciprocal(g.sqrt(g.add(g.reduceMean(g.mul(x, x), [-1]), scalarLike(g, x, 1e-6))))), w),
    torch: "a * torch.rsqrt((a * a).mean(-1, keepdim=True) + 1e-6) * b",
  },
  { name: "SiLU·up", inputs: [{ shape: [3, 4] }, { shape: [3, 4] }], build: (g, [a, b]) => g.mul(g.mul(a, g.sigmoid(a)), b), torch: "F.silu(a) * b" },
  {
    name: "RoPE rotate-half",
    inputs: [{ shape: [2, 3, 8] }, { shape: [3, 4] }, { shape: [3, 4] }],
    build: (g, [x, cos, sin]) => {
      const [x1, x2] = g.split(x, -1, [4, 4]);
      return g.concat([g.sub(g.mul(x1, cos), g.mul(x2, sin)), g.add(g.mul(x2, cos), g.mul(x1, sin))], -1);
    },
    torch: "torch.cat([a[..., :4] * b - a[..., 4:] * c, a[..., 4:] * b + a[..., :4] * c], -1)",
  },
  {
    name: "causal mask + softmax",
    inputs: [{ shape: [4, 4] }, { shape: [4, 4], dtype: "bool" }],
    build: (g, [s, keep]) => g.softmax(g.where(keep, s, scalarLike(g, s, -1e9)), -1),
    torch: "torch.softmax(torch.where(b, a, torch.tensor(-1e9, dtype=torch.float64)), -1)",
  },
];

let results: CaseResult[] = [];
let reference: { y: number[]; grads: (number[] | null)[] }[] = [];

before(async () => {
  results = [];
  for (const [i, c] of CASES.entries()) results.push(await runCase(c, 1000 + i));
  reference = torchReference(CASES, results);
});

for (const [i, c] of CASES.entries()) {
  test(`grad - ${c.name}: forward and gradients match PyTorch float64 and finite differences`, () => {
    const ours = results[i], ref = reference[i];
    const tol = c.tol ?? 1e-6;
    const ey = maxErr(ours.y, ref.y);
    assert.ok(ey <= tol, `${c.name}: forward error ${ey.toExponential(2)} vs PyTorch`);
    ours.grads.forEach((gr, k) => {
      if (!gr) return;
      const et = maxErr(gr, ref.grads[k]!);
      const ef = maxErr(gr, ours.fd[k]!);
      assert.ok(et <= tol, `${c.name}: input ${k} gradient error ${et.toExponential(2)} vs PyTorch`);
      assert.ok(ef <= Math.max(tol, 1e-6), `${c.name}: input ${k} gradient error ${ef.toExponential(2)} vs finite differences`);
    });
  });
}

test("grad - a missing rule names the op", async () => {
  const { Graph } = await import("../../model/graph/builder.ts");
  const g = new Graph("missing");
  const a = g.input("a", "float64", [3]);
  const y = g.node("ScatterElements", [a, g.constInt64([0]), a], [{ dtype: "float64", shape: [3] }])[0];
  assert.throws(() => gradients(g, g.reduceSum(y, [0], false), [a]), /no gradient rule for op ScatterElements/);
});

test("grad - only nodes between targets and loss are walked", async () => {
  const { Graph } = await import("../../model/graph/builder.ts");
  const g = new Graph("walk");
  const a = g.input("a", "float64", [3]), b = g.input("b", "float64", [3]);
  const side = g.exp(b); // does not depend on a: must not get a backward node
  const loss = g.reduceSum(g.mul(g.mul(a, a), side), [0], false);
  const before = g.nodes.length;
  gradients(g, loss, [a]);
  const added = g.nodes.slice(before);
  assert.ok(!added.some((n) => n.inputs.includes(b)), "a backward node reads b although only a's gradient was asked for");
  assert.ok(!added.some((n) => n.op === "Log" || n.op === "Exp"), "Exp of b was differentiated");
});
