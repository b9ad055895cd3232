/**
 * Pretraining the tiny base model with the torch engine (`azr base-model --engine torch`): the corpus
 * is exported as token files, `model/torch/azr_torch/pretrain.py` trains (on a GPU when there is one,
 * else on the CPU) and writes the model, and the tokenizer and held-out files are added beside it.
 * The objective, the architecture and the files are the ORT loop's (pretrain.ts); the scale is a
 * GPU's: ~10^5 tokens a step instead of 8,192.
 *
 * Covers: the files around the Python run, its progress lines, its errors. Not: the training loop
 * (pretrain.py).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig, toHfConfig } from "../../model/config.ts";
import { findPython } from "../../model/python.ts";
import { PYTHON_PACKAGE_ROOT } from "../../model/torch/worker-client.ts";
import { exportTokenFiles, type TokenFilesMeta } from "./export-tokens.ts";
import { exportCorpusFiles, TINY_ARCH } from "./pretrain.ts";
import { signalExitCode } from "../../runtime/exit-status.ts";

export interface TorchPretrainOptions {
  corpusDir: string;
  outDir: string;
  workDir: string;
  /** The schedule's length in optimiser steps; or `seconds`: as many as fit (printed, so a rerun can fix them). */
  steps?: number;
  seconds?: number;
  batchTokens: number;
  lr: number;
  warmupSteps: number;
  seed: number;
  /** `cuda`, `cpu`, `cuda:1`…; default: cuda when torch sees one. */
  device?: string;
  maxSeqTokens: number;
  resume: boolean;
  /** Architecture overrides of the tiny config (tests use a smaller one). */
  arch?: Record<string, unknown>;
  log: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

export interface TorchPretrainResult {
  steps: number;
  loss: number;
  validationLoss: number;
  /** Stopped by this signal after checkpointing the step in flight (the rest is NaN): --resume continues. */
  interrupted?: NodeJS.Signals;
}

/** Token files of the corpus, exported again when the corpus is newer than them or they cut at another length. */
function tokenFiles(o: TorchPretrainOptions): { dir: string; meta: TokenFilesMeta } {
  const dir = join(o.workDir, "tokens");
  const metaFile = join(dir, "tokens.json");
  const corpusFile = join(o.corpusDir, "corpus.jsonl");
  if (!existsSync(corpusFile)) throw new Error(`${corpusFile} is missing: run make-corpus first (make base-model does both)`);
  const kept = existsSync(metaFile) && statSync(metaFile).mtimeMs >= statSync(corpusFile).mtimeMs ? (JSON.parse(readFileSync(metaFile, "utf8")) as TokenFilesMeta) : undefined;
  return { dir, meta: kept?.maxSeqTokens === o.maxSeqTokens ? kept : exportTokenFiles(o.corpusDir, dir, o.maxSeqTokens, o.log) };
}

export async function pretrainTorch(o: TorchPretrainOptions): Promise<TorchPretrainResult> {
  if ((o.steps ?? 0) > 0 === (o.seconds ?? 0) > 0 && !o.resume) throw new Error("torch pretraining needs exactly one of steps (--max-steps) or seconds (--max-minutes)");
  mkdirSync(o.workDir, { recursive: true });
  const { dir: tokensDir, meta } = tokenFiles(o);
  const configFile = join(o.workDir, "config.json");
  const config = parseConfig({ ...TINY_ARCH, ...o.arch, vocab_size: meta.vocab, eos_token_id: meta.eos }, "the tiny architecture");
  writeFileSync(configFile, JSON.stringify(toHfConfig(config), null, 2) + "\n"); // the ORT loop's config.json, key for key
  const args = ["-m", "azr_torch.pretrain", "--tokens", tokensDir, "--config", configFile, "--out", o.outDir, "--work-dir", o.workDir,
    "--batch-tokens", String(o.batchTokens), "--lr", String(o.lr), "--warmup", String(o.warmupSteps), "--seed", String(o.seed)];
  if (o.steps) args.push("--steps", String(o.steps));
  if (o.seconds) args.push("--seconds", String(o.seconds));
  if (o.device) args.push("--device", o.device);
  if (o.resume) args.push("--resume");
  const python = findPython(o.env ?? process.env);
  const interrupted = await runPython(python.path, args, o);
  if (interrupted) return { steps: NaN, loss: NaN, validationLoss: NaN, interrupted }; // checkpointed, not finished
  exportCorpusFiles(o.corpusDir, o.outDir);
  const summaryFile = join(o.outDir, "pretraining.json");
  const summary = JSON.parse(readFileSync(summaryFile, "utf8")) as { step: number; loss: number; validationLoss: number };
  writeFileSync(summaryFile, JSON.stringify({ ...summary, engine: "torch", corpus: { dir: o.corpusDir, examples: meta.examples, tokens: meta.tokens } }, null, 2) + "\n");
  return { steps: summary.step, loss: summary.loss, validationLoss: summary.validationLoss };
}

/**
 * Runs the script, passing its progress lines on; a failure names the fix where there is one.
 * SIGINT / SIGTERM to this process are passed to the script, which checkpoints and exits 128 + the
 * signal's number: that resolves with the signal's name.
 */
function runPython(python: string, args: string[], o: TorchPretrainOptions): Promise<NodeJS.Signals | undefined> {
  const env = { ...(o.env ?? process.env), PYTHONUNBUFFERED: "1", PYTHONPATH: [PYTHON_PACKAGE_ROOT, (o.env ?? process.env).PYTHONPATH].filter(Boolean).join(":") };
  const child = spawn(python, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  let pending = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) o.log(line);
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => { stderr = (stderr + chunk).slice(-16_384); });
  const forward = (sig: NodeJS.Signals) => { child.kill(sig); };
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  return new Promise<NodeJS.Signals | undefined>((resolve, reject) => {
    child.on("error", (e) => reject(new Error(`could not start ${python} for torch pretraining (${e.message}): set AZR_PYTHON to a Python 3 with torch and numpy`)));
    child.on("close", (code, signal) => {
      if (pending) o.log(pending);
      if (code === 0) return resolve(undefined);
      const stoppedBy = (["SIGINT", "SIGTERM"] as const).find((s) => code === signalExitCode(s));
      if (stoppedBy) return resolve(stoppedBy);
      if (/No module named '(torch|numpy)'/.test(stderr))
        return reject(new Error(`${python} has no ${/'torch'/.test(stderr) ? "torch" : "numpy"}: install python3-torch and python3-numpy (Debian), or set AZR_PYTHON to a Python that has them`));
      reject(new Error(`torch pretraining failed (${signal ? `signal ${signal}` : `exit ${code}`}); the checkpoint in ${o.workDir} is kept for --resume. stderr:\n${stderr.trim()}`));
    });
  }).finally(() => {
    process.off("SIGINT", forward);
    process.off("SIGTERM", forward);
  });
}
