/**
 * The model engine's interface: what the rollout engine, reference model and learner actors
 * call, whichever backend runs underneath (`ort`: ONNX graphs on onnxruntime-node, in-process,
 * CPU; `torch`: a PyTorch engine worker over pipes, GPUs). Backends implement the parts they
 * serve (an inference-only engine has no `trainStep`). Names follow Hugging Face's
 * (`maxNewTokens`, `topP`), camelCased.
 */

export type EngineBackend = "ort" | "torch";

export interface SamplingOptions {
  /** Tokens to generate at most per sequence. */
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature?: number;
  /** Nucleus sampling mass; 1 = off. */
  topP?: number;
  /** 0 = off. */
  topK?: number;
  /** Seed for reproducible sampling; sequence i uses a stream derived from (seed, i). */
  seed?: number;
  /**
   * Sequence i uses the stream of (seed, firstIndex + i): a request split into contiguous parts
   * (the rollout pool's replicas) then samples what the whole request would. Default 0.
   */
  firstIndex?: number;
  /** Generation stops when the decoded text contains one of these (cut before it); non-empty. */
  stop?: string[];
}

export interface GenerateRequest extends SamplingOptions {
  /** Prompt token ids, one array per sequence (tokenize with the engine's tokenizer first). */
  prompts: number[][];
}

export interface Generation {
  /** Index of the prompt this sequence answers. */
  index: number;
  /** Generated token ids (prompt excluded, stop string cut). */
  tokens: number[];
  text: string;
  /** Log-prob of each generated token under the sampling policy's logits (before temperature). */
  logprobs: Float32Array;
  finishReason: "eos" | "stop" | "length";
}

export interface ScoreRequest {
  prompts: number[][];
  responses: number[][];
}

/** One trained sequence of a policy-gradient batch. */
export interface TrainSequence {
  prompt: number[];
  response: number[];
  /** Per-token advantage (TRR++ broadcasts the sequence's scalar advantage to every token). */
  advantages: Float32Array;
  /** Log-probs of the response under the policy that generated it (for the PPO ratio). */
  oldLogprobs?: Float32Array;
  /** Log-probs under the reference model (for the KL term). */
  refLogprobs?: Float32Array;
}

export interface TrainStats {
  step: number;
  loss: number;
  gradNorm: number;
  lr: number;
  tokens: number;
  /** Loss terms by name (pg, kl, entropy, clipfrac, …). */
  terms: Record<string, number>;
  /** torch engine: bytes of optimiser moments this rank holds (its share when they are sharded). */
  optimizerStateBytes?: number;
}

/** Accelerator memory an engine's processes have held so far (summed over its ranks' devices). */
export interface DeviceMemory {
  /** Peak bytes reserved from the devices (torch's caching allocator): what no other process can have. */
  peakReservedBytes: number;
  /** Peak bytes held by live tensors. */
  peakAllocatedBytes: number;
  /** Devices reporting. */
  devices: number;
}

export interface ModelEngine {
  readonly backend: EngineBackend;
  /** Sequences stream out as they finish (finished sequences stop costing compute). */
  generate(req: GenerateRequest, signal?: AbortSignal): AsyncIterable<Generation>;
  /** Per-token log-probs of each response given its prompt (response tokens only). */
  score(req: ScoreRequest): Promise<Float32Array[]>;
  /** One optimiser step over the batch (gradient accumulation inside). Absent on inference-only engines. */
  trainStep?(batch: TrainSequence[]): Promise<TrainStats>;
  /** The weights (or LoRA adapters) as named tensors, to ship to other engines. */
  getWeights(): Promise<Map<string, Float32Array>>;
  /** Replace weights in place (a new version from the learner), without rebuilding sessions. */
  setWeights(weights: Map<string, Float32Array>, version: number): Promise<void>;
  /** Writes a Hugging Face layout checkpoint (config.json, model.safetensors). */
  save(dir: string): Promise<void>;
  /** Engines on an accelerator: its memory as of the last finished call; undefined on CPU. */
  deviceMemory?(): DeviceMemory | undefined;
  dispose(): Promise<void>;
}
