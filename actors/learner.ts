/**
 * The `learner` actor: TRR++ updates (the policy-gradient loss of azr-spec §7.2) with the
 * recipe's optimiser settings, one optimiser step per self-play step; weight versions for the
 * rollout engine (published by handle, actors/weight-sync; with `trainer.lora` only the adapters are
 * published and the rollout engine merges them into its base); training checkpoints (weights +
 * optimiser state) that resume bit-identically.
 *
 * Covers: mapping recipe settings onto the engine's trainer and the actor surface the driver
 * uses. Not: the loss, gradients or optimiser (model/train), which batch to train (the driver).
 * π_old: with one optimiser step per batch, the old policy is the current one, so the trainer
 * evaluates the ratio against its own detached log-probs (ρ = 1 in value, the clip inert).
 * Off-policy runs (`selfplay.offPolicy` 1) send the behaviour policy's log-probs as
 * `oldLogprobs`: ρ = exp(clamp(log π_θ − log π_behaviour, ±20)) under the same PPO clip (§7.2).
 * A LoRA learner also serves the KL term's reference log-probs (`scoreReference`): its frozen base
 * *is* the starting policy, so no second copy of the model is started (as verl's ref-in-actor).
 */
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DeviceMemory, TrainSequence, TrainStats } from "../model/engine.ts";
import { createOrtTrainer } from "../model/train/trainer.ts";
import type { PolicyLossSettings } from "../model/train/losses.ts";
import type { OptimSettings } from "../model/train/optim.ts";
import { adapterShapes, type LoraSettings } from "../model/train/lora.ts";
import { readConfig, weightShapes } from "../model/config.ts";
import { OrtEngine } from "../model/ort/engine.ts";
import { loadWeights } from "../model/checkpoint.ts";
import { assignedDevice, assignedGpus, defineActor } from "../runtime/index.ts";
import { hostIdentity, WeightPublisher, type LoraInfo, type PublishRequest, type WeightHandle, type WeightSyncOptions } from "./weight-sync/index.ts";
import { loraInfo, peftNames } from "./weight-sync/lora.ts";
import { writeWeightsFile } from "./weight-sync/safetensors-file.ts";
import type { LearnerControl } from "./selfplay/driver.ts";
import { LEARNER_VERSION_MISMATCH } from "./selfplay/ports.ts";
import type { TorchRankGroup } from "../model/torch/ranks.ts";

/** The recipe's `trainer` section, as the learner reads it. */
export interface LearnerSettings {
  lossAgg: PolicyLossSettings["lossAgg"];
  clipLow: number;
  clipHigh: number;
  dualClip: number | null;
  entropyCoef: number;
  kl: { estimator: "off" | "k1" | "k2" | "k3"; coef: number };
  optimizer: { lr: number; betas: [number, number]; eps: number; weightDecay: number; warmupSteps: number; schedule: "constant" | "cosine" };
  gradClip: number;
  microBatch: number;
  seed: number;
  /** Train LoRA adapters (PEFT semantics) on the frozen base instead of every weight; absent or null: full fine-tuning. */
  lora?: LoraSettings | null;
  /** Recompute each layer's activations in backward instead of keeping them (less memory, more compute). Default false. */
  gradientCheckpointing?: boolean;
  /** torch, several ranks: shard AdamW's moments across them (ZeRO stage 1). Default true. */
  shardOptimizerState?: boolean;
  /** torch, several ranks: FSDP FULL_SHARD (weights, gradients and moments sharded). Default false. */
  fsdp?: boolean;
  /** |log π_θ − log π_old| bound before exp in the policy loss. Default 20. */
  logRatioClamp?: number;
}

export interface LearnerOptions {
  modelDir: string;
  engine: "ort" | "torch";
  /** torch engine; default "cuda" when the node agent gave this actor GPUs (AZR_GPUS), else "cpu". */
  device?: string;
  /** torch: data-parallel ranks (model/torch/ranks.ts); default one per GPU the node agent gave this actor on cuda, else 1. */
  ranks?: number;
  /** The recipe's model.dtype: on CUDA, bf16 is the compute dtype over fp32 weights (torchPrecision). Default bf16. */
  dtype?: "fp32" | "bf16";
  trainer: LearnerSettings;
  /** Total optimiser steps (the cosine schedule's horizon). */
  steps: number;
  threads?: number;
  maxPositions?: number;
  /** Run id and NATS servers for publishing weight versions (actors/weight-sync). */
  weightSync?: WeightSyncOptions;
}

export function lossSettings(t: LearnerSettings): PolicyLossSettings {
  return {
    kind: "policy", epsLow: t.clipLow, epsHigh: t.clipHigh, dualClip: t.dualClip, entropyCoef: t.entropyCoef,
    klCoef: t.kl.estimator === "off" ? 0 : t.kl.coef, klEstimator: t.kl.estimator === "off" ? "k3" : t.kl.estimator, lossAgg: t.lossAgg,
    logRatioClamp: t.logRatioClamp, // absent: each engine's default (20)
  };
}

export function optimSettings(t: LearnerSettings, steps: number): Partial<OptimSettings> {
  const o = t.optimizer;
  return {
    lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weightDecay, warmupSteps: o.warmupSteps, schedule: o.schedule,
    totalSteps: steps, maxGradNorm: t.gradClip, microBatch: t.microBatch,
  };
}

/** What the learner needs from a training backend (the ORT trainer or the torch engine worker). */
interface TrainerBackend {
  trainStep(batch: TrainSequence[]): Promise<TrainStats>;
  /** The trained tensors: every weight, or (LoRA) the adapters under PEFT names. */
  getWeights(): Promise<Map<string, Float32Array>>;
  /** Full weights for an inference engine (LoRA: merged into the base). */
  getMergedWeights(): Promise<Map<string, Float32Array>>;
  /** The weights getWeights returns, as one fp32 safetensors file (weight sync). */
  writeWeightsFile(path: string): Promise<void>;
  save(dir: string): Promise<void>;
  /** Replaces the state with a checkpoint's; returns its optimiser step. */
  load(dir: string): Promise<number>;
  exportModel(dir: string): Promise<void>;
  /** LoRA: per-token log-probs of the responses under the frozen base (the adapters left out). */
  scoreBase(prompts: number[][], responses: number[][]): Promise<Float32Array[]>;
  /** GPU memory of the engine's ranks (torch on CUDA); undefined otherwise. */
  deviceMemory?(): DeviceMemory | undefined;
  dispose(): Promise<void>;
}

async function ortBackend(o: LearnerOptions): Promise<TrainerBackend> {
  const lora = o.trainer.lora ?? undefined;
  const trainer = await createOrtTrainer({ modelDir: o.modelDir }, {
    loss: lossSettings(o.trainer), optim: optimSettings(o.trainer, o.steps), seed: o.trainer.seed, threads: o.threads, maxPositions: o.maxPositions, lora,
    recompute: o.trainer.gradientCheckpointing, // per-layer recomputation in backward: the recipe's gradient checkpointing
  });
  // so the file carries real shapes (the torch side reshapes by them); the ORT trainer names adapters without PEFT's prefix
  const config = readConfig(o.modelDir);
  const shapes = lora ? peftNames(adapterShapes(config, lora)) : weightShapes(config);
  const getWeights = async () => (lora ? peftNames(await trainer.getWeights()) : trainer.getWeights());
  // The trainer's worker has no scoring graph: the base is scored by an inference engine on the
  // same files, started on first use (a LoRA run with a KL term), with as many positions as the trainer.
  let base: Promise<OrtEngine> | undefined;
  return {
    trainStep: (b) => trainer.trainStep(b.map((s) => ({ prompt: s.prompt, response: s.response, advantages: s.advantages, oldLogprobs: s.oldLogprobs, refLogprobs: s.refLogprobs }))),
    getWeights,
    getMergedWeights: () => trainer.getMergedWeights(),
    writeWeightsFile: async (path) => writeWeightsFile(path, await getWeights(), shapes),
    save: (dir) => trainer.save(dir),
    load: (dir) => trainer.load(dir),
    exportModel: (dir) => trainer.exportModel(dir),
    scoreBase: async (prompts, responses) => {
      base ??= OrtEngine.fromPretrained(o.modelDir, { threads: o.threads, maxPositions: o.maxPositions ?? config.maxPositionEmbeddings });
      return (await base).score({ prompts, responses });
    },
    dispose: async () => {
      try {
        await trainer.dispose();
      } finally {
        await base?.then((e) => e.dispose(), () => undefined);
      }
    },
  };
}

/**
 * The files a torch learner checkpoint (written by the backend's save) must hold before a load
 * closes anything: weights and config (full fine-tune) or PEFT adapters (LoRA), and
 * training_state.pt. Throws naming the folder, the missing file and the fix.
 */
export function checkTorchCheckpoint(dir: string, lora: boolean): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`learner load: ${dir} is not a folder; give a checkpoint folder written by the learner's save`);
  const has = (f: string) => existsSync(join(dir, f));
  const weights = lora ? ["adapter_config.json", "adapter_model.safetensors"] : ["config.json", has("model.safetensors.index.json") ? "model.safetensors.index.json" : "model.safetensors"];
  for (const f of [...weights, "training_state.pt"])
    if (!has(f)) throw new Error(`learner load: ${join(dir, f)} is missing, so ${dir} is not a complete ${lora ? "LoRA " : ""}learner checkpoint (the learner's save writes it); nothing was changed`);
}

/** Stands in for an engine lost by a failed load on GPUs: every call says why (see load). */
function lostEngine(why: string): TorchRankGroup {
  return new Proxy({} as TorchRankGroup, {
    get: (_t, prop) => (prop === "dispose" ? async () => undefined : prop === "then" ? undefined : async () => Promise.reject(new Error(`learner has no model: ${why}`))),
  });
}

async function torchBackend(o: LearnerOptions): Promise<TrainerBackend> {
  const [{ createTorchRankGroup }, { torchPrecision }] = await Promise.all([import("../model/torch/ranks.ts"), import("../model/torch/engine.ts")]);
  const { kind: _kind, ...loss } = lossSettings(o.trainer);
  const device = o.device ?? assignedDevice();
  const gpus = assignedGpus();
  const ranks = o.ranks ?? (device === "cuda" ? Math.max(gpus.length, 1) : 1);
  // several ranks on CUDA: one per GPU this actor was given (NCCL); on CPU: gloo ranks; 1: a plain engine
  const layout = ranks > 1 && device.startsWith("cuda") ? { gpus: gpus.slice(0, ranks), worldSize: ranks } : { device, worldSize: ranks };
  const lora = o.trainer.lora ?? undefined;
  const newLora = lora && { rank: lora.r, alpha: lora.alpha, dropout: lora.dropout, targetModules: lora.targetModules };
  const precision = torchPrecision(o.dtype, device, lora ? "lora-training" : "full-training");
  // A full fine-tune's fp32 master weights go out as bf16 when the rollout engine beside it holds
  // bf16 (CUDA, model.dtype bf16): the cast it would make on load, made before the write, so the
  // same bits arrive in half the bytes. LoRA adapters stay fp32 (merged into the base in fp32).
  const syncDtype = !lora && torchPrecision(o.dtype, device, "inference").dtype === "bfloat16" ? "bfloat16" : undefined;
  // a LoRA checkpoint folder holds the adapters (PEFT files), not a model: the base comes from modelDir again
  const start = (dir: string) =>
    createTorchRankGroup({
      modelDir: lora ? o.modelDir : dir, ...(lora ? { lora: dir === o.modelDir ? newLora : { adapterDir: dir } } : {}),
      ...layout, loss, seed: o.trainer.seed, threads: o.threads, dtype: precision.dtype,
      optim: {
        ...optimSettings(o.trainer, o.steps), autocastBf16: precision.autocastBf16,
        gradientCheckpointing: o.trainer.gradientCheckpointing, shardOptimizerState: o.trainer.shardOptimizerState, fsdp: o.trainer.fsdp,
      },
    });
  let engine = await start(o.modelDir);
  return {
    trainStep: (b) => engine.trainStep(b),
    getWeights: () => engine.getWeights(),
    getMergedWeights: async () => {
      if (!lora) return engine.getWeights();
      const dir = mkdtempSync(join(tmpdir(), "azr-learner-merged-")); // torch's own merge (lora.merged_state), read back in fp32
      try {
        await engine.save(dir, { merged: true, dtype: "float32" });
        return loadWeights(dir, readConfig(o.modelDir));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    // Python writes it: the bytes never cross the pipe
    writeWeightsFile: async (path) => void (await engine.saveWeightsFile(path, { dtype: syncDtype })),
    save: async (dir) => {
      await engine.save(dir);
      await engine.saveTrainingState(dir);
    },
    // A failed load must not leave the learner without a model, or serving another model under the
    // old version. The files a load needs are checked before anything is closed (a missing or
    // foreign checkpoint: the running engine keeps serving). On CPU the checkpoint's engine then
    // starts beside the running one and replaces it once its training state is in; on GPUs two
    // engines (an FSDP group each, for a full fine-tune) may not fit, so the running one is closed
    // first, and a start that still fails leaves the learner refusing every call with why.
    load: async (dir) => {
      checkTorchCheckpoint(dir, lora !== undefined);
      const startLoaded = async () => {
        const next = await start(dir);
        try {
          return { next, step: (await next.loadTrainingState(dir)).step };
        } catch (e) {
          await next.dispose().catch(() => undefined);
          throw e;
        }
      };
      if (device.startsWith("cuda")) {
        await engine.dispose();
        try {
          const { next, step } = await startLoaded();
          engine = next;
          return step;
        } catch (e) {
          engine = lostEngine(`loading ${dir} failed after the running engine was closed (GPU memory holds one): ${e instanceof Error ? e.message : e}; load a checkpoint again or restart the learner`);
          throw e;
        }
      }
      const { next, step } = await startLoaded();
      const old = engine;
      engine = next;
      // the load has succeeded: a worker that fails to close is reported, not turned into a failed load
      await old.dispose().catch((e) => console.warn(`learner: the engine replaced by ${dir} did not close cleanly: ${e instanceof Error ? e.message : e}`));
      return step;
    },
    exportModel: (dir) => engine.save(dir, { merged: true }), // a plain HF model, as the ORT trainer's export
    // The adapters are switched off for the call only; the actor serves one call at a time, so no
    // train step runs in between.
    scoreBase: async (prompts, responses) => {
      await engine.setAdapters(false);
      try {
        return await engine.score({ prompts, responses });
      } finally {
        await engine.setAdapters(true);
      }
    },
    // engine may be lostEngine's stand-in after a failed load, whose every member throws
    deviceMemory: () => {
      try {
        return engine.deviceMemory();
      } catch {
        return undefined;
      }
    },
    dispose: () => engine.dispose(),
  };
}

export class LearnerVersionError extends Error {
  override name = LEARNER_VERSION_MISMATCH;
}

export class Learner implements LearnerControl {
  private trainer: Promise<TrainerBackend>;
  private version = 0;
  private last: TrainStats | null = null;
  private readonly publisher: WeightPublisher;
  /** The backend once started, for the synchronous deviceMemory() hook. */
  private started: TrainerBackend | undefined;

  constructor(private readonly opts: LearnerOptions) {
    this.publisher = new WeightPublisher({ ...opts.weightSync, log: (s) => console.log(s) });
    this.publisher.files(); // at start, not at the first publish: a crashed run's files go even if this start fails early
    this.trainer = opts.engine === "torch" ? torchBackend(opts) : ortBackend(opts);
    this.trainer.then((b) => (this.started = b), () => {}); // a failure is surfaced by the first call
  }

  /** Runtime hook (not a remote method): GPU memory of a torch learner on CUDA, for the actor's stats. */
  deviceMemory(): DeviceMemory | undefined {
    return this.started?.deviceMemory?.();
  }

  /**
   * The caller names the weight version it believes this learner holds: a learner that died and
   * came back (base weights, fresh optimiser) refuses instead of training or saving the wrong
   * state (the driver then rolls the run back to its last checkpoint, resilient.ts).
   */
  private expect(version: number | undefined, what: string): void {
    if (version !== undefined && version !== this.version) {
      throw new LearnerVersionError(`learner holds weights version ${this.version}, the caller expects ${version} for ${what}: it restarted since (its state since the last checkpoint is gone)`);
    }
  }

  async trainStep(batch: TrainSequence[], expectVersion?: number): Promise<TrainStats> {
    this.expect(expectVersion, "trainStep");
    const stats = await (await this.trainer).trainStep(batch);
    this.version++;
    this.last = stats;
    return stats;
  }

  /** The full weights an inference engine runs (LoRA: merged into the base) and their version. */
  async weights(): Promise<{ version: number; tensors: Map<string, Float32Array> }> {
    return { version: this.version, tensors: await (await this.trainer).getMergedWeights() };
  }

  /**
   * Publishes the current weights (shm on the reader's host, the object store across hosts, or
   * inline; `req.transport` forces one) and returns the handle the rollout engine loads from.
   * With LoRA only the adapters go (kind `lora-adapters`): the rollout engine keeps its base.
   */
  async publishWeights(req: PublishRequest = {}): Promise<WeightHandle> {
    const trainer = await this.trainer;
    const lora: LoraInfo | undefined = this.opts.trainer.lora ? loraInfo(this.opts.trainer.lora) : undefined;
    return this.publisher.publish(this.version, { writeFile: (p) => trainer.writeWeightsFile(p), tensors: () => trainer.getWeights(), lora }, req);
  }

  /** The rollout engine holds `version`: the other published versions' files and objects are removed. */
  async confirmWeights(version: number): Promise<void> {
    await this.publisher.confirm(version);
  }

  async hostId(): Promise<string> {
    return hostIdentity();
  }

  async save(dir: string, expectVersion?: number): Promise<void> {
    this.expect(expectVersion, "save");
    await (await this.trainer).save(dir);
  }

  /** Replaces the trainer's state with a checkpoint's (weights, optimiser state, step). */
  async load(dir: string): Promise<void> {
    this.version = await (await this.trainer).load(dir);
    this.publisher.forget(); // the same version number may now hold other weights
  }

  async exportModel(dir: string): Promise<void> {
    await (await this.trainer).exportModel(dir);
  }

  /**
   * The KL term's reference log-probs (per response token) from a LoRA learner: its frozen base is
   * the policy the run started from, whatever the adapters have learnt since. A full fine-tune has
   * no copy of its starting weights, so it refuses: that run needs the reference-model actor.
   */
  async scoreReference(prompts: number[][], responses: number[][]): Promise<Float32Array[]> {
    if (!this.opts.trainer.lora) {
      throw new Error("learner.scoreReference: a full fine-tune keeps no copy of its starting weights; score the reference with the reference-model actor (actors.reference-model.replicas 1), or train LoRA adapters (trainer.lora)");
    }
    if (prompts.length !== responses.length) throw new Error(`learner.scoreReference: ${prompts.length} prompts but ${responses.length} responses`);
    return (await this.trainer).scoreBase(prompts, responses);
  }

  async stats(): Promise<{ version: number; last: TrainStats | null }> {
    return { version: this.version, last: this.last };
  }

  async close(): Promise<void> {
    // The trainer (its engine and worker processes) is released even if the publisher's dispose fails.
    try {
      await this.publisher.dispose();
    } finally {
      await (await this.trainer).dispose();
    }
  }
}
defineActor(import.meta.url, Learner);
