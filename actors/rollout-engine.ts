/**
 * The `rollout-engine` actor: the model engine's generate behind a batch, streaming API that
 * takes prompts as text (or chat messages) and returns the token ids the learner trains on.
 * Takes a new weight version from the learner without a restart: by handle (`loadWeights`, the
 * file or object the learner published, actors/weight-sync) or as tensors (`setWeights`). A LoRA
 * learner's versions hold only its adapters: merged into the model this engine started with, never
 * into the previous version.
 *
 * Covers: tokenising prompts (plain R1 text, or the tokenizer's chat template plus the
 * `<think>` prefill), the prompt-length limit, streaming generations back as they finish.
 * Not: sampling itself (model/), which prompts to build (azr/), rewards (the driver).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Prompt } from "../azr/prompts.ts";
import type { DeviceMemory, ModelEngine } from "../model/engine.ts";
import type { TorchEngine } from "../model/torch/engine.ts";

/** What the rollout engine asks of a torch engine, one worker or a tensor-parallel group alike. */
type TorchWeightSink = Pick<TorchEngine, "loadWeightsFile" | "applyAdaptersFile" | "applyAdapters">;
import { OrtEngine } from "../model/ort/engine.ts";
import { loadWeights } from "../model/checkpoint.ts";
import { readConfig } from "../model/config.ts";
import { TextTokenizer } from "../model/tokenizer.ts";
import { assignedDevice, assignedGpus, defineActor, callContext } from "../runtime/index.ts";
import { hostIdentity, WeightLoader, type LoraInfo, type WeightHandle, type WeightSink, type WeightSyncOptions } from "./weight-sync/index.ts";
import { readWeightsFile } from "./weight-sync/safetensors-file.ts";
import { AdapterMerger } from "./weight-sync/lora.ts";
import { WEIGHTS_VERSION_MISMATCH, type RolloutOptions, type RolloutPort, type RolloutSample } from "./selfplay/ports.ts";

/** The reasoning tags the prompts spell; `thinkTokensAsText` encodes them as plain text. */
const THINK_TAGS = ["<think>", "</think>"];

export interface RolloutEngineOptions {
  /** Hugging Face layout folder: config.json, model.safetensors[.index.json], tokenizer.json. */
  modelDir: string;
  engine: "ort" | "torch";
  /** torch engine; default "cuda" when the node agent gave this actor GPUs (AZR_GPUS), else "cpu". */
  device?: string;
  /** torch engine: the recipe's model.dtype (parameters on CUDA; CPU is fp32). Default bf16. */
  dtype?: "fp32" | "bf16";
  /** The recipe's model.thinkTokensAsText: prompts spell `<think>`/`</think>` through the BPE, not as their added-token ids. */
  thinkTokensAsText?: boolean;
  /** Prompts longer than this (in tokens) are not generated (spec §4.3: r̄ = 0 / re-draw). */
  maxPromptTokens: number;
  /** onnxruntime intra-op threads. */
  threads?: number;
  /** Sequences decoded together at most. */
  maxBatch?: number;
  /**
   * torch engine: ranks this one engine spans (the recipe's resources.rolloutTensorParallel; default
   * 1). On CUDA the first N of the actor's GPUs (AZR_GPUS), one NCCL rank each; on CPU N gloo ranks.
   */
  tensorParallel?: number;
  /** Run id and NATS servers for loading weight versions by handle (actors/weight-sync). */
  weightSync?: WeightSyncOptions;
}

/** The caller's AbortSignal when served as an actor; none when used in-process. */
function callerSignal(): AbortSignal | undefined {
  try {
    return callContext().signal;
  } catch {
    return undefined;
  }
}

export class RolloutEngineError extends Error {
  override name = "RolloutEngineError";
}

/** The caller expects weights this engine does not hold (it restarted since): push them again, then retry. */
export class WeightsVersionError extends Error {
  override name = WEIGHTS_VERSION_MISMATCH;
}

/** Prompts whose token ids a rollout engine keeps (a tiny step sends ~150 distinct; a 7B recipe's B = 64 ~600). */
const ENCODED_PROMPTS_KEPT = 4096;

export class RolloutEngine implements RolloutPort {
  private readonly ready: Promise<{ engine: ModelEngine; tokenizer: TextTokenizer }>;
  private weightsVersion = 0;
  private generated = 0;
  /** The weight versions loaded by handle, in order (stats(): a pool's replicas each show every version). */
  private readonly loaded: number[] = [];
  private readonly loader: WeightLoader;
  /** ORT engine: the base a LoRA learner's adapter versions merge into (the torch worker keeps its own). */
  private readonly merger: AdapterMerger;
  /** The engine once started, for the synchronous deviceMemory() hook. */
  private started: ModelEngine | undefined;

  constructor(private readonly opts: RolloutEngineOptions) {
    this.loader = new WeightLoader({ ...opts.weightSync, log: (s) => console.log(s) });
    this.merger = new AdapterMerger(() => loadWeights(opts.modelDir, readConfig(opts.modelDir)));
    this.ready = this.start();
    this.ready.then(({ engine }) => (this.started = engine), () => {}); // a failure is surfaced by the first call, not as an unhandled rejection
  }

  /** Runtime hook (not a remote method): GPU memory of a torch engine on CUDA, for the actor's stats. */
  deviceMemory(): DeviceMemory | undefined {
    return this.started?.deviceMemory?.();
  }

  private async start(): Promise<{ engine: ModelEngine; tokenizer: TextTokenizer }> {
    const { modelDir } = this.opts;
    if (!existsSync(join(modelDir, "config.json"))) {
      throw new RolloutEngineError(`no model at ${modelDir} (config.json missing): for the tiny recipe run \`make base-model\`, else point model.path at a Hugging Face folder`);
    }
    const tokenizer = TextTokenizer.fromDir(modelDir, this.opts.thinkTokensAsText ? { textTokens: THINK_TAGS } : {});
    if (this.opts.engine !== "ort") {
      const { createTorchEngine, torchPrecision } = await import("../model/torch/engine.ts");
      const device = this.opts.device ?? assignedDevice();
      const { dtype } = torchPrecision(this.opts.dtype, device, "inference");
      const tp = this.opts.tensorParallel ?? 1;
      if (tp <= 1) return { engine: await createTorchEngine({ modelDir, device, dtype, maxBatch: this.opts.maxBatch }), tokenizer };
      const { createTorchRankGroup } = await import("../model/torch/ranks.ts");
      const gpus = assignedGpus();
      if (device.startsWith("cuda") && gpus.length < tp) {
        throw new RolloutEngineError(`tensor parallel ${tp} needs ${tp} GPUs, this rollout engine was given ${gpus.length} (AZR_GPUS=${gpus.join(",") || "none"}): set actors.rollout-engine.gpus to ${tp}`);
      }
      const layout = device.startsWith("cuda") ? { gpus: gpus.slice(0, tp) } : { worldSize: tp, device };
      return { engine: await createTorchRankGroup({ modelDir, dtype, maxBatch: this.opts.maxBatch, tensorParallel: true, ...layout }), tokenizer };
    }
    // A RoPE table for every position the model has: the ORT default stops at 8,192, which refused a
    // 320-token prompt with the recipe's 8,096 response tokens (the learner is started with 14,240)
    const maxPositions = readConfig(modelDir).maxPositionEmbeddings;
    const engine = await OrtEngine.fromPretrained(modelDir, { threads: this.opts.threads, maxBatch: this.opts.maxBatch, maxPositions });
    return { engine, tokenizer };
  }

  /**
   * Token ids of recent prompts. The driver counts a phase's prompts (countTokens) right before it
   * generates them, and the learnability phase sends each task's prompt n times: encoding each
   * prompt once saves most of the ~0.2 s a tiny self-play step spent in the tokenizer. Bounded;
   * the oldest entries go first. The ids arrays are shared: nothing here or in the engine writes them.
   */
  private readonly encoded = new Map<string, number[]>();

  private encode(tokenizer: TextTokenizer, p: Prompt): number[] {
    const key = p.kind === "text" ? `t${p.text}` : `c${JSON.stringify(p.messages)}\u0000${p.assistantPrefill}`;
    let ids = this.encoded.get(key);
    if (ids) return ids;
    if (p.kind === "text") ids = tokenizer.encode(p.text);
    else ids = tokenizer.encode(tokenizer.applyChatTemplate(p.messages, { addGenerationPrompt: true }) + p.assistantPrefill);
    if (this.encoded.size >= ENCODED_PROMPTS_KEPT) this.encoded.delete(this.encoded.keys().next().value!);
    this.encoded.set(key, ids);
    return ids;
  }

  async countTokens(prompts: Prompt[]): Promise<number[]> {
    const { tokenizer } = await this.ready;
    return prompts.map((p) => this.encode(tokenizer, p).length);
  }

  /** Generations in completion order; each carries its prompt's index. */
  async *generate(prompts: Prompt[], options: RolloutOptions): AsyncGenerator<RolloutSample> {
    const { engine, tokenizer } = await this.ready;
    if (options.weightsVersion !== undefined && options.weightsVersion !== this.weightsVersion) {
      throw new WeightsVersionError(`rollout-engine holds weights version ${this.weightsVersion}, the caller expects ${options.weightsVersion}: setWeights first`);
    }
    // Tagged at the start: a setWeights during this stream applies to later calls' samples, not these.
    const weightsVersion = this.weightsVersion;
    const encoded = prompts.map((p) => this.encode(tokenizer, p));
    const runnable: number[] = [];
    for (const [i, ids] of encoded.entries()) {
      if (ids.length > this.opts.maxPromptTokens) {
        yield { index: i, promptTokens: ids, tokens: [], text: "", finishReason: "length", promptTooLong: true, weightsVersion };
      } else runnable.push(i);
    }
    if (runnable.length === 0) return;
    const signal = callerSignal();
    const stream = engine.generate(
      {
        prompts: runnable.map((i) => encoded[i]),
        maxNewTokens: options.maxNewTokens,
        temperature: options.temperature,
        topP: options.topP,
        seed: options.seed,
        firstIndex: options.firstIndex,
      },
      signal,
    );
    for await (const g of stream) {
      const index = runnable[g.index];
      this.generated++;
      yield { index, promptTokens: encoded[index], tokens: g.tokens, text: g.text, finishReason: g.finishReason, promptTooLong: false, logprobs: g.logprobs, weightsVersion };
    }
  }

  /** A new weight version from the learner as full weights (Learner.weights(): LoRA merged by the learner). */
  async setWeights(weights: Map<string, Float32Array>, version: number): Promise<void> {
    const { engine } = await this.ready;
    await engine.setWeights(weights, version);
    this.merger.fullVersionInstalled(); // adapter versions still merge into the start model, not into these
    this.weightsVersion = version;
  }

  /** Installs the weight version a learner published (actors/weight-sync); returns the load time. */
  async loadWeights(handle: WeightHandle): Promise<{ version: number; loadMs: number }> {
    const { engine } = await this.ready;
    const torch = engine.backend === "torch" ? (engine as unknown as TorchWeightSink) : undefined; // a TorchEngine or a TorchRankGroup
    // The torch worker reads files and merges adapters itself; the ORT engine's weights live in this process.
    const ortAdapters = async (adapters: Map<string, Float32Array>, lora: LoraInfo, version: number) =>
      engine.setWeights(await this.merger.merge(adapters, lora, () => engine.getWeights(), version), version);
    const sink: WeightSink = {
      loadFile: async (path, version) => {
        await (torch ? torch.loadWeightsFile(path, version) : engine.setWeights(readWeightsFile(path), version));
        this.merger.fullVersionInstalled(); // adapter versions still merge into the start model
      },
      setTensors: async (tensors, version) => {
        await engine.setWeights(tensors, version);
        this.merger.fullVersionInstalled();
      },
      loadAdaptersFile: (path, lora, version) => (torch ? torch.applyAdaptersFile(path, lora, version) : ortAdapters(readWeightsFile(path), lora, version)),
      setAdapters: (adapters, lora, version) => (torch ? torch.applyAdapters(adapters, lora, version) : ortAdapters(adapters, lora, version)),
    };
    const { loadMs } = await this.loader.load(handle, sink);
    this.weightsVersion = handle.version;
    this.loaded.push(handle.version);
    if (this.loaded.length > 1000) this.loaded.shift(); // a long run's stats stay small
    return { version: handle.version, loadMs };
  }

  /** This process's host identity: the learner publishes to shared memory when it is its own. */
  async hostId(): Promise<string> {
    return hostIdentity();
  }

  async stats(): Promise<{ weightsVersion: number; generated: number; loadedVersions: number[]; modelDir: string }> {
    return { weightsVersion: this.weightsVersion, generated: this.generated, loadedVersions: [...this.loaded], modelDir: this.opts.modelDir };
  }

  async close(): Promise<void> {
    // The engine (worker threads or processes, model memory) is released even if the loader's dispose fails.
    try {
      await this.loader.dispose();
    } finally {
      const { engine } = await this.ready;
      await engine.dispose();
    }
  }
}
defineActor(import.meta.url, RolloutEngine);
