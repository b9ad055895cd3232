/**
 * Weight files for the engines that live in TypeScript (the ORT learner and rollout engine): a
 * weight map to one fp32 safetensors file and back, with the model's real tensor shapes, so the
 * torch worker reads the same file (and writes files this reads: F32, F16 or BF16).
 * Covers: the conversion only. Not: where files live (files.ts).
 */
import { readSafetensors, writeSafetensors } from "../../model/safetensors.ts";

/** Writes `weights` as one fp32 file; `shapes` gives each tensor's shape (else it is written 1-D). */
export function writeWeightsFile(path: string, weights: Map<string, Float32Array>, shapes?: Map<string, number[]>): void {
  const tensors = [...weights].map(([name, data]) => ({ name, data, shape: shapes?.get(name) ?? [data.length] }));
  writeSafetensors(path, tensors, "F32", { format: "pt" });
}

/**
 * Every tensor of one safetensors file, as flat fp32 arrays, read through one open descriptor: a
 * newer version renamed over the path mid-read cannot mix into this one.
 */
export function readWeightsFile(path: string): Map<string, Float32Array> {
  return readSafetensors(path);
}
