/**
 * The graph builder: typed helpers for the ONNX ops azr's models use, each checking and
 * recording the output's dtype and shape at build time. A Graph is an explicit list of nodes in
 * topological order (the order they were built), over Values with known shapes, so a
 * reverse-mode pass can walk it backwards with one gradient rule per op type (the training
 * issue). Weights enter as graph inputs (onnxruntime takes inputs without copying); only small
 * constants (shape vectors, scalars) are embedded as initializers.
 *
 * Covers: building, shape/dtype tracking, serialising to ONNX bytes (./serialize.ts).
 * Not: running (model/ort/), gradients (training issue). Every op a training graph uses is a
 * standard ONNX op with a textbook derivative; the few onnxruntime fused ops (./fused.ts) serve
 * inference graphs only and have no gradient rule.
 */
import { broadcastShapes, fmtShape, product, quotient, ShapeError, type Dim, type Shape } from "./shape.ts";

export type DType = "float32" | "float64" | "float16" | "int64" | "int32" | "bool" | "uint8";

export interface Value {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
}

export type Attr =
  | { type: "int"; value: number }
  | { type: "ints"; value: readonly number[] }
  | { type: "float"; value: number }
  | { type: "floats"; value: readonly number[] }
  | { type: "string"; value: string };

/** Every op type the builder can emit: the closed set a gradient table must cover. */
export type OpType =
  | "Add" | "Sub" | "Mul" | "Div" | "Pow" | "MatMul" | "Gemm"
  | "Neg" | "Sqrt" | "Reciprocal" | "Exp" | "Log" | "Sigmoid" | "Tanh" | "Cos" | "Sin" | "Relu"
  | "Reshape" | "Transpose" | "Unsqueeze" | "Squeeze" | "Concat" | "Slice" | "Split" | "Expand"
  | "Gather" | "GatherElements" | "Cast" | "Where" | "Equal" | "Less"
  | "Softmax" | "LogSoftmax" | "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceLogSumExp" | "Identity"
  | "Shape" | "Range"
  // emitted only by backward graphs (model/train/): scatter-add is the gradient of the gathers
  | "ScatterND" | "ScatterElements"
  // onnxruntime fused ops for inference graphs only (./fused.ts): no gradient rule
  | "SimplifiedLayerNormalization" | "SkipSimplifiedLayerNormalization" | "RotaryEmbedding";

/** Ops outside the standard ONNX domain, by the domain onnxruntime registers them in. */
export const OP_DOMAIN: Partial<Record<OpType, string>> = { SkipSimplifiedLayerNormalization: "com.microsoft", RotaryEmbedding: "com.microsoft" };

export interface GraphNode {
  readonly op: OpType;
  readonly inputs: readonly Value[];
  readonly outputs: readonly Value[];
  readonly attrs: Readonly<Record<string, Attr>>;
}

export type ConstData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

export interface Constant {
  readonly value: Value;
  readonly data: ConstData;
}

const INT64_MAX = 2 ** 62; // as a Slice end: "to the end" (ONNX clamps it)

const normAxis = (axis: number, rank: number, what: string): number => {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new ShapeError(`${what}: axis ${axis} out of range for rank ${rank}`);
  return a;
};

export class Graph {
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly nodes: GraphNode[] = [];
  readonly constants: Constant[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(readonly name: string) {}

  private fresh(hint: string): string {
    let n = hint;
    while (this.names.has(n)) n = `${hint}_${++this.counter}`;
    this.names.add(n);
    return n;
  }

  input(name: string, dtype: DType, shape: Shape): Value {
    if (this.names.has(name)) throw new Error(`graph ${this.name}: input name '${name}' is already used`);
    const v = { name: this.fresh(name), dtype, shape: [...shape] };
    this.inputs.push(v);
    return v;
  }

  /** Marks `v` as a graph output, renamed to `name` through an Identity when they differ. */
  output(v: Value, name = v.name): Value {
    const out = name === v.name ? v : this.node("Identity", [v], [{ dtype: v.dtype, shape: v.shape, hint: name }])[0];
    if (out.name !== name) throw new Error(`graph ${this.name}: output name '${name}' is already used`);
    this.outputs.push(out);
    return out;
  }

  constFloat(values: number[] | Float32Array, shape: Shape = [values.length]): Value {
    return this.constant(Float32Array.from(values), "float32", shape);
  }
  constInt64(values: number[], shape: Shape = [values.length]): Value {
    return this.constant(BigInt64Array.from(values.map(BigInt)), "int64", shape);
  }
  scalar(x: number): Value {
    return this.constFloat([x], []);
  }

  constant(data: ConstData, dtype: DType, shape: Shape, hint = "const"): Value {
    const value = { name: this.fresh(hint), dtype, shape: [...shape] };
    this.constants.push({ value, data });
    return value;
  }

  /** Appends a node; outputs get fresh names. The one place nodes are created. */
  node(op: OpType, inputs: Value[], outs: { dtype: DType; shape: Shape; hint?: string }[], attrs: Record<string, Attr> = {}): Value[] {
    const outputs = outs.map((o) => ({ name: this.fresh(o.hint ?? `${op.toLowerCase()}_${this.nodes.length}`), dtype: o.dtype, shape: [...o.shape] }));
    this.nodes.push({ op, inputs, outputs, attrs });
    return outputs;
  }

  // ── elementwise ──────────────────────────────────────────────────────────────
  private binary(op: OpType, a: Value, b: Value, hint?: string): Value {
    if (a.dtype !== b.dtype) throw new ShapeError(`${op}: dtype ${a.dtype} vs ${b.dtype} (${a.name}, ${b.name})`);
    return this.node(op, [a, b], [{ dtype: a.dtype, shape: broadcastShapes(a.shape, b.shape, `${op}(${a.name}, ${b.name})`), hint }])[0];
  }
  add(a: Value, b: Value, hint?: string) { return this.binary("Add", a, b, hint); }
  sub(a: Value, b: Value, hint?: string) { return this.binary("Sub", a, b, hint); }
  mul(a: Value, b: Value, hint?: string) { return this.binary("Mul", a, b, hint); }
  div(a: Value, b: Value, hint?: string) { return this.binary("Div", a, b, hint); }
  pow(a: Value, b: Value, hint?: string) { return this.binary("Pow", a, b, hint); }

  private unary(op: OpType, x: Value, hint?: string): Value {
    return this.node(op, [x], [{ dtype: x.dtype, shape: x.shape, hint }])[0];
  }
  neg(x: Value, hint?: string) { return this.unary("Neg", x, hint); }
  sqrt(x: Value, hint?: string) { return this.unary("Sqrt", x, hint); }
  reciprocal(x: Value, hint?: string) { return this.unary("Reciprocal", x, hint); }
  exp(x: Value, hint?: string) { return this.unary("Exp", x, hint); }
  log(x: Value, hint?: string) { return this.unary("Log", x, hint); }
  sigmoid(x: Value, hint?: string) { return this.unary("Sigmoid", x, hint); }
  tanh(x: Value, hint?: string) { return this.unary("Tanh", x, hint); }
  cos(x: Value, hint?: string) { return this.unary("Cos", x, hint); }
  sin(x: Value, hint?: string) { return this.unary("Sin", x, hint); }
  relu(x: Value, hint?: string) { return this.unary("Relu", x, hint); }
  identity(x: Value, hint?: string) { return this.unary("Identity", x, hint); }

  cast(x: Value, to: DType, hint?: string): Value {
    const code = { float32: 1, uint8: 2, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11 }[to];
    return this.node("Cast", [x], [{ dtype: to, shape: x.shape, hint }], { to: { type: "int", value: code } })[0];
  }

  where(cond: Value, a: Value, b: Value, hint?: string): Value {
    if (cond.dtype !== "bool") throw new ShapeError(`Where: condition ${cond.name} must be bool, got ${cond.dtype}`);
    const shape = broadcastShapes(cond.shape, broadcastShapes(a.shape, b.shape, "Where"), "Where");
    return this.node("Where", [cond, a, b], [{ dtype: a.dtype, shape, hint }])[0];
  }
  equal(a: Value, b: Value, hint?: string): Value {
    return this.node("Equal", [a, b], [{ dtype: "bool", shape: broadcastShapes(a.shape, b.shape, "Equal"), hint }])[0];
  }
  less(a: Value, b: Value, hint?: string): Value {
    return this.node("Less", [a, b], [{ dtype: "bool", shape: broadcastShapes(a.shape, b.shape, "Less"), hint }])[0];
  }

  // ── linear algebra ──────────────────────────────────────────────────────────
  /** numpy matmul: [..., M, K] @ [..., K, N] → [..., M, N], batch dims broadcast. */
  matmul(a: Value, b: Value, hint?: string): Value {
    if (a.shape.length < 2 || b.shape.length < 2) throw new ShapeError(`MatMul: rank ≥ 2 needed, got ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
    const [m, k1] = a.shape.slice(-2);
    const [k2, n] = b.shape.slice(-2);
    if (typeof k1 === "number" && typeof k2 === "number" && k1 !== k2)
      throw new ShapeError(`MatMul(${a.name}, ${b.name}): inner dims ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
    const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), "MatMul batch");
    return this.node("MatMul", [a, b], [{ dtype: a.dtype, shape: [...batch, m, n], hint }])[0];
  }

  /** x [M, K] · Wᵀ (+ bias): a Hugging Face Linear with W stored [out, in], as one Gemm(transB=1). */
  linear(x: Value, w: Value, bias?: Value, hint?: string): Value {
    if (x.shape.length !== 2 || w.shape.length !== 2) throw new ShapeError(`linear: x ${fmtShape(x.shape)} and W ${fmtShape(w.shape)} must be 2-D`);
    if (typeof x.shape[1] === "number" && typeof w.shape[1] === "number" && x.shape[1] !== w.shape[1])
      throw new ShapeError(`linear(${x.name}, ${w.name}): x ${fmtShape(x.shape)} vs W ${fmtShape(w.shape)} ([out, in])`);
    const inputs = bias ? [x, w, bias] : [x, w];
    return this.node("Gemm", inputs, [{ dtype: x.dtype, shape: [x.shape[0], w.shape[0]], hint }], { transB: { type: "int", value: 1 } })[0];
  }

  // ── shape ops ───────────────────────────────────────────────────────────────
  /** ONNX Reshape: 0 copies the input dim at that position, -1 is inferred. */
  reshape(x: Value, target: number[], hint?: string): Value {
    const out: Dim[] = target.map((t, i) => (t === 0 ? x.shape[i] : t));
    const inferred = target.indexOf(-1);
    if (inferred >= 0) out[inferred] = quotient(product(x.shape), product(out.filter((_, i) => i !== inferred)));
    const before = product(x.shape), after = product(out);
    if (typeof before === "number" && typeof after === "number" && before !== after)
      throw new ShapeError(`Reshape(${x.name}): ${fmtShape(x.shape)} has ${before} elements, target ${fmtShape(out)} has ${after}`);
    return this.node("Reshape", [x, this.constInt64(target)], [{ dtype: x.dtype, shape: out, hint }])[0];
  }

  /** [start, start+delta, …) below `limit`: int64 scalars in, an int64 vector of `length` out (integer data, no gradient). */
  range(start: Value, limit: Value, delta: Value, length: Dim, hint?: string): Value {
    return this.node("Range", [start, limit, delta], [{ dtype: start.dtype, shape: [length], hint }])[0];
  }

  /** The runtime shape of `x` as an int64 vector (no gradient: it is integer data). */
  shapeOf(x: Value, hint?: string): Value {
    return this.node("Shape", [x], [{ dtype: "int64", shape: [x.shape.length], hint }])[0];
  }

  /**
   * Reshape to a shape computed at run time (for symbolic dims that a 0/-1 target cannot express,
   * e.g. [B*T, H*D] → [B, T, H, D]); `shape` states the result's dims for build-time tracking.
   */
  reshapeTo(x: Value, target: Value, shape: Shape, hint?: string): Value {
    if (target.dtype !== "int64" || target.shape[0] !== shape.length)
      throw new ShapeError(`Reshape(${x.name}): target ${target.name} must be int64 of length ${shape.length}`);
    return this.node("Reshape", [x, target], [{ dtype: x.dtype, shape, hint }])[0];
  }

  transpose(x: Value, perm: number[], hint?: string): Value {
    if (perm.length !== x.shape.length) throw new ShapeError(`Transpose(${x.name}): perm [${perm}] vs rank ${x.shape.length}`);
    return this.node("Transpose", [x], [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]), hint }], { perm: { type: "ints", value: perm } })[0];
  }

  unsqueeze(x: Value, axes: number[], hint?: string): Value {
    const rank = x.shape.length + axes.length;
    const at = new Set(axes.map((a) => normAxis(a, rank, "Unsqueeze")));
    const out: Dim[] = [];
    let j = 0;
    for (let i = 0; i < rank; i++) out.push(at.has(i) ? 1 : x.shape[j++]);
    return this.node("Unsqueeze", [x, this.constInt64(axes)], [{ dtype: x.dtype, shape: out, hint }])[0];
  }

  squeeze(x: Value, axes: number[], hint?: string): Value {
    const at = new Set(axes.map((a) => normAxis(a, x.shape.length, "Squeeze")));
    for (const a of at) if (x.shape[a] !== 1) throw new ShapeError(`Squeeze(${x.name}): dim ${a} of ${fmtShape(x.shape)} is not 1`);
    return this.node("Squeeze", [x, this.constInt64(axes)], [{ dtype: x.dtype, shape: x.shape.filter((_, i) => !at.has(i)), hint }])[0];
  }

  concat(xs: Value[], axis: number, hint?: string): Value {
    const a = normAxis(axis, xs[0].shape.length, "Concat");
    const dims = xs.map((x) => x.shape[a]);
    const total: Dim = dims.every((d) => typeof d === "number") ? (dims as number[]).reduce((s, d) => s + d, 0) : dims.join("+");
    const shape = xs[0].shape.map((d, i) => (i === a ? total : d));
    return this.node("Concat", xs, [{ dtype: xs[0].dtype, shape, hint }], { axis: { type: "int", value: axis } })[0];
  }

  /** x[start:end] along `axis` (negative indices count from the end; end = undefined → to the end). */
  slice(x: Value, axis: number, start: number, end?: number, hint?: string): Value {
    const a = normAxis(axis, x.shape.length, "Slice");
    const d = x.shape[a];
    let len: Dim;
    if (typeof d === "number") {
      const s = start < 0 ? Math.max(0, d + start) : Math.min(start, d);
      const e = end === undefined ? d : end < 0 ? Math.max(0, d + end) : Math.min(end, d);
      len = Math.max(0, e - s);
    } else if (start < 0 && end === undefined) len = -start;
    else if (start >= 0 && end !== undefined && end >= 0) len = end - start;
    else len = `${d}[${start}:${end ?? ""}]`;
    const inputs = [x, this.constInt64([start]), this.constInt64([end ?? INT64_MAX]), this.constInt64([axis])];
    return this.node("Slice", inputs, [{ dtype: x.dtype, shape: x.shape.map((v, i) => (i === a ? len : v)), hint }])[0];
  }

  /** x[start:end] along `axis` with int64 [1] bounds computed at run time; `length` states the result dim. */
  sliceDynamic(x: Value, axis: number, start: Value, end: Value, length: Dim, hint?: string): Value {
    const a = normAxis(axis, x.shape.length, "Slice");
    const inputs = [x, start, end, this.constInt64([axis])];
    return this.node("Slice", inputs, [{ dtype: x.dtype, shape: x.shape.map((v, i) => (i === a ? length : v)), hint }])[0];
  }

  split(x: Value, axis: number, sizes: number[], hint?: string): Value[] {
    const a = normAxis(axis, x.shape.length, "Split");
    const d = x.shape[a];
    const sum = sizes.reduce((s, v) => s + v, 0);
    if (typeof d === "number" && d !== sum) throw new ShapeError(`Split(${x.name}): sizes [${sizes}] do not add up to dim ${d}`);
    const outs = sizes.map((s) => ({ dtype: x.dtype, shape: x.shape.map((v, i) => (i === a ? s : v)), hint }));
    return this.node("Split", [x, this.constInt64(sizes)], outs, { axis: { type: "int", value: axis } });
  }

  /** data[..., indices, ...] along `axis`: shape data[:axis] + indices + data[axis+1:]. */
  gather(data: Value, indices: Value, axis = 0, hint?: string): Value {
    const a = normAxis(axis, data.shape.length, "Gather");
    const shape = [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)];
    return this.node("Gather", [data, indices], [{ dtype: data.dtype, shape, hint }], { axis: { type: "int", value: axis } })[0];
  }

  gatherElements(data: Value, indices: Value, axis: number, hint?: string): Value {
    return this.node("GatherElements", [data, indices], [{ dtype: data.dtype, shape: indices.shape, hint }], { axis: { type: "int", value: axis } })[0];
  }

  // ── reductions and normalisers ──────────────────────────────────────────────
  private reduce(op: OpType, x: Value, axes: number[], keepdims: boolean, hint?: string): Value {
    const at = new Set(axes.map((a) => normAxis(a, x.shape.length, op)));
    const shape = keepdims ? x.shape.map((d, i) => (at.has(i) ? 1 : d)) : x.shape.filter((_, i) => !at.has(i));
    return this.node(op, [x, this.constInt64(axes)], [{ dtype: x.dtype, shape, hint }], { keepdims: { type: "int", value: keepdims ? 1 : 0 } })[0];
  }
  reduceMean(x: Value, axes: number[], keepdims = true, hint?: string) { return this.reduce("ReduceMean", x, axes, keepdims, hint); }
  reduceSum(x: Value, axes: number[], keepdims = true, hint?: string) { return this.reduce("ReduceSum", x, axes, keepdims, hint); }
  reduceMax(x: Value, axes: number[], keepdims = true, hint?: string) { return this.reduce("ReduceMax", x, axes, keepdims, hint); }
  reduceLogSumExp(x: Value, axes: number[], keepdims = true, hint?: string) { return this.reduce("ReduceLogSumExp", x, axes, keepdims, hint); }

  softmax(x: Value, axis = -1, hint?: string): Value {
    return this.node("Softmax", [x], [{ dtype: x.dtype, shape: x.shape, hint }], { axis: { type: "int", value: axis } })[0];
  }
  logSoftmax(x: Value, axis = -1, hint?: string): Value {
    return this.node("LogSoftmax", [x], [{ dtype: x.dtype, shape: x.shape, hint }], { axis: { type: "int", value: axis } })[0];
  }

  /** How many nodes of each op type (for dumps and tests). */
  opCounts(): Record<string, number> {
    const c: Record<string, number> = {};
    for (const n of this.nodes) c[n.op] = (c[n.op] ?? 0) + 1;
    return c;
  }
}
