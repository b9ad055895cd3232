/**
 * One helper call per op (tinygrad's helper_test_op): build the op on random inputs, take
 * loss = Σ y·r for a fixed random r, differentiate with model/train/grad, run in onnxruntime,
 * and compare (1) the forward output and every input gradient with PyTorch autograd (float64),
 * (2) every input gradient with central finite differences of our own forward graph.
 * All cases of a file go to one Python process (`torchReference`).
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { Graph, type DType, type Value } from "../../model/graph/builder.ts";
import { serializeGraph } from "../../model/graph/serialize.ts";
import { gradients, prune } from "../../model/train/grad/backward.ts";
import { findPython } from "../../model/python.ts";

export interface InputSpec {
  shape: number[];
  dtype?: "float64" | "float32" | "int64" | "bool";
  /** Value range for floats (default [-1, 1]); ints are drawn from [0, high). */
  range?: [number, number];
  high?: number;
}

export interface OpCase {
  name: string;
  inputs: InputSpec[];
  build: (g: Graph, xs: Value[]) => Value;
  /** PyTorch expression over a, b, c, … computing the same output. */
  torch: string;
  /** Finite-difference step (default 1e-6) and tolerance (default 1e-6, abs + rel). */
  eps?: number;
  tol?: number;
}

export interface CaseResult {
  y: Float64Array;
  grads: (Float64Array | null)[];
  fd: (Float64Array | null)[];
  inputs: { data: number[]; spec: InputSpec }[];
  r: number[];
}

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
}

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
const isFloatSpec = (s: InputSpec) => (s.dtype ?? "float64").startsWith("float");

function tensorOf(spec: InputSpec, data: number[]): ort.Tensor {
  const dt = spec.dtype ?? "float64";
  if (dt === "float64") return new ort.Tensor("float64", Float64Array.from(data), spec.shape);
  if (dt === "float32") return new ort.Tensor("float32", Float32Array.from(data), spec.shape);
  if (dt === "int64") return new ort.Tensor("int64", BigInt64Array.from(data.map(BigInt)), spec.shape);
  return new ort.Tensor("bool", Uint8Array.from(data), spec.shape);
}

/** Runs one case through our graph: output, analytic gradients, finite-difference gradients. */
export async function runCase(c: OpCase, seed: number): Promise<CaseResult> {
  const u = rng(seed);
  const inputs = c.inputs.map((spec) => {
    const n = numel(spec.shape);
    const dt = spec.dtype ?? "float64";
    const [lo, hi] = spec.range ?? [-1, 1];
    const data = Array.from({ length: n }, () =>
      dt === "int64" ? Math.floor(u() * (spec.high ?? 2)) : dt === "bool" ? (u() < 0.5 ? 1 : 0) : lo + (hi - lo) * u());
    return { spec, data };
  });
  const g = new Graph(`grad-${c.name}`);
  const xs = inputs.map((x, i) => g.input("abcdefgh"[i], (x.spec.dtype ?? "float64") as DType, x.spec.shape));
  const y = c.build(g, xs);
  if (y.shape.some((d) => typeof d !== "number")) throw new Error(`${c.name}: output shape must be static`);
  const r = Array.from({ length: numel(y.shape as number[]) }, () => u() * 2 - 1);
  const rConst = y.dtype === "float64" ? g.constant(Float64Array.from(r), "float64", y.shape) : g.constant(Float32Array.from(r), "float32", y.shape);
  const loss = g.reduceSum(g.mul(y, rConst), y.shape.map((_, i) => i), false);
  const wrt = xs.filter((_, i) => isFloatSpec(inputs[i].spec));
  const grads = gradients(g, loss, wrt);
  g.output(y, "y");
  g.output(loss, "loss");
  for (const v of wrt) g.output(grads.get(v)!, `grad_${v.name}`);
  prune(g);
  const session = await ort.InferenceSession.create(serializeGraph(g), { intraOpNumThreads: 1, graphOptimizationLevel: "disabled" });
  const feeds = (datas: number[][]) => Object.fromEntries(xs.map((x, i) => [x.name, tensorOf(inputs[i].spec, datas[i])]));
  const base = await session.run(feeds(inputs.map((x) => x.data)));
  const f64 = (t: ort.Tensor) => Float64Array.from(t.data as Float64Array);
  const eps = c.eps ?? 1e-6;
  const fd: (Float64Array | null)[] = [];
  for (let i = 0; i < inputs.length; i++) {
    if (!isFloatSpec(inputs[i].spec)) { fd.push(null); continue; }
    const out = new Float64Array(inputs[i].data.length);
    for (let k = 0; k < out.length; k++) {
      const at = (delta: number) => inputs.map((x, j) => (j === i ? x.data.map((v, m) => (m === k ? v + delta : v)) : x.data));
      const lp = Number((await session.run(feeds(at(eps)), ["loss"])).loss.data[0]);
      const lm = Number((await session.run(feeds(at(-eps)), ["loss"])).loss.data[0]);
      out[k] = (lp - lm) / (2 * eps);
    }
    fd.push(out);
  }
  await session.release();
  return {
    y: f64(base.y),
    grads: xs.map((x, i) => (isFloatSpec(inputs[i].spec) ? f64(base[`grad_${x.name}`]) : null)),
    fd,
    inputs,
    r,
  };
}

/** PyTorch's y and input gradients for each case, one Python process for all. */
export function torchReference(cases: OpCase[], results: CaseResult[]): { y: number[]; grads: (number[] | null)[] }[] {
  const req = {
    cases: cases.map((c, i) => ({
      expr: c.torch,
      r: results[i].r,
      inputs: results[i].inputs.map((x) => ({ data: x.data, shape: x.spec.shape, dtype: x.spec.dtype ?? "float64", grad: isFloatSpec(x.spec) })),
    })),
  };
  const out = execFileSync(findPython().path, [join(import.meta.dirname, "torch_ops.py")], { input: JSON.stringify(req), maxBuffer: 1 << 26 });
  return JSON.parse(out.toString()).results;
}

/** Largest |a − b| / (1 + |b|) — absolute near zero, relative for large values. */
export function maxErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return Number.isNaN(e) ? Infinity : e;
}
