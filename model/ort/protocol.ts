/** Messages between OrtEngine (host thread) and its worker thread. */
import type { ArchConfig } from "../config.ts";
import type { GenerateRequest, Generation, ScoreRequest } from "../engine.ts";
import type { LanesOption } from "./lanes.ts";

export interface OrtEngineOptions {
  /**
   * onnxruntime intra-op threads (default: onnxruntime's choice). With several lanes, the budget
   * they share: floor(threads / lanes) each, at least 1.
   */
  threads?: number;
  /**
   * Batch lanes: worker threads that each hold a copy of the model and decode their share of a
   * batch (./lanes.ts). "auto" (default): one per thread (`threads`, else one per core), each
   * single-threaded, when the fp32 weights are ≤ SMALL_MODEL_WEIGHT_BYTES (32 MiB); else 1.
   */
  lanes?: LanesOption;
  /** Sequences decoded together at most, all lanes together; further prompts join as others finish (default 32). */
  maxBatch?: number;
  /**
   * Several lanes: hand the prompts beyond the lanes' first shares to whichever lane frees a slot
   * first, so a lane whose sequences end early takes more. Off (default): each lane decodes a fixed
   * contiguous share, so which sequences share a batch — and with it the last bits of their
   * numbers (a row's padding and columns shift how the kernels group their sums, which can tip a
   * sample) — is the same every run, and runs repeat exactly. On trades that for less idling.
   */
  rebalance?: boolean;
  /** Longest prompt + generation supported (RoPE table size; default min(config, 8192)). */
  maxPositions?: number;
  /** Let onnxruntime threads spin-wait (default false; see SessionOptions.spin). */
  spin?: boolean;
  /** Decode through the T = 1 decode graph (default: for small models; see SessionOptions.decodeGraph). */
  decodeGraph?: boolean;
  /** Where tokenizer.json lives when it is not the model directory. */
  tokenizerDir?: string;
}

export type WorkerInit =
  | { source: "dir"; dir: string; options: OrtEngineOptions }
  | { source: "weights"; config: ArchConfig; weights: Map<string, Float32Array>; options: OrtEngineOptions };

export type HostMessage =
  // indices: which of req.prompts this lane decodes first (absent: all); feed: more come in
  // "more" messages, the last one with last = true.
  | { id: number; kind: "generate"; req: GenerateRequest; indices?: number[]; feed?: boolean }
  | { id: number; kind: "more"; indices: number[]; last: boolean }
  | { id: number; kind: "score"; req: ScoreRequest }
  | { id: number; kind: "getWeights" }
  | { id: number; kind: "setWeights"; weights: Map<string, Float32Array>; version: number }
  | { id: number; kind: "save"; dir: string }
  | { id: number; kind: "abort" }
  | { id: number; kind: "dispose" };

export interface RemoteError {
  name: string;
  message: string;
  stack?: string;
}

export type WorkerMessage =
  | { id: 0; kind: "ready"; config: ArchConfig; eosTokenIds: number[]; hasTokenizer: boolean }
  | { id: 0; kind: "initError"; error: RemoteError }
  | { id: number; kind: "generation"; gen: Generation }
  | { id: number; kind: "result"; value: unknown }
  | { id: number; kind: "error"; error: RemoteError };
