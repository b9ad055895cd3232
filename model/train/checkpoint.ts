/**
 * Training checkpoints: everything a resumed run needs to continue bit-identically on CPU.
 *   <dir>/config.json, model.safetensors   the full weights (the frozen base under LoRA), F32
 *   <dir>/adapter/                         PEFT adapters (LoRA only)
 *   <dir>/optimizer.safetensors            AdamW moments: exp_avg.<name>, exp_avg_sq.<name>, F32
 *   <dir>/trainer_state.json               schedule step, Adam step, seed, loss/optim/LoRA settings
 * Names follow PyTorch's AdamW state (exp_avg, exp_avg_sq). Export with merged adapters is
 * `exportMerged`. Not: RNG state of other actors, data-loader position (the caller's).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadModel, saveModel, type Weights } from "../checkpoint.ts";
import type { ArchConfig } from "../config.ts";
import { readSafetensors, writeSafetensors } from "../safetensors.ts";
import type { LossSettings } from "./losses.ts";
import { loadAdapters, mergeLora, saveAdapters, type LoraSettings } from "./lora.ts";
import type { AdamState, OptimSettings } from "./optim.ts";

export interface TrainState {
  config: ArchConfig;
  weights: Weights;
  adapters?: Map<string, Float32Array>;
  lora?: LoraSettings;
  adam: AdamState;
  stepCount: number;
  seed: number;
  loss: LossSettings;
  optim: OptimSettings;
}

interface StateJson {
  format: "azr-train-state/1";
  stepCount: number;
  adamStep: number;
  seed: number;
  loss: LossSettings;
  optim: OptimSettings;
  lora: LoraSettings | null;
}

export function saveTrainState(dir: string, s: TrainState): void {
  saveModel(dir, s.config, s.weights);
  if (s.lora) saveAdapters(join(dir, "adapter"), s.adapters!, s.lora, s.config);
  const tensors = [];
  for (const [name, m] of s.adam.m) {
    tensors.push({ name: `exp_avg.${name}`, shape: [m.length], data: m });
    tensors.push({ name: `exp_avg_sq.${name}`, shape: [m.length], data: s.adam.v.get(name)! });
  }
  writeSafetensors(join(dir, "optimizer.safetensors"), tensors);
  const json: StateJson = { format: "azr-train-state/1", stepCount: s.stepCount, adamStep: s.adam.step, seed: s.seed, loss: s.loss, optim: s.optim, lora: s.lora ?? null };
  writeFileSync(join(dir, "trainer_state.json"), JSON.stringify(json, null, 2) + "\n");
}

export function loadTrainState(dir: string): TrainState {
  const file = join(dir, "trainer_state.json");
  if (!existsSync(file)) throw new Error(`no trainer_state.json in ${dir}: not a training checkpoint (a plain model directory loads with loadModel)`);
  const json = JSON.parse(readFileSync(file, "utf8")) as StateJson;
  if (json.format !== "azr-train-state/1") throw new Error(`${file}: unknown format ${json.format}`);
  const { config, weights } = loadModel(dir);
  const lora = json.lora ?? undefined;
  const adapters = lora ? loadAdapters(join(dir, "adapter"), config).adapters : undefined;
  const m = new Map<string, Float32Array>(), v = new Map<string, Float32Array>();
  for (const [name, data] of readSafetensors(join(dir, "optimizer.safetensors"))) {
    if (name.startsWith("exp_avg_sq.")) v.set(name.slice("exp_avg_sq.".length), data);
    else if (name.startsWith("exp_avg.")) m.set(name.slice("exp_avg.".length), data);
  }
  for (const name of (adapters ?? weights).keys())
    if (!m.has(name) || !v.has(name)) throw new Error(`${dir}/optimizer.safetensors: state for ${name} is missing`);
  return { config, weights, adapters, lora, adam: { step: json.adamStep, m, v }, stepCount: json.stepCount, seed: json.seed, loss: json.loss, optim: json.optim };
}

/** A plain Hugging Face model directory of the trained model (LoRA merged into the weights). */
export function exportMerged(dir: string, s: Pick<TrainState, "config" | "weights" | "adapters" | "lora">): void {
  saveModel(dir, s.config, s.lora ? mergeLora(s.config, s.weights, s.adapters!, s.lora) : s.weights);
}
