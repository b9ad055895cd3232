/**
 * OrtTrainer: the `ort` backend's training half — `trainStep` of ModelEngine plus weights in/out
 * and checkpoints — as a thin host-side client of a worker thread (./worker.ts) that owns the
 * weights, the optimiser state and the onnxruntime sessions. It composes with model/ort's
 * OrtEngine (inference): after a step, `engine.setWeights(await trainer.getWeights(), version)`
 * (with LoRA, getWeights returns only the adapters; `exportModel` writes merged full weights).
 *
 *   const trainer = await createOrtTrainer({ modelDir }, { loss, optim, lora });
 *   const stats = await trainer.trainStep(batch);   // TrainStats
 *   await trainer.save(dir);                        // weights + optimiser state; resume:
 *   const again = await createOrtTrainer({ checkpointDir: dir });
 */
import { Worker } from "node:worker_threads";
import type { ArchConfig } from "../config.ts";
import type { Weights } from "../checkpoint.ts";
import type { OptimSettings } from "./optim.ts";
import type { TrainStats } from "../engine.ts";
import type { OrtTrainerOptions, RemoteError, TrainerInit, TrainerReply, TrainerRequest, TrainItem } from "./protocol.ts";

export type { OrtTrainerOptions, TrainItem } from "./protocol.ts";

export class OrtTrainerError extends Error {
  override name = "OrtTrainerError";
  constructor(readonly remote: RemoteError) {
    super(`${remote.name}: ${remote.message}`);
    if (remote.stack) this.stack = `${this.stack}\n    --- in the trainer worker ---\n${remote.stack}`;
  }
}

export type TrainerSource =
  | { modelDir: string }
  | { config: ArchConfig; weights: Weights }
  | {
      checkpointDir: string;
      /** Adds (or replaces) the resumed schedule's anneal phase. */
      decay?: OptimSettings["decay"];
      /** Moves the resumed cosine's horizon (more epochs than the run was started with). */
      totalSteps?: number;
    };

type Request = TrainerRequest extends infer M ? (M extends TrainerRequest ? Omit<M, "id"> : never) : never;

export class OrtTrainer {
  readonly backend = "ort" as const;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private closed = false;

  private constructor(private readonly worker: Worker, readonly config: ArchConfig, readonly trainableParams: number) {
    worker.on("message", (m: TrainerReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.kind === "result") p.resolve(m.value);
      else if (m.kind === "error") p.reject(new OrtTrainerError(m.error));
    });
    const fail = (e: Error) => {
      this.closed = true;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`the trainer worker exited (code ${code})`)));
  }

  static start(init: TrainerInit): Promise<OrtTrainer> {
    const worker = new Worker(new URL("./worker-entry.mjs", import.meta.url), { workerData: init });
    return new Promise((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`the trainer worker exited during start-up (code ${code})`));
      worker.once("error", reject);
      worker.once("exit", onExit);
      worker.once("message", (m: TrainerReply) => {
        worker.off("error", reject);
        worker.off("exit", onExit);
        if (m.kind === "ready") resolve(new OrtTrainer(worker, m.config, m.trainable));
        else if (m.kind === "initError") {
          void worker.terminate();
          reject(new OrtTrainerError(m.error));
        }
      });
    });
  }

  private call<T>(msg: Request): Promise<T> {
    if (this.closed) return Promise.reject(new Error("the trainer is disposed"));
    const id = this.nextId++;
    const done = new Promise<T>((resolve, reject) => this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject }));
    this.worker.postMessage({ ...msg, id });
    return done;
  }

  /** One optimiser step over the batch (micro-batches of optim.microBatch sequences, gradients accumulated). */
  trainStep(batch: TrainItem[]): Promise<TrainStats> {
    return this.call<TrainStats>({ kind: "trainStep", batch });
  }

  /** The trained tensors: all weights, or only the LoRA adapters. */
  getWeights(): Promise<Map<string, Float32Array>> {
    return this.call({ kind: "getWeights" });
  }

  /** Full weights for an inference engine: the weights, or the base with the adapters merged in. */
  getMergedWeights(): Promise<Map<string, Float32Array>> {
    return this.call({ kind: "getMergedWeights" });
  }

  /** Replaces the trained tensors (same names and sizes), keeping optimiser state. */
  async setWeights(weights: Map<string, Float32Array>, _version?: number): Promise<void> {
    await this.call({ kind: "setWeights", weights });
  }

  /** A training checkpoint (HF layout + adapters + optimiser state); resume with `{ checkpointDir }`. */
  async save(dir: string): Promise<void> {
    await this.call({ kind: "save", dir });
  }

  /** Replaces this trainer's state with a checkpoint's (weights, adapters, optimiser, step, settings); returns its step. */
  load(dir: string): Promise<number> {
    return this.call<number>({ kind: "load", dir });
  }

  /** A plain Hugging Face model directory, LoRA merged. */
  async exportModel(dir: string): Promise<void> {
    await this.call({ kind: "exportModel", dir });
  }

  async dispose(): Promise<void> {
    if (this.closed) return;
    await this.call({ kind: "dispose" });
    this.closed = true;
    await this.worker.terminate();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

export function createOrtTrainer(source: TrainerSource, options: OrtTrainerOptions = {}): Promise<OrtTrainer> {
  if ("checkpointDir" in source) return OrtTrainer.start({ source: "checkpoint", dir: source.checkpointDir, decay: source.decay, totalSteps: source.totalSteps, options: { threads: options.threads, maxPositions: options.maxPositions, recompute: options.recompute } });
  if ("modelDir" in source) return OrtTrainer.start({ source: "dir", dir: source.modelDir, options });
  return OrtTrainer.start({ source: "weights", config: source.config, weights: source.weights, options });
}
