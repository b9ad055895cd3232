/** Messages between OrtTrainer (host thread) and its worker thread (./worker.ts). */
import type { ArchConfig } from "../config.ts";
import type { LossSettings } from "./losses.ts";
import type { LoraOption } from "./lora.ts";
import type { OptimSettings } from "./optim.ts";
import type { StepStats, TrainItem } from "./core.ts";

export interface OrtTrainerOptions {
  /** Default: the policy-gradient loss with azr-spec §7.2 defaults. */
  loss?: LossSettings;
  optim?: Partial<OptimSettings>;
  /** Train LoRA adapters on a frozen base; `adapterDir` starts from saved PEFT adapters (settings from their adapter_config.json). */
  lora?: LoraOption;
  /** Seeds adapter init and LoRA dropout masks. */
  seed?: number;
  /** onnxruntime intra-op threads (default: onnxruntime's choice). */
  threads?: number;
  /** Longest prompt + response trained on (RoPE table size; default min(config, 4096)). */
  maxPositions?: number;
  /** Recompute each layer's activations in the backward pass instead of keeping them: less memory, ~⅓ more compute. */
  recompute?: boolean;
}

export type TrainerInit =
  | { source: "dir"; dir: string; options: OrtTrainerOptions }
  | { source: "weights"; config: ArchConfig; weights: Map<string, Float32Array>; options: OrtTrainerOptions }
  /** A training checkpoint written by save(): settings, weights and optimiser state come from it. */
  | { source: "checkpoint"; dir: string; options: Pick<OrtTrainerOptions, "threads" | "maxPositions" | "recompute">; decay?: OptimSettings["decay"]; totalSteps?: number };

export type TrainerRequest =
  | { id: number; kind: "trainStep"; batch: TrainItem[] }
  | { id: number; kind: "getWeights" }
  | { id: number; kind: "getMergedWeights" }
  | { id: number; kind: "setWeights"; weights: Map<string, Float32Array> }
  | { id: number; kind: "save"; dir: string }
  | { id: number; kind: "load"; dir: string }
  | { id: number; kind: "exportModel"; dir: string }
  | { id: number; kind: "dispose" };

export interface RemoteError {
  name: string;
  message: string;
  stack?: string;
}

export type TrainerReply =
  | { id: 0; kind: "ready"; config: ArchConfig; step: number; trainable: number }
  | { id: 0; kind: "initError"; error: RemoteError }
  | { id: number; kind: "result"; value: unknown }
  | { id: number; kind: "error"; error: RemoteError };

export type { StepStats, TrainItem };
