/**
 * Reverse-mode differentiation over a built Graph. `gradients(g, loss, wrt)` appends the backward
 * nodes to `g` and returns d loss / d v for each v in `wrt`. It walks, in reverse topological
 * order, only the nodes that lie between `wrt` and `loss` (a node no target reaches, or that
 * does not reach the loss, costs nothing); each node's rule comes from the table in ./rules.ts, a
 * missing rule is an error naming the op; gradients of a value used several times are added;
 * broadcasts are summed back in one place (sumTo). The backward graph reads forward activations
 * directly (they stay alive in onnxruntime's arena until their last reader), or, given
 * `recomputeBoundaries`, recomputes each segment's activations just before its backward pass.
 *
 * `prune(g)` then drops nodes and constants no graph output depends on (rules may build pieces
 * that a later rule makes dead).
 * Covers: any float dtype, symbolic batch dims. Not: higher-order gradients.
 */
import type { Graph, GraphNode, Value } from "../../graph/builder.ts";
import { gradRules } from "./rules.ts";
import { expandTo, GradError, isFloat, scalarLike, sumTo, zerosLike } from "./tensors.ts";

export { GradError } from "./tensors.ts";

/** Values whose gradient is cut (PyTorch's `detach`): created by `detach`, honoured by `gradients`. */
const detached = new WeakSet<Value>();

/** An Identity of `x` that gradients do not flow through (e.g. π_old = π_θ when no old log-probs are given). */
export function detach(g: Graph, x: Value, hint?: string): Value {
  const y = g.identity(x, hint);
  detached.add(y);
  return y;
}

export interface GradientOptions {
  /** d loss / d loss; default ones of loss's shape. */
  seed?: Value;
  /**
   * Activation recomputation: values that cut the forward graph into segments (e.g. each
   * layer's residual output). The backward pass of a segment reads a fresh copy of that
   * segment's forward nodes, emitted just before it, instead of the activations kept from the
   * forward pass, so only the boundaries stay alive across segments. Each copy starts from its
   * boundary plus 0·(one element of the gradient arriving at that boundary): the data
   * dependency keeps onnxruntime from running the copy early, and keeps its common-
   * subexpression pass from merging it back into the forward nodes.
   */
  recomputeBoundaries?: readonly Value[];
}

export function gradients(g: Graph, loss: Value, wrt: readonly Value[], opts: GradientOptions = {}): Map<Value, Value> {
  const forward = [...g.nodes]; // the nodes present now; backward nodes are appended after them
  // Values that depend on a target (forward pass).
  const depends = new Set<Value>(wrt);
  for (const n of forward)
    if (n.inputs.some((v) => depends.has(v))) for (const o of n.outputs) if (isFloat(o) && !detached.has(o)) depends.add(o);
  if (!depends.has(loss)) throw new GradError(`gradients: loss ${loss.name} does not depend on any of ${wrt.length} target(s)`);
  // Values the loss depends on (backward pass over producers).
  const producer = new Map<Value, GraphNode>();
  for (const n of forward) for (const o of n.outputs) producer.set(o, n);
  const reachesLoss = new Set<GraphNode>();
  const stack = [loss];
  const seen = new Set<Value>();
  while (stack.length) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    const n = producer.get(v);
    if (!n || reachesLoss.has(n)) continue;
    reachesLoss.add(n);
    for (const i of n.inputs) if (depends.has(i)) stack.push(i);
  }

  const grads = new Map<Value, Value>();
  const accumulate = (v: Value, gv: Value) => {
    const prev = grads.get(v);
    grads.set(v, prev ? g.add(prev, gv) : gv);
  };
  grads.set(loss, opts.seed ?? expandTo(g, scalarLike(g, loss, 1), loss));

  const segments = segmentsOf(forward, producer, opts.recomputeBoundaries ?? []);
  let copy = new Map<Value, Value>(); // forward value → its recomputed copy, for the segment being walked
  for (let i = forward.length - 1; i >= 0; i--) {
    if (segments.some((sg) => sg.first - 1 === i)) copy = new Map(); // left a segment
    const seg = segments.find((sg) => sg.last === i);
    if (seg) copy = recomputeSegment(g, forward, seg, grads); // entering one
    const n = forward[i];
    if (!reachesLoss.has(n)) continue;
    if (!n.outputs.some((o) => grads.has(o))) continue;
    const rule = gradRules[n.op];
    if (!rule) throw new GradError(`no gradient rule for op ${n.op} (node ${i}, output ${n.outputs[0].name}); add one to model/train/grad/rules.ts`);
    const wants = n.inputs.map((v) => depends.has(v) && isFloat(v));
    const gys = n.outputs.map((o) => grads.get(o) ?? zerosLike(g, o));
    const seen = copy.size ? { ...n, inputs: n.inputs.map((v) => copy.get(v) ?? v), outputs: n.outputs.map((v) => copy.get(v) ?? v) } : n;
    const gxs = rule(gys, { g, node: seen, wants });
    n.inputs.forEach((x, k) => {
      const gx = gxs[k];
      if (!wants[k] || !gx) return;
      accumulate(x, sumTo(g, gx, x));
    });
  }
  const out = new Map<Value, Value>();
  for (const v of wrt) {
    const gv = grads.get(v);
    if (!gv) throw new GradError(`gradients: ${v.name} does not reach the loss ${loss.name}`);
    out.set(v, gv);
  }
  return out;
}

interface Segment {
  /** Index (in the forward node list) of the first node after the previous boundary, and of the boundary's producer. */
  first: number;
  last: number;
  start: Value; // the previous boundary (the segment's input)
}

function segmentsOf(forward: readonly GraphNode[], producer: Map<Value, GraphNode>, boundaries: readonly Value[]): Segment[] {
  const at = boundaries.map((b) => {
    const n = producer.get(b);
    if (!n) throw new GradError(`recompute boundary ${b.name} is not produced by a node`);
    return forward.indexOf(n);
  });
  for (let k = 1; k < at.length; k++) if (at[k] <= at[k - 1]) throw new GradError(`recompute boundaries must be in forward order (${boundaries[k].name})`);
  return at.slice(1).map((last, k) => ({ first: at[k] + 1, last, start: boundaries[k] }));
}

/** Emits copies of the segment's forward nodes (in forward order) and returns original → copy. */
function recomputeSegment(g: Graph, forward: readonly GraphNode[], seg: Segment, grads: Map<Value, Value>): Map<Value, Value> {
  const copy = new Map<Value, Value>();
  const end = forward[seg.last].outputs[0];
  const gEnd = grads.get(end);
  if (gEnd) {
    // start' = start + 0·gEnd[0]: equal to start, but only computable once gEnd exists.
    const first = g.slice(g.reshape(gEnd, [-1]), 0, 0, 1); // (1)
    copy.set(seg.start, g.add(seg.start, g.mul(first, scalarLike(g, first, 0))));
  }
  for (let i = seg.first; i <= seg.last; i++) {
    const n = forward[i];
    if (!n.inputs.some((v) => copy.has(v))) continue; // does not depend on the segment's input: kept from the forward pass
    const outs = g.node(n.op, n.inputs.map((v) => copy.get(v) ?? v), n.outputs.map((o) => ({ dtype: o.dtype, shape: o.shape, hint: `${o.name}_re` })), { ...n.attrs });
    n.outputs.forEach((o, k) => copy.set(o, outs[k]));
  }
  copy.delete(seg.start); // the segment's input is read as is by rules of its first nodes
  return copy;
}

/** Removes nodes and constants that no graph output depends on. */
export function prune(g: Graph): void {
  const live = new Set<string>(g.outputs.map((v) => v.name));
  const keep: GraphNode[] = [];
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i];
    if (!n.outputs.some((o) => live.has(o.name))) continue;
    keep.push(n);
    for (const v of n.inputs) live.add(v.name);
  }
  keep.reverse();
  g.nodes.splice(0, g.nodes.length, ...keep);
  const consts = g.constants.filter((c) => live.has(c.value.name));
  g.constants.splice(0, g.constants.length, ...consts);
}
