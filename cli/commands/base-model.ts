/** `azr base-model`: pretrain the tiny base model on a make-corpus folder (resumable); `make base-model` runs both. */
import { existsSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { CommandModule } from "yargs";
import { checkInitTokenizer, pretrain, PretrainCheckpointError } from "../../actors/base-model/pretrain.ts";
import { signalExitCode } from "../../runtime/exit-status.ts";
import { pretrainTorch } from "../../actors/base-model/pretrain-torch.ts";
import { ArchError, archDifferences, parseArchOverrides, type ArchOverrides } from "../../actors/base-model/arch.ts";
import { TINY_ARCH } from "../../actors/base-model/pretrain.ts";
import { RecipeSetupError, reportSetupErrors } from "./recipe-setup.ts";

interface Args {
  engine: "ort" | "torch";
  init?: string;
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
  restart: boolean;
  annealFrom?: number;
  annealTo?: number;
  arch: string[];
}

/** The files pretraining reads from a make-corpus folder, checked before anything starts (both engines read both). */
function checkCorpus(dir: string): void {
  const missing = ["corpus.jsonl", "tokenizer.json"].filter((f) => !existsSync(join(dir, f)));
  if (missing.length) {
    throw new RecipeSetupError(`--corpus ${dir}: ${missing.join(" and ")} missing; write a corpus with actors/base-model/make-corpus.ts (\`make base-model\` does both steps) or pass --corpus <its --out folder>`);
  }
}

/**
 * The numbers yargs passes through unchecked (it turns "abc" into NaN): refused here, before the
 * corpus is read, because the trainer found them only after tokenising (a stack trace), and some
 * (--batch-tokens -5, --epochs abc, --max-steps 1.5) trained a model that was not what was asked.
 */
function checkNumbers(a: Args): void {
  const whole = (flag: string, v: number | undefined, min: number) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= min)) throw new RecipeSetupError(`--${flag} ${v}: give a whole number ≥ ${min}`);
  };
  whole("micro-batch", a.microBatch, 1);
  whole("batch-tokens", a.batchTokens, 1);
  whole("warmup", a.warmup, 0);
  whole("epochs", a.epochs, 1);
  whole("max-steps", a.maxSteps, 0);
  whole("save-every", a.saveEvery, 1);
  whole("seed", a.seed, 0);
  whole("threads", a.threads, 1);
  whole("anneal-from", a.annealFrom, 0);
  whole("anneal-to", a.annealTo, 1);
  if (!(Number.isFinite(a.lr) && a.lr > 0)) throw new RecipeSetupError(`--lr ${a.lr}: give a learning rate > 0, e.g. --lr 3e-3`);
  if (!(Number.isFinite(a.maxMinutes) && a.maxMinutes >= 0)) throw new RecipeSetupError(`--max-minutes ${a.maxMinutes}: give a number of minutes ≥ 0 (0 = no limit)`);
  if (a.device !== undefined && !/^(cpu|cuda(:\d+)?)$/.test(a.device)) throw new RecipeSetupError(`--device ${a.device}: use cuda, cuda:N or cpu`);
}

/**
 * --out and --work-dir must be folders, or creatable as folders: a file there made the run fail
 * with EEXIST/ENOTDIR — for --out only after the whole training, whose model was then lost.
 */
function checkFolder(flag: string, dir: string): void {
  for (let p = resolve(dir); ; p = dirname(p)) {
    if (existsSync(p)) {
      if (!statSync(p).isDirectory()) throw new RecipeSetupError(`--${flag} ${dir}: ${p} is a file, not a folder; give a folder path`);
      return;
    }
    if (dirname(p) === p) return;
  }
}

/**
 * The checkpoint each engine resumes from, under its work dir: the ORT trainer's folder is
 * complete once its `complete` marker is written (actors/base-model/pretrain.ts), torch's is one
 * file (azr_torch/pretrain.py).
 */
const CHECKPOINT: Record<Args["engine"], { marker: string; shown: string; config: string }> = {
  ort: { marker: join("checkpoint", "complete"), shown: "checkpoint", config: join("checkpoint", "config.json") },
  torch: { marker: "checkpoint.pt", shown: "checkpoint.pt", config: "config.json" },
};

/** The checkpoint `engine` itself resumes from in `workDir` (the other engine's is not one), as the path to name. */
function resumableCheckpoint(engine: Args["engine"], workDir: string): string | undefined {
  const c = CHECKPOINT[engine];
  return existsSync(join(workDir, c.marker)) ? join(workDir, c.shown) : undefined;
}

/** Either engine's checkpoint in `workDir`: what a start without --resume would overwrite. */
const existingCheckpoint = (workDir: string) => resumableCheckpoint("ort", workDir) ?? resumableCheckpoint("torch", workDir);

/**
 * --arch, parsed; and a resumed pretraining keeps its checkpoint's shape: another one failed inside
 * the trainer with tensor shape errors (torch) or silently kept the old shape (ort).
 */
function checkArch(a: Args, resuming: boolean): ArchOverrides {
  let arch: ArchOverrides;
  try {
    arch = parseArchOverrides(a.arch);
  } catch (e) {
    throw e instanceof ArchError ? new RecipeSetupError(e.message) : e;
  }
  if (resuming) {
    const differs = archDifferences(join(a.workDir, CHECKPOINT[a.engine].config), { ...TINY_ARCH, ...arch });
    if (differs.length) throw new RecipeSetupError(`--resume: the checkpoint in ${a.workDir} has another shape: ${differs.join(", ")}; resume with the --arch it was started with, or start over with --restart or another --work-dir`);
  }
  return arch;
}

/**
 * A run without --resume started over and replaced the work dir's checkpoint at its first save:
 * hours of training lost to a forgotten flag. Starting over on a checkpoint takes --restart.
 */
function checkStartOver(a: Args): void {
  if (a.resume && a.restart) throw new RecipeSetupError("--resume and --restart contradict each other: --resume continues the work dir's checkpoint, --restart starts over and replaces it");
  const ckpt = a.resume || a.restart ? undefined : existingCheckpoint(a.workDir);
  if (ckpt) throw new RecipeSetupError(`--work-dir ${a.workDir} already holds a checkpoint (${ckpt}): continue it with --resume, or start over with --restart (replaces it) or a new or emptied --work-dir`);
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
      .option("resume", { type: "boolean", default: false, describe: "continue from the work dir's checkpoint" })
      .option("arch", { type: "string", array: true, default: [] as string[], describe: "change the tiny architecture's shape: key=value for hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim (e.g. --arch hidden_size=256,intermediate_size=768); a resume needs the same" })
      .option("init", { type: "string", describe: "ort: start from this model's weights (continued pretraining) instead of random ones; the corpus must use its tokenizer (make-corpus --tokenizer <model>/tokenizer.json)" })
      .option("restart", { type: "boolean", default: false, describe: "start over although the work dir holds a checkpoint (replaced at the first save); without it or --resume such a work dir is refused" }) as never,
  // Wrong options and a missing corpus are the user's to fix: one line and exit code 2, no help screen and stack trace.
  handler: (a) =>
    reportSetupErrors("base-model", async () => {
      checkNumbers(a);
      checkCorpus(a.corpus);
      checkFolder("out", a.out);
      checkFolder("work-dir", a.workDir);
      checkStartOver(a);
      // Both trainers take --resume without a checkpoint as "start from step 0" and said nothing:
      // a mistyped --work-dir looked like a resumed run. Said here, once, in the trainer's stream
      // (stdout), where its "resumed at step N" line would have been.
      const resuming = a.resume && resumableCheckpoint(a.engine, a.workDir) !== undefined;
      if (a.resume && !resuming) console.log(`azr base-model: --resume: no checkpoint in ${a.workDir}, starting a new pretraining`);
      const arch = checkArch(a, resuming);
      if (a.init !== undefined) {
        if (a.engine === "torch") throw new RecipeSetupError("--init works with --engine ort only (continued pretraining on the CPU); the torch pretrainer starts from random weights");
        if (a.arch.length) throw new RecipeSetupError("--init and --arch contradict each other: --init keeps the model's own shape");
        // the finished model is written over --out at the end: there it would replace the model it started from
        if (resolve(a.out) === resolve(a.init)) throw new RecipeSetupError(`--out ${a.out} is the --init model's folder: the continued model would replace the one it starts from; give another --out`);
        try {
          if (!resuming) checkInitTokenizer(a.init, a.corpus);
        } catch (e) {
          throw e instanceof PretrainCheckpointError ? new RecipeSetupError(e.message) : e;
        }
      }
      if (a.engine === "torch") {
        if (a.annealFrom !== undefined || a.annealTo !== undefined || a.epochs !== 1) throw new RecipeSetupError("--anneal-from/--anneal-to/--epochs are options of --engine ort; with --engine torch give --max-steps N (the schedule) or --max-minutes M");
        if ((a.maxSteps > 0) === (a.maxMinutes > 0) && !resuming) throw new RecipeSetupError("--engine torch needs --max-steps N (the schedule's length) or --max-minutes M (as many steps as fit), not both");
        const done = await pretrainTorch({
          corpusDir: a.corpus, outDir: a.out, workDir: a.workDir, steps: a.maxSteps || undefined, seconds: a.maxMinutes * 60 || undefined,
          batchTokens: a.batchTokens ?? 131_072, lr: a.lr, warmupSteps: a.warmup ?? 200, seed: a.seed, device: a.device, maxSeqTokens: 1024,
          resume: a.resume, arch, log: (s) => console.log(s),
        });
        if (done.interrupted) process.exitCode = signalExitCode(done.interrupted); // checkpoint saved, model not exported
        return;
      }
      if ((a.annealFrom === undefined) !== (a.annealTo === undefined)) throw new RecipeSetupError("--anneal-from and --anneal-to go together: give both, e.g. --anneal-from 1000 --anneal-to 1200");
      const warmup = a.warmup ?? 100;
      // Only a new run reads the schedule from these flags (a resumed one keeps its checkpoint's), so
      // only then can they be checked against each other; the trainer refused them with a stack trace.
      const fresh = !resuming;
      if (fresh && a.maxSteps > 0 && warmup >= a.maxSteps) throw new RecipeSetupError(`--warmup ${warmup} must be below --max-steps ${a.maxSteps}: lower --warmup (e.g. --warmup 0) or raise --max-steps`);
      if (a.annealFrom !== undefined && a.annealTo !== undefined) {
        if (a.annealFrom >= a.annealTo) throw new RecipeSetupError(`--anneal-from ${a.annealFrom} must be below --anneal-to ${a.annealTo}`);
        if (fresh && a.annealFrom < warmup) throw new RecipeSetupError(`--anneal-from ${a.annealFrom} falls inside the warm-up (${warmup} steps): start the anneal after it, or lower --warmup`);
        // Training stops at --max-steps first: the anneal would be silently skipped.
        if (a.maxSteps > 0 && a.annealTo > a.maxSteps) throw new RecipeSetupError(`--anneal-to ${a.annealTo} is past --max-steps ${a.maxSteps}, so the anneal would never finish: raise --max-steps or leave it out (the anneal stops training)`);
      }
      const anneal = a.annealFrom !== undefined && a.annealTo !== undefined ? { from: a.annealFrom, to: a.annealTo } : undefined;
      const done = await pretrain({ anneal,
        corpusDir: a.corpus, outDir: a.out, workDir: a.workDir, batchTokens: a.batchTokens ?? 8192, microBatch: a.microBatch, lr: a.lr,
        warmupSteps: a.warmup ?? 100, epochs: a.epochs, maxSteps: a.maxSteps, maxSeconds: a.maxMinutes * 60, saveEvery: a.saveEvery,
        maxSeqTokens: 1024, seed: a.seed, threads: a.threads ?? availableParallelism(), resume: a.resume, arch, init: a.init, log: (s) => console.log(s),
      }).catch((e: unknown) => {
        // A damaged checkpoint is the user's to clear: one line naming it, like a missing corpus.
        throw e instanceof PretrainCheckpointError ? new RecipeSetupError(e.message) : e;
      });
      if (done.interrupted) process.exitCode = signalExitCode(done.interrupted); // stopped by a signal, checkpoint saved: not a finished model
    }),
};
