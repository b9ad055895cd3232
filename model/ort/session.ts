/**
 * onnxruntime sessions for one model's graphs, run in the calling thread (the engine calls this
 * from its worker thread). Weights and RoPE tables are wrapped as tensors once and passed on
 * every run without copying; setWeights swaps the arrays without rebuilding sessions.
 * Covers: building/caching sessions per graph kind, typed run wrappers for the four graphs.
 * Not: batching policy, sampling, the KV cache bookkeeping (./kv-cache.ts, ../generate/).
 */
import ort from "onnxruntime-node";
import { buildGraph, MASKED, type GraphKind } from "../arch/transformer.ts";
import { externalDataFor, serializeGraph } from "../graph/serialize.ts";
import { weightShapes, type ArchConfig } from "../config.ts";
import { ropeTables } from "../rope.ts";
import type { Weights } from "../checkpoint.ts";
import { SMALL_MODEL_WEIGHT_BYTES, weightBytes } from "./lanes.ts";

export interface SessionOptions {
  /** onnxruntime intra-op threads (default: onnxruntime's choice, one per core). */
  threads?: number;
  /** Longest sequence (prompt + generation) the RoPE tables cover. */
  maxPositions?: number;
  graphOptimizationLevel?: "disabled" | "basic" | "extended" | "all";
  /**
   * Graphs whose weights are baked in as constants (pre-packed by onnxruntime, rebuilt after
   * setWeights) rather than fed as inputs (re-packed on every run). Worth it where GEMMs have few
   * rows: decode. Default ["step", "decode"].
   */
  constantWeights?: GraphKind[];
  /**
   * Decode through the decode graph (the step graph built for T = 1, ../arch/step.ts) in its own
   * session, instead of through the step graph. It saves ~20% of the nodes, which is ~20% of a
   * small model's decode step (dispatch-bound) and nothing measurable for a large one (GEMM-bound),
   * and costs a second pre-packed copy of the weights. Default: on for models whose fp32 weights
   * are at most SMALL_MODEL_WEIGHT_BYTES (./lanes.ts).
   */
  decodeGraph?: boolean;
  /**
   * Let onnxruntime's worker threads spin between parallel sections (its default). Off by default:
   * azr's engines share cores with executors and other actors, and spinning threads then fight
   * the scheduler — measured on the 2-core dev machine under load: tiny model, 2 threads,
   * 48 → 356 tok/s at batch 1 and 386 → 1424 tok/s at batch 16 with spinning off.
   */
  spin?: boolean;
}

/** onnxruntime session options for the thread pool (shared with benchmarks so peers get the same). */
export function ortThreadingOptions(spin: boolean): { extra?: Record<string, unknown> } {
  return spin ? {} : { extra: { session: { intra_op: { allow_spinning: "0" } } } };
}

export interface StepOut {
  logprobs: Float32Array; // [B,V] after each row's last new token
  keys: Float32Array[]; // per layer [B,Hkv,D,T]
  values: Float32Array[]; // per layer [B,Hkv,T,D]
}

const i64 = (a: ArrayLike<number>) => BigInt64Array.from(Array.from(a, (x) => BigInt(x)));

export class ModelSessions {
  private readonly sessions = new Map<GraphKind, Promise<ort.InferenceSession>>();
  private weightFeeds: Record<string, ort.Tensor> = {};
  private readonly ropeFeeds: Record<string, ort.Tensor> = {};
  private readonly constantKinds: Set<GraphKind>;
  readonly maxPositions: number;
  /** Whether decode runs the decode graph (see SessionOptions.decodeGraph). */
  readonly decodeGraph: boolean;

  constructor(readonly config: ArchConfig, weights: Weights, private readonly opts: SessionOptions = {}) {
    this.maxPositions = opts.maxPositions ?? Math.min(config.maxPositionEmbeddings, 8192);
    this.constantKinds = new Set(opts.constantWeights ?? ["step", "decode"]);
    this.decodeGraph = opts.decodeGraph ?? weightBytes(config) <= SMALL_MODEL_WEIGHT_BYTES;
    this.setWeights(weights);
    const { cos, sin } = ropeTables(config, this.maxPositions);
    const half = config.headDim / 2;
    this.ropeFeeds["rope.cos"] = new ort.Tensor("float32", cos, [this.maxPositions, half]);
    this.ropeFeeds["rope.sin"] = new ort.Tensor("float32", sin, [this.maxPositions, half]);
  }

  /** Replaces weight arrays (same names and shapes); the next run uses them (sessions with constant weights are rebuilt). */
  setWeights(weights: Weights): void {
    for (const kind of this.constantKinds) {
      const s = this.sessions.get(kind);
      if (s) void s.then((x) => x.release());
      this.sessions.delete(kind);
    }
    for (const [name, shape] of weightShapes(this.config)) {
      const data = weights.get(name);
      if (!data) throw new Error(`setWeights: weight ${name} is missing`);
      const n = shape.reduce((a, b) => a * b, 1);
      if (data.length !== n) throw new Error(`setWeights: ${name} has ${data.length} values, shape [${shape}] needs ${n}`);
      this.weightFeeds[name] = new ort.Tensor("float32", data, shape);
    }
  }

  session(kind: GraphKind): Promise<ort.InferenceSession> {
    let s = this.sessions.get(kind);
    if (!s) {
      const constant = this.constantKinds.has(kind);
      const names = Object.keys(this.weightFeeds);
      const bytes = serializeGraph(buildGraph(this.config, kind, { constantWeights: constant }), { externalInputs: constant ? new Set(names) : undefined });
      s = ort.InferenceSession.create(bytes, {
        externalData: constant ? names.map((n) => externalDataFor(n, this.weightFeeds[n].data as Float32Array)) : undefined,
        intraOpNumThreads: this.opts.threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: this.opts.graphOptimizationLevel ?? "all",
        executionMode: "sequential",
        ...ortThreadingOptions(this.opts.spin ?? false),
      });
      this.sessions.set(kind, s);
    }
    return s;
  }

  private checkPositions(T: number) {
    if (T > this.maxPositions) throw new Error(`sequence of ${T} positions exceeds the RoPE table (${this.maxPositions}); raise maxPositions`);
  }

  private async run(kind: GraphKind, feeds: Record<string, ort.Tensor>) {
    const s = await this.session(kind);
    Object.assign(feeds, this.ropeFeeds);
    if (!this.constantKinds.has(kind)) Object.assign(feeds, this.weightFeeds);
    return s.run(feeds);
  }

  /** Shared feeds of the full-sequence graphs: ids/positions [B,T], key bias [B,T], causal [T,T]. */
  private fullFeeds(ids: ArrayLike<number>, positions: ArrayLike<number>, keyBias: Float32Array, B: number, T: number) {
    this.checkPositions(T);
    const causal = new Float32Array(T * T);
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) causal[i * T + j] = MASKED;
    return {
      input_ids: new ort.Tensor("int64", i64(ids), [B, T]),
      positions: new ort.Tensor("int64", i64(positions), [B, T]),
      key_bias: new ort.Tensor("float32", keyBias, [B, T]),
      causal: new ort.Tensor("float32", causal, [T, T]),
    };
  }

  /**
   * One step: T new tokens per row ([B,T], left-padded) after S cached columns. Prefill is a step
   * over the prompts with a one-column masked cache (S = 1: keeps every dim non-empty).
   */
  async step(ids: ArrayLike<number>, positions: ArrayLike<number>, newBias: Float32Array, pastBias: Float32Array, pastK: Float32Array[], pastV: Float32Array[], B: number, T: number, S: number): Promise<StepOut> {
    return this.stepOut(await this.run("step", { ...this.fullFeeds(ids, positions, newBias, B, T), ...this.pastFeeds(pastBias, pastK, pastV, B, S) }));
  }

  /** The cache inputs of the step and decode graphs: the past columns' bias and every layer's K/V, in place. */
  private pastFeeds(pastBias: Float32Array, pastK: Float32Array[], pastV: Float32Array[], B: number, S: number): Record<string, ort.Tensor> {
    const c = this.config;
    const feeds: Record<string, ort.Tensor> = { past_bias: new ort.Tensor("float32", pastBias, [B, S]) };
    for (let i = 0; i < c.numLayers; i++) {
      feeds[`past.${i}.key`] = new ort.Tensor("float32", pastK[i], [B, c.numKvHeads, c.headDim, S]);
      feeds[`past.${i}.value`] = new ort.Tensor("float32", pastV[i], [B, c.numKvHeads, S, c.headDim]);
    }
    return feeds;
  }

  private stepOut(out: ort.InferenceSession.OnnxValueMapType): StepOut {
    const n = this.config.numLayers;
    return {
      logprobs: out.logprobs.data as Float32Array,
      keys: Array.from({ length: n }, (_, i) => out[`new.${i}.key`].data as Float32Array),
      values: Array.from({ length: n }, (_, i) => out[`new.${i}.value`].data as Float32Array),
    };
  }

  /** The prompts' K/V and next-token log-probs (a step over an empty cache). */
  prefill(ids: ArrayLike<number>, positions: ArrayLike<number>, keyBias: Float32Array, B: number, T: number): Promise<StepOut> {
    const c = this.config;
    const empty = Array.from({ length: c.numLayers }, () => new Float32Array(B * c.numKvHeads * c.headDim));
    return this.step(ids, positions, keyBias, new Float32Array(B).fill(MASKED), empty, empty, B, T, 1);
  }

  /** One token per row against the cache arrays ([B,Hkv,D,S] / [B,Hkv,S,D], read in place). */
  async decode(ids: ArrayLike<number>, positions: ArrayLike<number>, pastBias: Float32Array, pastK: Float32Array[], pastV: Float32Array[], B: number, S: number): Promise<StepOut> {
    if (!this.decodeGraph) return this.step(ids, positions, new Float32Array(B), pastBias, pastK, pastV, B, 1, S);
    const feeds = {
      input_ids: new ort.Tensor("int64", i64(ids), [B, 1]),
      positions: new ort.Tensor("int64", i64(positions), [B, 1]),
      ...this.pastFeeds(pastBias, pastK, pastV, B, S),
    };
    return this.stepOut(await this.run("decode", feeds));
  }

  async logits(ids: ArrayLike<number>, positions: ArrayLike<number>, keyBias: Float32Array, B: number, T: number): Promise<Float32Array> {
    const out = await this.run("logits", this.fullFeeds(ids, positions, keyBias, B, T));
    return out.logits.data as Float32Array;
  }

  async score(ids: ArrayLike<number>, positions: ArrayLike<number>, keyBias: Float32Array, targets: ArrayLike<number>, B: number, T: number): Promise<Float32Array> {
    const feeds = { ...this.fullFeeds(ids, positions, keyBias, B, T), targets: new ort.Tensor("int64", i64(targets), [B, T]) };
    const out = await this.run("score", feeds);
    return out.token_logprobs.data as Float32Array;
  }

  async dispose(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).release();
    this.sessions.clear();
  }
}
