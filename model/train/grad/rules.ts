/**
 * The gradient table: one rule per ONNX op the architectures and losses emit. A rule gets the
 * gradient of each output (`gy` = first) and the forward node (so it reuses forward activations
 * instead of recomputing them) and returns one gradient per input, `null` where an input has
 * none (indices, shapes, conditions). Rules return gradients in the *broadcast* shape; the walker
 * (./backward.ts) sums them back to each input's shape in one place. `ctx.wants[i]` says whether
 * input i needs a gradient, so rules skip work (and ops like log a) that nobody asked for.
 *
 * Covers every OpType of model/graph/builder.ts that carries a gradient. Not: higher-order
 * gradients of Scatter* (never differentiated), Gather on an axis other than 0, Gemm with
 * alpha/beta ≠ 1 (the builder never emits them) — each refused by name.
 */
import type { Graph, GraphNode, OpType, Value } from "../../graph/builder.ts";
import { constInts, expandTo, GradError, scalarLike, staticCount, zerosLike } from "./tensors.ts";

export interface RuleCtx {
  g: Graph;
  node: GraphNode;
  wants: readonly boolean[];
}

export type GradRule = (gys: Value[], ctx: RuleCtx) => (Value | null)[];

const attrInt = (n: GraphNode, k: string, dflt: number): number => {
  const a = n.attrs[k];
  return a && a.type === "int" ? a.value : dflt;
};

/** Swaps the last two axes. */
const mT = (g: Graph, x: Value): Value => {
  const r = x.shape.length;
  return g.transpose(x, [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2]);
};

/** op(a) @ op(b) as one Gemm, with its shape worked out here. */
function gemm(g: Graph, a: Value, b: Value, ta: boolean, tb: boolean): Value {
  const m = ta ? a.shape[1] : a.shape[0];
  const n = tb ? b.shape[0] : b.shape[1];
  return g.node("Gemm", [a, b], [{ dtype: a.dtype, shape: [m, n] }], { transA: { type: "int", value: ta ? 1 : 0 }, transB: { type: "int", value: tb ? 1 : 0 } })[0];
}

/** Re-inserts reduced axes (if keepdims was 0) and broadcasts gy back over them. */
function unreduce(g: Graph, gy: Value, n: GraphNode): Value {
  const x = n.inputs[0];
  const axes = constInts(g, n.inputs[1], n.op).map((a) => (a < 0 ? a + x.shape.length : a));
  const kept = attrInt(n, "keepdims", 1) ? gy : g.unsqueeze(gy, axes);
  return expandTo(g, kept, x);
}

function reducedCount(g: Graph, n: GraphNode): number {
  const x = n.inputs[0];
  const axes = constInts(g, n.inputs[1], n.op).map((a) => (a < 0 ? a + x.shape.length : a));
  return staticCount(axes.map((a) => x.shape[a]), `${n.op} gradient (${x.name})`);
}

/** Unsqueezes y to the keepdims form so it broadcasts against the input. */
function keepdimsOutput(g: Graph, n: GraphNode): Value {
  if (attrInt(n, "keepdims", 1)) return n.outputs[0];
  const x = n.inputs[0];
  return g.unsqueeze(n.outputs[0], constInts(g, n.inputs[1], n.op).map((a) => (a < 0 ? a + x.shape.length : a)));
}

const NO_GRAD: GradRule = (_gys, { node }) => node.inputs.map(() => null);

export const gradRules: Partial<Record<OpType, GradRule>> = {
  Identity: ([gy]) => [gy],
  Add: ([gy]) => [gy, gy],
  Sub: ([gy], { g }) => [gy, g.neg(gy)],
  Mul: ([gy], { g, node: { inputs: [a, b] }, wants }) => [wants[0] ? g.mul(gy, b) : null, wants[1] ? g.mul(gy, a) : null],
  Div: ([gy], { g, node: { inputs: [, b], outputs: [y] }, wants }) => [
    wants[0] ? g.div(gy, b) : null,
    wants[1] ? g.neg(g.div(g.mul(gy, y), b)) : null, // d(a/b)/db = −y/b
  ],
  Pow: ([gy], { g, node: { inputs: [a, b], outputs: [y] }, wants }) => [
    wants[0] ? g.mul(gy, g.mul(b, g.pow(a, g.sub(b, scalarLike(g, b, 1))))) : null,
    wants[1] ? g.mul(gy, g.mul(y, g.log(a))) : null,
  ],
  Neg: ([gy], { g }) => [g.neg(gy)],
  Sqrt: ([gy], { g, node: { outputs: [y] } }) => [g.div(g.mul(gy, scalarLike(g, y, 0.5)), y)],
  Reciprocal: ([gy], { g, node: { outputs: [y] } }) => [g.neg(g.mul(gy, g.mul(y, y)))],
  Exp: ([gy], { g, node: { outputs: [y] } }) => [g.mul(gy, y)],
  Log: ([gy], { g, node: { inputs: [x] } }) => [g.div(gy, x)],
  Sigmoid: ([gy], { g, node: { outputs: [y] } }) => [g.mul(gy, g.mul(y, g.sub(scalarLike(g, y, 1), y)))],
  Tanh: ([gy], { g, node: { outputs: [y] } }) => [g.mul(gy, g.sub(scalarLike(g, y, 1), g.mul(y, y)))],
  Cos: ([gy], { g, node: { inputs: [x] } }) => [g.neg(g.mul(gy, g.sin(x)))],
  Sin: ([gy], { g, node: { inputs: [x] } }) => [g.mul(gy, g.cos(x))],
  Relu: ([gy], { g, node: { inputs: [x] } }) => [g.where(g.less(scalarLike(g, x, 0), x), gy, scalarLike(g, gy, 0))],
  Cast: ([gy], { g, node: { inputs: [x] } }) => [x.dtype === gy.dtype ? gy : g.cast(gy, x.dtype)],

  MatMul: ([gy], { g, node: { inputs: [a, b] }, wants }) => [
    wants[0] ? g.matmul(gy, mT(g, b)) : null, // (…,M,N)@(…,N,K)
    wants[1] ? g.matmul(mT(g, a), gy) : null, // (…,K,M)@(…,M,N)
  ],
  Gemm: ([gy], { g, node, wants }) => {
    const [a, b] = node.inputs;
    const alpha = node.attrs.alpha, beta = node.attrs.beta;
    if ((alpha && alpha.type === "float" && alpha.value !== 1) || (beta && beta.type === "float" && beta.value !== 1))
      throw new GradError(`Gemm gradient: alpha/beta other than 1 are not supported (node output ${node.outputs[0].name})`);
    const ta = attrInt(node, "transA", 0) === 1, tb = attrInt(node, "transB", 0) === 1;
    const ga = !wants[0] ? null : ta ? gemm(g, b, gy, tb, true) : gemm(g, gy, b, false, !tb);
    const gb = !wants[1] ? null : tb ? gemm(g, gy, a, true, ta) : gemm(g, a, gy, !ta, false);
    return node.inputs.length === 3 ? [ga, gb, gy] : [ga, gb];
  },

  Reshape: ([gy], { g, node: { inputs: [x] } }) => [
    x.shape.every((d) => typeof d === "number") ? g.reshape(gy, x.shape as number[]) : g.reshapeTo(gy, g.shapeOf(x), x.shape),
    null,
  ],
  Expand: ([gy]) => [gy, null], // the walker sums the broadcast axes
  Transpose: ([gy], { g, node }) => {
    const a = node.attrs.perm;
    const perm = a && a.type === "ints" ? a.value : [...node.inputs[0].shape.keys()].reverse();
    const inv: number[] = [];
    perm.forEach((p, i) => (inv[p] = i));
    return [g.transpose(gy, inv)];
  },
  Unsqueeze: ([gy], { g, node }) => [g.squeeze(gy, constInts(g, node.inputs[1], "Unsqueeze")), null],
  Squeeze: ([gy], { g, node }) => {
    const rank = node.inputs[0].shape.length;
    return [g.unsqueeze(gy, constInts(g, node.inputs[1], "Squeeze").map((a) => (a < 0 ? a + rank : a))), null];
  },
  Concat: ([gy], { g, node }) => {
    const axis = attrInt(node, "axis", 0);
    const a = axis < 0 ? axis + gy.shape.length : axis;
    const sizes = node.inputs.map((x) => staticCount([x.shape[a]], `Concat gradient (${x.name})`));
    return g.split(gy, axis, sizes);
  },
  Split: (gys, { g, node }) => [g.concat(gys, attrInt(node, "axis", 0)), null],
  Slice: ([gy], { g, node }) => {
    const [x, starts, ends, axesV, steps] = node.inputs;
    if (steps) throw new GradError(`Slice gradient: steps are not supported (${x.name})`);
    const axes = axesV ? constInts(g, axesV, "Slice") : [0];
    if (axes.length !== 1) throw new GradError(`Slice gradient: one axis at a time (${x.name})`);
    const rank = x.shape.length, a = axes[0] < 0 ? axes[0] + rank : axes[0];
    const d = staticCount([x.shape[a]], `Slice gradient (${x.name})`);
    const clampIdx = (i: number) => Math.max(0, Math.min(d, i < 0 ? i + d : i));
    const s = clampIdx(constInts(g, starts, "Slice")[0]), e = Math.max(s, clampIdx(constInts(g, ends, "Slice")[0]));
    // Zero pads around gy: slices of a zeros tensor of x's shape keep every other dim symbolic-safe.
    const zeros = zerosLike(g, x);
    const parts = [...(s > 0 ? [g.slice(zeros, a, 0, s)] : []), gy, ...(e < d ? [g.slice(zeros, a, e)] : [])];
    return [parts.length === 1 ? gy : g.concat(parts, a), null, null, null];
  },

  Gather: ([gy], { g, node: { inputs: [data, idx], attrs } }) => {
    const axis = attrs.axis && attrs.axis.type === "int" ? attrs.axis.value : 0;
    if (axis !== 0) throw new GradError(`Gather gradient: only axis 0 is supported (${data.name}, axis ${axis})`);
    // Scatter-add each gathered row back to its index: repeated indices accumulate. onnxruntime's CPU
    // ScatterND(add) loses updates when indices repeat and it runs on several threads, so the training
    // graph keeps the embedding (whose ids repeat) out of this rule: ../graph.ts.
    const idx1 = g.unsqueeze(idx, [-1]); // (…idx,1)
    const out = g.node("ScatterND", [zerosLike(g, data), idx1, gy], [{ dtype: gy.dtype, shape: data.shape }], { reduction: { type: "string", value: "add" } })[0];
    return [out, null];
  },
  GatherElements: ([gy], { g, node: { inputs: [data, idx], attrs } }) => {
    const out = g.node("ScatterElements", [zerosLike(g, data), idx, gy], [{ dtype: gy.dtype, shape: data.shape }], {
      axis: attrs.axis ?? { type: "int", value: 0 },
      reduction: { type: "string", value: "add" },
    })[0];
    return [out, null];
  },
  Where: ([gy], { g, node: { inputs: [c] }, wants }) => {
    const zero = scalarLike(g, gy, 0);
    return [null, wants[1] ? g.where(c, gy, zero) : null, wants[2] ? g.where(c, zero, gy) : null];
  },

  Softmax: ([gy], { g, node }) => {
    const y = node.outputs[0], axis = attrInt(node, "axis", -1);
    return [g.mul(y, g.sub(gy, g.reduceSum(g.mul(gy, y), [axis], true)))]; // y·(gy − Σ gy·y)
  },
  LogSoftmax: ([gy], { g, node }) => {
    const y = node.outputs[0], axis = attrInt(node, "axis", -1);
    return [g.sub(gy, g.mul(g.exp(y), g.reduceSum(gy, [axis], true)))]; // gy − softmax·Σ gy
  },
  ReduceSum: ([gy], { g, node }) => [unreduce(g, gy, node), null],
  ReduceMean: ([gy], { g, node }) => [unreduce(g, g.mul(gy, scalarLike(g, gy, 1 / reducedCount(g, node))), node), null],
  ReduceMax: ([gy], { g, node }) => {
    // Ties share the gradient equally (as PyTorch's amax does).
    const x = node.inputs[0], axes = constInts(g, node.inputs[1], "ReduceMax");
    const hit = g.cast(g.equal(x, keepdimsOutput(g, node)), x.dtype);
    const share = g.div(hit, g.reduceSum(hit, axes, true));
    return [g.mul(unreduce(g, gy, node), share), null];
  },
  ReduceLogSumExp: ([gy], { g, node }) => {
    const x = node.inputs[0];
    return [g.mul(unreduce(g, gy, node), g.exp(g.sub(x, keepdimsOutput(g, node)))), null]; // gy·softmax(x)
  },

  // Integer/bool results: no gradient flows through them.
  Equal: NO_GRAD,
  Less: NO_GRAD,
  Shape: NO_GRAD,
};
