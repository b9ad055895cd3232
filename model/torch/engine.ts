/**
 * The `torch` backend of `ModelEngine`: a PyTorch engine worker (../torch/azr_torch) driven over
 * pipes. Covers: starting the worker with the chosen Python (`findPython()` unless given), model
 * load on CPU or a CUDA device (bf16 by default there, fp32 on CPU), generate as a stream of
 * finished sequences (AbortSignal cancels it in the worker), score, trainStep (and `gradients`, the
 * same step's gradients without applying them, for parity checks), weights in/out
 * (full weights, or only the LoRA adapters when LoRA is on), save in the HF / PEFT layout, and
 * adapters on/off so a LoRA engine's frozen base can serve as the reference model.
 * Weight files for sync (saveWeightsFile / loadWeightsFile: the worker reads and writes them, so
 * the bytes never cross the pipe). Not: FSDP / several ranks (design in azr_torch/engine.py's
 * header), weight sync transports (shared memory, object store: actors/weight-sync), restarts (the actor supervisor's job).
 */
import type { DeviceMemory, GenerateRequest, Generation, ModelEngine, ScoreRequest, TrainSequence, TrainStats } from "../engine.ts";
import { findPython } from "../python.ts";
import { WorkerClient } from "./worker-client.ts";

export type TorchDtype = "float32" | "bfloat16" | "float16";

/**
 * The torch settings for a recipe's `model.dtype` on a device. Inference holds parameters in that
 * dtype on CUDA. Full fine-tuning keeps fp32 parameters and computes in bf16 under autocast, as the
 * reference's FSDP mixed precision does: AdamW steps at the spec's lr of 1e-6 are ~1e-6, and bf16
 * parameters (spacing ~1.2e-4 near 0.02) would round almost every one of them away. LoRA trains
 * fp32 adapters on a frozen base, which may stay bf16. CPU computes in fp32 always.
 */
export function torchPrecision(dtype: "fp32" | "bf16" | undefined, device: string, use: "inference" | "full-training" | "lora-training"):
  { dtype: TorchDtype; autocastBf16: boolean } {
  const bf16 = device.startsWith("cuda") && dtype !== "fp32";
  if (!bf16) return { dtype: "float32", autocastBf16: false };
  return use === "full-training" ? { dtype: "float32", autocastBf16: true } : { dtype: "bfloat16", autocastBf16: false };
}

/** New LoRA adapters (PEFT semantics), or existing ones from a PEFT folder. */
export type TorchLoraOptions =
  | { rank: number; alpha: number; dropout?: number; targetModules?: string[] }
  | { adapterDir: string };

export interface TorchOptimOptions {
  /** Default 1e-6 (azr-spec §7.2). */
  lr?: number;
  betas?: [number, number];
  eps?: number;
  /** Default 0.01. */
  weightDecay?: number;
  /** Global-norm clip; default 1.0. A non-finite norm skips the step. */
  maxGradNorm?: number;
  warmupSteps?: number;
  schedule?: "constant" | "cosine";
  /** Cosine horizon in optimiser steps. */
  totalSteps?: number;
  minLrRatio?: number;
  /** Sequences per forward/backward; gradients accumulate over the batch. Default 16. */
  microBatch?: number;
  gradientCheckpointing?: boolean;
  /** On CUDA: keep fp32 weights, run the forward in bf16 (set dtype "float32" with it). */
  autocastBf16?: boolean;
  /**
   * With several ranks, each keeps AdamW's moments for its share of the parameters only (ZeRO
   * stage 1); the update is the same. Default true; false: every rank holds all of them.
   */
  shardOptimizerState?: boolean;
  /**
   * With several ranks, FSDP FULL_SHARD: weights, gradients and AdamW's moments all divided over
   * the ranks (each layer's weights gathered for its forward and backward); the update is the same.
   * Needs torch >= 2.1; not with LoRA. getWeights / save / saveWeightsFile / saveTrainingState are
   * then collectives (a TorchRankGroup calls every rank). Default false.
   */
  fsdp?: boolean;
}

/** The learner's loss settings; names as in azr/loss.ts. */
export interface TorchLossOptions {
  epsLow?: number;
  epsHigh?: number;
  dualClip?: number | null;
  /** Default 0.001. */
  entropyCoef?: number;
  /** 0 = no KL term (default). */
  klCoef?: number;
  klEstimator?: "k1" | "k2" | "k3";
  lossAgg?: "token-mean" | "microbatch-token-mean" | "seq-mean-token-mean";
  /** |log π_θ − log π_old| bound before exp; default 20. */
  logRatioClamp?: number;
}

export interface TorchEngineOptions {
  /** A Hugging Face model folder (config.json, *.safetensors, tokenizer.json for text/stop strings). */
  modelDir: string;
  /** "cpu" (default), "cuda" or "cuda:N". */
  device?: string;
  /** Parameter dtype; default bfloat16 on CUDA, float32 on CPU. */
  dtype?: TorchDtype;
  lora?: TorchLoraOptions;
  optim?: TorchOptimOptions;
  loss?: TorchLossOptions;
  /** torch intra-op threads (CPU). */
  threads?: number;
  /** Seeds LoRA initialisation and dropout. */
  seed?: number;
  /** Sequences decoded together at most (slots of the KV cache); default 64. */
  maxBatch?: number;
  /**
   * Data-parallel training: this worker is `rank` of `worldSize` (gloo on CPU, NCCL on CUDA).
   * Every rank gets the same full batch in trainStep and takes every worldSize-th micro-batch;
   * gradients are summed over ranks, so the update equals a single rank's. Call trainStep on all
   * ranks together (collectives wait for each other).
   */
  distributed?: { rank: number; worldSize: number; masterPort: number; masterAddr?: string; backend?: "gloo" | "nccl"; timeoutS?: number };
  /**
   * With `distributed`: this worker is one tensor-parallel rank of an inference engine (Megatron
   * layout, azr_torch/tensor_parallel.py): it holds 1/worldSize of each layer's attention heads and
   * MLP columns; generate and score run on every rank together (a TorchRankGroup drives them).
   * Not with optim.fsdp or lora; training and weight export are refused.
   */
  tensorParallel?: boolean;
  /** On CUDA, replay the decode step as a captured CUDA graph (default true; eager if capture fails). */
  cudaGraphs?: boolean;
  /** Interpreter; default `findPython().path`. */
  python?: string;
  /** Extra environment for the worker (e.g. CUDA_VISIBLE_DEVICES). */
  env?: NodeJS.ProcessEnv;
  onStderr?: (text: string) => void;
}

export interface TorchEngineInfo {
  torch: string;
  cuda: string | null;
  device: string;
  deviceName: string;
  dtype: TorchDtype;
  modelType: "qwen2" | "llama" | "qwen3";
  parameters: number;
  trainableParameters: number | null;
  eosTokenIds: number[];
  lora: { rank: number; alpha: number; targetModules: string[] } | null;
  safetensorsPackage: boolean;
  version: number;
  /** fsdp: the ranks shard the weights (optim.fsdp with several ranks). */
  distributed: { rank: number; worldSize: number; backend: string; fsdp: boolean; tensorParallel: boolean } | null;
}

export interface TorchSaveOptions {
  /** With LoRA: write the merged model in HF layout instead of the PEFT adapter files. */
  merged?: boolean;
  /** dtype of the written tensors; default the engine's. */
  dtype?: TorchDtype;
  /** Shard above this size (model-0000i-of-0000n.safetensors + index); default 5 GiB. */
  maxShardBytes?: number;
}

/** What `gradients` returns: the step's loss, its token count and term means, and the gradients. */
export interface TorchGradients {
  loss: number;
  tokens: number;
  terms: Record<string, number>;
  grads: Map<string, Float32Array>;
}

/** Frames carry fp32 tensors as bytes; most of a 0.5B model's weights fit well under this per frame. */
const SET_WEIGHTS_FRAME_BYTES = 256 * 1024 * 1024;

interface WireGeneration {
  index: number;
  tokens: number[];
  text: string;
  logprobs: Uint8Array;
  finishReason: Generation["finishReason"];
}

export class TorchEngine implements ModelEngine, AsyncDisposable {
  readonly backend = "torch" as const;
  #version = 0;

  private constructor(readonly worker: WorkerClient, readonly info: TorchEngineInfo) {}

  /** Starts the worker and loads the model; fails with TorchUnavailableError when this Python cannot. */
  static async start(opts: TorchEngineOptions): Promise<TorchEngine> {
    const python = opts.python ?? findPython().path;
    const worker = new WorkerClient({ python, env: opts.env, onStderr: opts.onStderr });
    try {
      return await TorchEngine.startOn(worker, opts);
    } catch (e) {
      await worker.close(1000);
      throw e;
    }
  }

  /**
   * Loads the model in a worker the caller already holds (and closes on failure): a rank of a
   * rank group blocks in init until every rank has joined, so the group must be able to kill it
   * meanwhile (model/torch/ranks.ts).
   */
  static async startOn(worker: WorkerClient, opts: TorchEngineOptions): Promise<TorchEngine> {
    const { python: _p, env: _e, onStderr: _s, ...init } = opts;
    return new TorchEngine(worker, await worker.call<TorchEngineInfo>("init", init));
  }

  /** The worker's CUDA memory as of its last finished call; undefined on CPU. */
  deviceMemory(): DeviceMemory | undefined {
    return sumDeviceMemory([this.worker]);
  }

  /** The weight version last installed by setWeights (0 = as loaded); rollouts are tagged with it. */
  get weightVersion(): number {
    return this.#version;
  }

  /** `maxBatch` overrides the engine's slot count for this call (sequences decoded together). */
  async *generate(req: GenerateRequest & { maxBatch?: number }, signal?: AbortSignal): AsyncIterable<Generation> {
    for await (const g of this.worker.stream<WireGeneration>("generate", req, signal)) {
      yield { index: g.index, tokens: g.tokens, text: g.text, logprobs: f32(g.logprobs), finishReason: g.finishReason };
    }
  }

  async score(req: ScoreRequest): Promise<Float32Array[]> {
    const out = await this.worker.call<Uint8Array[]>("score", req);
    return out.map(f32);
  }

  async trainStep(batch: TrainSequence[]): Promise<TrainStats> {
    return this.worker.call<TrainStats>("train_step", { batch: wireBatch(batch) });
  }

  /**
   * The summed, unclipped gradients one trainStep on `batch` would apply, without applying them
   * (no optimiser step; the step count is unchanged), under getWeights' names. A debugging and
   * parity tool (the ORT learner's counterpart is TrainCore.accumulate), not a training path.
   */
  async gradients(batch: TrainSequence[]): Promise<TorchGradients> {
    let head: Omit<TorchGradients, "grads"> | undefined;
    const grads = new Map<string, Float32Array>();
    type Item = { name: string; data: Uint8Array } | Omit<TorchGradients, "grads">;
    for await (const item of this.worker.stream<Item>("gradients", { batch: wireBatch(batch) })) {
      if ("name" in item) grads.set(item.name, f32(item.data));
      else head = item;
    }
    if (!head) throw new Error("gradients: the torch worker sent no loss before the tensors");
    return { ...head, grads };
  }

  /** HF-named weights (or PEFT-named adapters under LoRA), fp32, flattened; one frame per tensor. */
  async getWeights(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for await (const t of this.worker.stream<{ name: string; data: Uint8Array }>("get_weights", {})) out.set(t.name, f32(t.data));
    return out;
  }

  /**
   * Copies the tensors into the live parameters, then sets the version. They cross the pipe in
   * parts of about `partBytes` (default 256 MiB; one tensor larger than that goes alone); the
   * worker checks and holds each part and installs the version only with the last one, so a
   * version refused in any part leaves the engine on the version it had.
   */
  async setWeights(weights: Map<string, Float32Array>, version: number, opts: { partBytes?: number } = {}): Promise<void> {
    const limit = opts.partBytes ?? SET_WEIGHTS_FRAME_BYTES;
    let tensors: Record<string, { data: Uint8Array }> = {};
    let size = 0, part = 0;
    const flush = async (final: boolean) => {
      await this.worker.call("set_weights", { tensors, version, part: part++, final });
      tensors = {};
      size = 0;
    };
    for (const [name, t] of weights) {
      if (size > 0 && size + t.byteLength > limit) await flush(false);
      tensors[name] = { data: bytes(t) };
      size += t.byteLength;
    }
    await flush(true);
    this.#version = version;
  }

  /**
   * Writes what getWeights returns as one safetensors file at `path` (the engine's dtype unless
   * `dtype` is given), from the worker itself: weight sync on one host without the pipe.
   */
  async saveWeightsFile(path: string, opts: { dtype?: TorchDtype } = {}): Promise<{ bytes: number }> {
    return this.worker.call("save_weights_file", { path, ...opts });
  }

  /** Reads a safetensors file written by saveWeightsFile (or the ORT side) into the live parameters, then sets the version. */
  async loadWeightsFile(path: string, version: number): Promise<void> {
    await this.worker.call("load_weights_file", { path, version });
    this.#version = version;
  }

  /**
   * A LoRA learner's version into this engine (started without lora): W = W_base + scale·B·A for
   * each adapted weight, merged in the worker from the model it started with (a CPU copy; versions
   * never compound, full versions in between change no base: azr_torch/adapter_sync.py). The file
   * holds the adapters (PEFT names, [r, in] and [out, r]).
   */
  async applyAdaptersFile(path: string, lora: { r: number; scale: number }, version: number): Promise<void> {
    await this.worker.call("apply_adapters_file", { path, r: lora.r, scale: lora.scale, version });
    this.#version = version;
  }

  /** applyAdaptersFile with the adapters in frames (flattened fp32; shaped by `r`). */
  async applyAdapters(adapters: Map<string, Float32Array>, lora: { r: number; scale: number }, version: number): Promise<void> {
    const tensors = Object.fromEntries([...adapters].map(([n, t]) => [n, { data: bytes(t) }]));
    await this.worker.call("apply_adapters", { tensors, r: lora.r, scale: lora.scale, version });
    this.#version = version;
  }

  /** HF layout (config.json + model.safetensors[.index.json] + tokenizer files), or PEFT adapter files under LoRA. */
  async save(dir: string, opts: TorchSaveOptions = {}): Promise<void> {
    await this.worker.call("save", { dir, ...opts });
  }

  /** Optimiser state, step and RNG to `<dir>/training_state.pt` (weights go through `save`). */
  async saveTrainingState(dir: string): Promise<{ step: number }> {
    return this.worker.call("save_training_state", { dir });
  }

  /** Restores what saveTrainingState wrote; the next trainStep continues the same run. */
  async loadTrainingState(dir: string): Promise<{ step: number }> {
    return this.worker.call("load_training_state", { dir });
  }

  /** New loss settings and/or optimiser overrides from the next trainStep on; optimiser state is kept. */
  async configureTraining(opts: { loss?: TorchLossOptions; optim?: TorchOptimOptions }): Promise<void> {
    await this.worker.call("configure_training", opts);
  }

  /** LoRA only: off = the frozen base model (the reference policy), on = base + adapters. */
  async setAdapters(enabled: boolean): Promise<void> {
    await this.worker.call("set_adapters", { enabled });
  }

  async dispose(): Promise<void> {
    await this.worker.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/** `selectEngine`-friendly factory: `engine: "torch"` in a recipe maps here. */
export function createTorchEngine(opts: TorchEngineOptions): Promise<TorchEngine> {
  return TorchEngine.start(opts);
}

function wireBatch(batch: TrainSequence[]) {
  return batch.map((s) => ({
    prompt: s.prompt,
    response: s.response,
    advantages: bytes(s.advantages),
    oldLogprobs: s.oldLogprobs ? bytes(s.oldLogprobs) : null,
    refLogprobs: s.refLogprobs ? bytes(s.refLogprobs) : null,
  }));
}

/** Msgpack bin arrives as a view that may be unaligned for Float32Array: copy once. */
function f32(b: Uint8Array): Float32Array {
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** The CUDA memory of several workers (ranks of one engine), summed; undefined when none reports any. */
export function sumDeviceMemory(workers: readonly WorkerClient[]): DeviceMemory | undefined {
  const seen = workers.map((w) => w.deviceMemory).filter((m) => m !== undefined);
  if (!seen.length) return undefined;
  return {
    peakReservedBytes: seen.reduce((a, m) => a + m.peakReserved, 0),
    peakAllocatedBytes: seen.reduce((a, m) => a + m.peakAllocated, 0),
    devices: seen.length,
  };
}
