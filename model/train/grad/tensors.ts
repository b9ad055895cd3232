/**
 * Small graph helpers the gradient rules share: constants in a value's own float dtype, zeros of a
 * value's (possibly symbolic) shape, reading an op's constant int64 operand (axes, sizes), and
 * `sumTo` — the one place an unreduced broadcast is summed back to an input's shape.
 * Covers: float32 and float64 graphs. Not: the rules themselves (./rules.ts).
 */
import type { Graph, Value } from "../../graph/builder.ts";
import { fmtShape, type Dim, type Shape } from "../../graph/shape.ts";

export class GradError extends Error {
  override name = "GradError";
}

export const isFloat = (v: Value) => v.dtype === "float32" || v.dtype === "float64" || v.dtype === "float16";

/** A scalar constant in `like`'s dtype (float64 graphs need float64 constants). */
export function scalarLike(g: Graph, like: Value, x: number): Value {
  if (like.dtype === "float64") return g.constant(Float64Array.of(x), "float64", []);
  if (like.dtype !== "float32") throw new GradError(`scalarLike: ${like.name} has dtype ${like.dtype}, expected a float`);
  return g.scalar(x);
}

/** Zeros with `like`'s dtype and shape, built at run time (Expand of a scalar to Shape(like)). */
export function zerosLike(g: Graph, like: Value): Value {
  return expandTo(g, scalarLike(g, like, 0), like);
}

/** Broadcasts `x` to `like`'s run-time shape. */
export function expandTo(g: Graph, x: Value, like: Value): Value {
  return g.node("Expand", [x, g.shapeOf(like)], [{ dtype: x.dtype, shape: like.shape }])[0];
}

/** The values of an int64 constant operand (Reshape target, axes, split sizes). */
export function constInts(g: Graph, v: Value, what: string): number[] {
  const c = g.constants.find((k) => k.value === v);
  if (!c || !(c.data instanceof BigInt64Array)) throw new GradError(`${what}: operand ${v.name} must be an int64 constant to differentiate`);
  return Array.from(c.data, Number);
}

const sameDim = (a: Dim, b: Dim) => a === b;

/**
 * Sums `grad` (the shape of a broadcast result) back to `target`'s shape: leading axes that
 * broadcasting added are summed away, axes where target has 1 are summed with keepdims.
 */
export function sumTo(g: Graph, grad: Value, target: Value): Value {
  const gs = grad.shape, ts = target.shape;
  if (gs.length < ts.length) throw new GradError(`sumTo: gradient ${fmtShape(gs)} has lower rank than ${target.name} ${fmtShape(ts)}`);
  const lead = gs.length - ts.length;
  const axes: number[] = [];
  for (let i = 0; i < gs.length; i++) {
    if (i < lead) axes.push(i);
    else if (ts[i - lead] === 1 && !sameDim(gs[i], 1)) axes.push(i);
  }
  if (axes.length === 0) return grad;
  let out = g.reduceSum(grad, axes, true); // (…, 1 at each reduced axis)
  if (lead > 0) out = g.squeeze(out, Array.from({ length: lead }, (_, i) => i));
  return out;
}

/** Static element count of some dims, or an error naming what needed it. */
export function staticCount(dims: Shape, what: string): number {
  let n = 1;
  for (const d of dims) {
    if (typeof d !== "number") throw new GradError(`${what}: dim '${d}' must be known when the graph is built`);
    n *= d;
  }
  return n;
}
