/**
 * Reverse-mode differentiation over a built Graph. `gradients(g, loss, wrt)` appends the backward
 * nodes to `g` and returns d loss / d v for each v in `wrt`. It walks, in reverse topological
 * order, only the nodes that lie between `wrt` and `loss` (a node no target reaches, or that
 * does not reach the loss, costs nothing); each node's rule comes from the table in ./rules.ts, a
 * missing rule is an error naming the op; gradients of a value used several times are added;
 * broadcasts are summed back in one place (sumTo). The backward graph reads forward activations
 * directly (they stay alive in onnxruntime's arena until their last reader).
 *
 * `prune(g)` then drops nodes and constants no graph output depends on (rules may build pieces
 * that a later rule makes dead).
 * Covers: any float dtype, symbolic batch dims. Not: recomputation (activation checkpointing),
 * higher-order gradients.
 */
import type { Graph, GraphNode, Value } from "../../graph/builder.ts";
import { gradRules } from "./rules.ts";
import { GradError, isFloat, scalarLike, expandTo, sumTo } from "./tensors.ts";

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

  for (let i = forward.length - 1; i >= 0; i--) {
    const n = forward[i];
    if (!reachesLoss.has(n)) continue;
    if (!n.outputs.some((o) => grads.has(o))) continue;
    const rule = gradRules[n.op];
    if (!rule) throw new GradError(`no gradient rule for op ${n.op} (node ${i}, output ${n.outputs[0].name}); add one to model/train/grad/rules.ts`);
    const wants = n.inputs.map((v) => depends.has(v) && isFloat(v));
    const gys = n.outputs.map((o) => grads.get(o) ?? zerosOf(g, o));
    const gxs = rule(gys, { g, node: n, wants });
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

function zerosOf(g: Graph, like: Value): Value {
  return expandTo(g, scalarLike(g, like, 0), like);
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
