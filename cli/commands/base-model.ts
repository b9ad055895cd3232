/** `azr base-model`: pretrain the tiny base model on a make-corpus folder (resumable); `make base-model` runs both. */
import { availableParallelism } from "node:os";
import type { CommandModule } from "yargs";
import { pretrain } from "../../actors/base-model/pretrain.ts";

interface Args {
  corpus: string;
  out: string;
  workDir: string;
  batchTokens: number;
  microBatch: number;
  lr: number;
  warmup: number;
  epochs: number;
  maxSteps: number;
  maxMinutes: number;
  saveEvery: number;
  seed: number;
  threads?: number;
  resume: boolean;
  annealFrom?: number;
  annealTo?: number;
}

export const baseModelCommand: CommandModule<object, Args> = {
  command: "base-model",
  describe: "pretrain the tiny base model (next-token cross-entropy, answers weighted) on a make-corpus folder",
  builder: (y) =>
    y
      .option("corpus", { type: "string", default: "runs/base-model/corpus", describe: "folder written by actors/base-model/make-corpus.ts" })
      .option("out", { type: "string", default: "data/tiny", describe: "where the finished model goes" })
      .option("work-dir", { type: "string", default: "runs/base-model/train", describe: "checkpoints and progress (for --resume)" })
      .option("batch-tokens", { type: "number", default: 8192, describe: "tokens per optimiser step" })
      .option("micro-batch", { type: "number", default: 16, describe: "sequences per micro-batch (gradient accumulation over the rest)" })
      .option("lr", { type: "number", default: 3e-3, describe: "peak learning rate (cosine decay to 10%)" })
      .option("warmup", { type: "number", default: 100, describe: "warm-up steps" })
      .option("epochs", { type: "number", default: 1, describe: "passes over the corpus" })
      .option("max-steps", { type: "number", default: 0, describe: "stop after N steps (0 = all epochs)" })
      .option("max-minutes", { type: "number", default: 0, describe: "stop after this much training time, checkpointed (0 = no limit)" })
      .option("save-every", { type: "number", default: 50, describe: "checkpoint every N steps" })
      .option("seed", { type: "number", default: 1, describe: "initialisation seed" })
      .option("threads", { type: "number", describe: "onnxruntime threads (default: all cores)" })
      .option("anneal-from", { type: "number", describe: "from this step the rate falls linearly to its minimum at --anneal-to, where training stops" })
      .option("anneal-to", { type: "number", describe: "the step where the anneal ends and training stops (needs --anneal-from)" })
      .option("resume", { type: "boolean", default: false, describe: "continue from the work dir's checkpoint" }) as never,
  handler: async (a) => {
    if ((a.annealFrom === undefined) !== (a.annealTo === undefined)) throw new Error("--anneal-from and --anneal-to go together: give both, e.g. --anneal-from 1000 --anneal-to 1200");
    const anneal = a.annealFrom !== undefined && a.annealTo !== undefined ? { from: a.annealFrom, to: a.annealTo } : undefined;
    await pretrain({ anneal,
      corpusDir: a.corpus, outDir: a.out, workDir: a.workDir, batchTokens: a.batchTokens, microBatch: a.microBatch, lr: a.lr,
      warmupSteps: a.warmup, epochs: a.epochs, maxSteps: a.maxSteps, maxSeconds: a.maxMinutes * 60, saveEvery: a.saveEvery,
      maxSeqTokens: 1024, seed: a.seed, threads: a.threads ?? availableParallelism(), resume: a.resume, log: (s) => console.log(s),
    });
  },
};
