/**
 * onnxruntime's fused CPU kernels for inference graphs: one node where the standard-op spelling
 * takes five to eight (each node costs onnxruntime a few µs of dispatch however small its
 * tensors, which dominates a decode step of a small model). They have no gradient rule, so
 * training graphs keep the standard-op spelling in ../arch/transformer.ts.
 * Covers: RMSNorm, residual add + RMSNorm, rotate-half RoPE. Not: attention (onnxruntime's
 * GroupQueryAttention wants right-padded per-row lengths; azr's cache is left-padded).
 */
import { ShapeError, fmtShape } from "./shape.ts";
import type { Graph, Value } from "./builder.ts";

/** x / sqrt(mean(x²) + eps) · w over the last axis (onnxruntime SimplifiedLayerNormalization). */
export function rmsNormFused(g: Graph, x: Value, w: Value, eps: number): Value {
  return g.node("SimplifiedLayerNormalization", [x, w], [{ dtype: x.dtype, shape: x.shape }], {
    axis: { type: "int", value: -1 },
    epsilon: { type: "float", value: eps },
  })[0];
}

/**
 * RMSNorm of x + skip (com.microsoft SkipSimplifiedLayerNormalization): returns the norm and the
 * sum, so a residual add and the next layer's norm are one node. x and skip are [N, h].
 */
export function addRmsNormFused(g: Graph, x: Value, skip: Value, w: Value, eps: number): { normed: Value; sum: Value } {
  if (fmtShape(x.shape) !== fmtShape(skip.shape)) throw new ShapeError(`SkipSimplifiedLayerNormalization: ${fmtShape(x.shape)} vs skip ${fmtShape(skip.shape)}`);
  const stat = { dtype: x.dtype, shape: [...x.shape.slice(0, -1), 1] };
  const [normed, , , sum] = g.node("SkipSimplifiedLayerNormalization", [x, skip, w], [{ dtype: x.dtype, shape: x.shape }, stat, stat, { dtype: x.dtype, shape: x.shape }], {
    epsilon: { type: "float", value: eps },
  });
  return { normed, sum };
}

/**
 * Rotate-half RoPE (com.microsoft RotaryEmbedding, interleaved = 0) on x [B, T, heads·D] at
 * positions [B, T], with cos/sin tables [R, D/2]; the head size comes from the tables.
 */
export function ropeFused(g: Graph, x: Value, positions: Value, cos: Value, sin: Value): Value {
  if (x.shape.length !== 3) throw new ShapeError(`RotaryEmbedding(${x.name}): input must be [B, T, heads·D], got ${fmtShape(x.shape)}`);
  return g.node("RotaryEmbedding", [x, positions, cos, sin], [{ dtype: x.dtype, shape: x.shape }], { interleaved: { type: "int", value: 0 } })[0];
}
