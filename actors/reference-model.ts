/**
 * The `reference-model` actor: per-token log-probs of responses under the frozen starting
 * weights, for the KL term of the loss. Started only when the recipe's `trainer.kl.estimator`
 * is not `off` (the published recipes have no KL, so none is started there).
 * Covers: the actor surface over the engine's `score`. Not: the KL itself (the learner's loss).
 */
import type { DeviceMemory, ModelEngine } from "../model/engine.ts";
import { OrtEngine } from "../model/ort/engine.ts";
import { readConfig } from "../model/config.ts";
import { assignedDevice, defineActor } from "../runtime/index.ts";
import type { ReferencePort } from "./selfplay/ports.ts";

export interface ReferenceModelOptions {
  modelDir: string;
  engine: "ort" | "torch";
  /** torch engine; default "cuda" when the node agent gave this actor GPUs (AZR_GPUS), else "cpu". */
  device?: string;
  /** torch engine: the recipe's model.dtype (parameters on CUDA; CPU is fp32). Default bf16. */
  dtype?: "fp32" | "bf16";
  threads?: number;
}

export class ReferenceModel implements ReferencePort {
  private readonly ready: Promise<ModelEngine>;
  /** The engine once started, for the synchronous deviceMemory() hook. */
  private started: ModelEngine | undefined;

  constructor(opts: ReferenceModelOptions) {
    // ORT: a RoPE table for every position the model has, not the ORT default's 8,192: prompt +
    // response run to the recipe's data.maxPromptTokens + data.maxResponseTokens, as in the learner
    this.ready = opts.engine === "ort"
      ? Promise.resolve().then(() => OrtEngine.fromPretrained(opts.modelDir, { threads: opts.threads, maxPositions: readConfig(opts.modelDir).maxPositionEmbeddings }))
      : import("../model/torch/engine.ts").then((m) => {
        const device = opts.device ?? assignedDevice();
        return m.createTorchEngine({ modelDir: opts.modelDir, device, dtype: m.torchPrecision(opts.dtype, device, "inference").dtype });
      });
    this.ready.then((e) => (this.started = e), () => {}); // a failure is surfaced by the first call
  }

  /** Runtime hook (not a remote method): GPU memory of a torch engine on CUDA, for the actor's stats. */
  deviceMemory(): DeviceMemory | undefined {
    return this.started?.deviceMemory?.();
  }

  async score(prompts: number[][], responses: number[][]): Promise<Float32Array[]> {
    return (await this.ready).score({ prompts, responses });
  }

  async close(): Promise<void> {
    await (await this.ready).dispose();
  }
}
defineActor(import.meta.url, ReferenceModel);
