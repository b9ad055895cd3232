/**
 * RoPE frequency tables. The graphs gather cos/sin rows by position from tables computed here
 * (float64, rounded once to fp32), so RoPE in the graph is two Gathers and elementwise ops with
 * no trig. Covers: default RoPE, "linear" (position interpolation) and Llama 3 "llama3" frequency
 * scaling, as azr_torch/modeling.py's rope_inv_freq. Not: yarn/dynamic/longrope (parseConfig refuses them).
 */
import type { ArchConfig } from "./config.ts";

export function inverseFrequencies(c: ArchConfig): Float64Array {
  const half = c.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / c.ropeTheta ** ((2 * i) / c.headDim);
  const rs = c.ropeScaling;
  if (!rs) return inv;
  if (rs.type === "linear") {
    for (let i = 0; i < half; i++) inv[i] /= rs.factor;
    return inv;
  }
  const lowWavelen = rs.originalMaxPositionEmbeddings / rs.lowFreqFactor;
  const highWavelen = rs.originalMaxPositionEmbeddings / rs.highFreqFactor;
  for (let i = 0; i < half; i++) {
    const wavelen = (2 * Math.PI) / inv[i];
    if (wavelen > lowWavelen) inv[i] /= rs.factor; // long wavelengths: fully scaled
    else if (wavelen >= highWavelen) {
      // between the two: interpolate between scaled and unscaled
      const smooth = (rs.originalMaxPositionEmbeddings / wavelen - rs.lowFreqFactor) / (rs.highFreqFactor - rs.lowFreqFactor);
      inv[i] = (1 - smooth) * (inv[i] / rs.factor) + smooth * inv[i];
    }
  }
  return inv;
}

/** cos and sin tables of shape [maxPositions, headDim/2]. */
export function ropeTables(c: ArchConfig, maxPositions: number): { cos: Float32Array; sin: Float32Array } {
  const inv = inverseFrequencies(c);
  const half = inv.length;
  const cos = new Float32Array(maxPositions * half), sin = new Float32Array(maxPositions * half);
  for (let p = 0; p < maxPositions; p++)
    for (let i = 0; i < half; i++) {
      cos[p * half + i] = Math.cos(p * inv[i]);
      sin[p * half + i] = Math.sin(p * inv[i]);
    }
  return { cos, sin };
}
