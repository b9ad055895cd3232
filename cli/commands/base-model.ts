/** `azr base-model`: pretrain the tiny base model on a make-corpus folder (resumable); `make base-model` runs both. */
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { CommandModule } from "yargs";
import { pretrain, PretrainCheckpointError, signalExitCode } from "../../actors/base-model/pretrain.ts";
import { pretrainTorch } from "../../actors/base-model/pretrain-torch.ts";
import { RecipeSetupError, reportSetupErrors } from "./recipe-setup.ts";

interface Args {
  engine: "ort" | "torch";
  device?: string;
  corpus: string;
  out: string;
  workDir: string;
  batchTokens?: number;
  microBatch: number;
  lr: number;
  warmup?: number;
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

/** The files pretraining reads from a make-corpus folder, checked before anything starts (both engines read both). */
function checkCorpus(dir: string): void {
  const missing = ["corpus.jsonl", "tokenizer.json"].filter((f) => !existsSync(join(dir, f)));
  if (missing.length) {
    throw new RecipeSetupError(`--corpus ${dir}: ${missing.join(" and ")} missing; write a corpus with actors/base-model/make-corpus.ts (\`make base-model\` does both steps) or pass --corpus <its --out folder>`);
  }
}

export const baseModelCommand: CommandModule<object, Args> = {
  command: "base-model",
  describe: "pretrain the tiny base model (next-token cross-entropy, answers weighted) on a make-corpus folder",
  builder: (y) =>
    y
      .option("engine", { choices: ["ort", "torch"] as const, default: "ort" as const, describe: "ort: onnxruntime on the CPU; torch: PyTorch, on a GPU when there is one (azr_torch/pretrain.py)" })
      .option("device", { type: "string", describe: "torch engine: cuda, cuda:N or cpu (default: cuda when torch sees one)" })
      .option("corpus", { type: "string", default: "runs/base-model/corpus", describe: "folder written by actors/base-model/make-corpus.ts" })
      .option("out", { type: "string", default: "data/tiny", describe: "where the finished model goes" })
      .option("work-dir", { type: "string", default: "runs/base-model/train", describe: "checkpoints and progress (for --resume)" })
      .option("batch-tokens", { type: "number", describe: "tokens per optimiser step (default: 8192 with ort, 131072 padded with torch)" })
      .option("micro-batch", { type: "number", default: 16, describe: "sequences per micro-batch (gradient accumulation over the rest)" })
      .option("lr", { type: "number", default: 3e-3, describe: "peak learning rate (cosine decay to 10%)" })
      .option("warmup", { type: "number", describe: "warm-up steps (default: 100 with ort, 200 with torch)" })
      .option("epochs", { type: "number", default: 1, describe: "ort: passes over the corpus" })
      .option("max-steps", { type: "number", default: 0, describe: "ort: stop after N steps (0 = all epochs); torch: the schedule's length" })
      .option("max-minutes", { type: "number", default: 0, describe: "ort: stop after this much training time, checkpointed (0 = no limit); torch: as many steps as fit (measured over the warm-up)" })
      .option("save-every", { type: "number", default: 50, describe: "checkpoint every N steps" })
      .option("seed", { type: "number", default: 1, describe: "initialisation seed" })
      .option("threads", { type: "number", describe: "onnxruntime threads (default: all cores)" })
      .option("anneal-from", { type: "number", describe: "from this step the rate falls linearly to its minimum at --anneal-to, where training stops" })
      .option("anneal-to", { type: "number", describe: "the step where the anneal ends and training stops (needs --anneal-from)" })
      .option("resume", { type: "boolean", default: false, describe: "continue from the work dir's checkpoint" }) as never,
  // Wrong options and a missing corpus are the user's to fix: one line and exit code 2, no help screen and stack trace.
  handler: (a) =>
    reportSetupErrors("base-model", async () => {
      checkCorpus(a.corpus);
      if (a.engine === "torch") {
        if (a.annealFrom !== undefined || a.annealTo !== undefined || a.epochs !== 1) throw new RecipeSetupError("--anneal-from/--anneal-to/--epochs are options of --engine ort; with --engine torch give --max-steps N (the schedule) or --max-minutes M");
        if ((a.maxSteps > 0) === (a.maxMinutes > 0) && !a.resume) throw new RecipeSetupError("--engine torch needs --max-steps N (the schedule's length) or --max-minutes M (as many steps as fit), not both");
        const done = await pretrainTorch({
          corpusDir: a.corpus, outDir: a.out, workDir: a.workDir, steps: a.maxSteps || undefined, seconds: a.maxMinutes * 60 || undefined,
          batchTokens: a.batchTokens ?? 131_072, lr: a.lr, warmupSteps: a.warmup ?? 200, seed: a.seed, device: a.device, maxSeqTokens: 1024,
          resume: a.resume, log: (s) => console.log(s),
        });
        if (done.interrupted) process.exitCode = signalExitCode(done.interrupted); // checkpoint saved, model not exported
        return;
      }
      if ((a.annealFrom === undefined) !== (a.annealTo === undefined)) throw new RecipeSetupError("--anneal-from and --anneal-to go together: give both, e.g. --anneal-from 1000 --anneal-to 1200");
      const anneal = a.annealFrom !== undefined && a.annealTo !== undefined ? { from: a.annealFrom, to: a.annealTo } : undefined;
      const done = await pretrain({ anneal,
        corpusDir: a.corpus, outDir: a.out, workDir: a.workDir, batchTokens: a.batchTokens ?? 8192, microBatch: a.microBatch, lr: a.lr,
        warmupSteps: a.warmup ?? 100, epochs: a.epochs, maxSteps: a.maxSteps, maxSeconds: a.maxMinutes * 60, saveEvery: a.saveEvery,
        maxSeqTokens: 1024, seed: a.seed, threads: a.threads ?? availableParallelism(), resume: a.resume, log: (s) => console.log(s),
      }).catch((e: unknown) => {
        // A damaged checkpoint is the user's to clear: one line naming it, like a missing corpus.
        throw e instanceof PretrainCheckpointError ? new RecipeSetupError(e.message) : e;
      });
      if (done.interrupted) process.exitCode = signalExitCode(done.interrupted); // stopped by a signal, checkpoint saved: not a finished model
    }),
};
