/**
 * Batch lanes: how many single-model worker threads an OrtEngine runs, and how a request's
 * sequences are shared out among them. A lane is a full copy of the model (weights, sessions)
 * in its own worker thread; a generate batch is split across lanes that decode their shares in
 * parallel, each on its own few intra-op threads.
 * Covers: the `lanes: "auto"` rule, threads per lane, splitting indices. Not: the workers
 * themselves (./lane.ts), merging their streams (./engine.ts).
 */
import { availableParallelism } from "node:os";
import { paramCount, type ArchConfig } from "../config.ts";

/**
 * Largest fp32 weight size for which `lanes: "auto"` runs one lane per core (here 32 MiB,
 * 8M parameters). Why lanes pay off below it and not above:
 * - a small model's decode step costs per op, not per FLOP: the bench's tiny model (10 MB of
 *   weights) at batch 16 ran ~229 ops (the step graph; the decode graph has 176) of small GEMMs in ~4 ms wall for ~6 ms CPU on 2 intra-op
 *   threads that sleep and hand off between ops, against 4.7 ms on one thread. Two lanes of one
 *   thread each keep both cores busy with no hand-offs.
 * - each lane reads all of its weights every step: N lanes multiply weight traffic by N. While
 *   N copies stay near the last-level cache (32 MiB L3 on the 2-core development machine) that
 *   traffic is cheap; a 100M model (~400 MB) is ~81% GEMM that streams its weights from memory,
 *   and intra-op threads already split those GEMMs well, so lanes would double the traffic and
 *   the memory for nothing.
 * - memory: each lane holds its own copy, N × at most 32 MiB here.
 */
export const SMALL_MODEL_WEIGHT_BYTES = 32 * 1024 * 1024;

export type LanesOption = number | "auto";

/** Sequences an engine decodes together when `maxBatch` is not given (all lanes together). */
export const DEFAULT_MAX_BATCH = 32;

export interface LanePlan {
  /** Worker threads, each with its own copy of the model. */
  lanes: number;
  /** onnxruntime intra-op threads per lane (undefined: onnxruntime's default, one per core). */
  threadsPerLane: number | undefined;
  /** Sequences one lane decodes together at most. */
  maxBatchPerLane: number;
}

/** The weight bytes that decide `lanes: "auto"`: every parameter in fp32, as the engine holds them. */
export function weightBytes(config: ArchConfig): number {
  return paramCount(config) * 4;
}

/**
 * lanes "auto" (the default): one lane per thread of the thread budget (`threads`, else one per
 * core) when the model's fp32 weights are at most SMALL_MODEL_WEIGHT_BYTES, else one lane (the
 * single-worker engine, `threads` intra-op threads). With N > 1 lanes each gets
 * floor(threads / N) intra-op threads (at least 1) — one each under "auto" — and
 * ceil(maxBatch / N) sequences, so `threads` and `maxBatch` stay engine-wide budgets.
 */
export function planLanes(config: ArchConfig, opts: { lanes?: LanesOption; threads?: number; maxBatch?: number }): LanePlan {
  const option = opts.lanes ?? "auto";
  if (option !== "auto" && !(Number.isInteger(option) && option >= 1))
    throw new Error(`OrtEngine option lanes must be "auto" or a whole number ≥ 1, got ${String(option)}`);
  const budget = opts.threads ?? availableParallelism();
  const lanes = option === "auto" ? (weightBytes(config) <= SMALL_MODEL_WEIGHT_BYTES ? Math.max(1, budget) : 1) : option;
  const maxBatch = opts.maxBatch ?? DEFAULT_MAX_BATCH;
  if (lanes === 1) return { lanes, threadsPerLane: opts.threads, maxBatchPerLane: maxBatch };
  return { lanes, threadsPerLane: Math.max(1, Math.floor(budget / lanes)), maxBatchPerLane: Math.ceil(maxBatch / lanes) };
}

/**
 * Splits indices 0..n-1 into at most `lanes` contiguous runs of near-equal length (earlier runs
 * one longer), the first going to lane `first` and the rest to the lanes after it (wrapping):
 * rotating `first` spreads small requests over all lanes. Lanes without work are left out.
 */
export function splitIndices(n: number, lanes: number, first = 0): { lane: number; indices: number[] }[] {
  const used = Math.min(n, lanes);
  const out: { lane: number; indices: number[] }[] = [];
  for (let k = 0, at = 0; k < used; k++) {
    const len = Math.floor(n / used) + (k < n % used ? 1 : 0);
    out.push({ lane: (first + k) % lanes, indices: Array.from({ length: len }, (_, i) => at + i) });
    at += len;
  }
  return out;
}
