/**
 * Pretraining the tiny base model: next-token cross-entropy over the corpus that make-corpus
 * wrote (answers weighted heavier, curriculum order kept), AdamW with warm-up and cosine decay,
 * a progress line (tokens/s, loss, ETA), a checkpoint every `saveEvery` steps that `--resume`
 * continues from, and the final model exported in Hugging Face layout beside the tokenizer.
 *
 * Covers: the loop, batching by token budget, the files. Not: the gradients or optimiser
 * (model/train), the corpus (make-corpus.ts).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { syncParent, syncTree } from "../../model/durable.ts";
import { join } from "node:path";
import type { CorpusExample } from "../../azr/corpus/format.ts";
import { CorpusEncoder, EOS_TOKEN } from "../../azr/corpus/tokenizer.ts";
import { tokenizeExample } from "../../azr/corpus/training-data.ts";
import { parseConfig } from "../../model/config.ts";
import { randomWeights } from "../../model/checkpoint.ts";
import { createOrtTrainer, type OrtTrainer } from "../../model/train/trainer.ts";
import { signalExitCode } from "../../runtime/exit-status.ts";

/** The tiny architecture: ≤ ~1–3 M parameters on CPU (issue: compute, not size, is the limit). */
export const TINY_ARCH = {
  architectures: ["Qwen2ForCausalLM"], hidden_size: 128, intermediate_size: 384, num_hidden_layers: 4,
  num_attention_heads: 4, num_key_value_heads: 2, rms_norm_eps: 1e-6, max_position_embeddings: 1536, rope_theta: 10000,
  tie_word_embeddings: true,
} as const;

export interface PretrainOptions {
  /** make-corpus output folder (corpus.jsonl, tokenizer.json, tokenizer_config.json). */
  corpusDir: string;
  /** Where the finished model goes (config.json, model.safetensors, tokenizer files). */
  outDir: string;
  /** Checkpoints and progress state. */
  workDir: string;
  /** Tokens per optimiser step (sequences are packed up to this budget). */
  batchTokens: number;
  microBatch: number;
  lr: number;
  warmupSteps: number;
  /** Passes over the corpus. */
  epochs: number;
  /** Stop after this many optimiser steps (0 = run all epochs). */
  maxSteps: number;
  /**
   * Finish early with an anneal: the cosine schedule until `from`, then a linear decay to the
   * minimum rate at `to`, where training stops. Recorded in the checkpoint, so a resume keeps it.
   */
  anneal?: { from: number; to: number };
  /** Stop after this many seconds, checkpointing first (0 = no limit). */
  maxSeconds: number;
  saveEvery: number;
  maxSeqTokens: number;
  seed: number;
  threads?: number;
  resume: boolean;
  /** Shape overrides of TINY_ARCH for a new model (actors/base-model/arch.ts); a resume keeps its checkpoint's. */
  arch?: Record<string, number>;
  /**
   * Start from this model's weights (a Hugging Face layout folder) instead of random ones: continued
   * pretraining. Its tokenizer must be the corpus's (make-corpus --tokenizer <model>/tokenizer.json).
   */
  init?: string;
  log: (line: string) => void;
}

/** The corpus was tokenized with another tokenizer than the --init model's: its ids would mean other text. */
export function checkInitTokenizer(init: string, corpusDir: string): void {
  const model = join(init, "tokenizer.json"), corpus = join(corpusDir, "tokenizer.json");
  if (!existsSync(join(init, "config.json"))) throw new PretrainCheckpointError(`--init ${init}: no config.json there: give a model folder (config.json, model.safetensors, tokenizer.json)`);
  if (!existsSync(model)) throw new PretrainCheckpointError(`--init ${init}: no tokenizer.json there, so the corpus's tokens cannot be checked against it`);
  // what decides ids: the vocabulary, the merges and the added tokens (not formatting or key order of the file)
  const vocabOf = (f: string) => {
    const t = JSON.parse(readFileSync(f, "utf8")) as { model?: { vocab?: unknown; merges?: unknown }; added_tokens?: { content: string; id: number }[] };
    return JSON.stringify([t.model?.vocab, t.model?.merges, (t.added_tokens ?? []).map((x) => [x.content, x.id])]);
  };
  if (vocabOf(model) !== vocabOf(corpus)) {
    throw new PretrainCheckpointError(`--init ${init}: its tokenizer is not the corpus's (${corpus}): build the corpus with make-corpus --tokenizer ${model}`);
  }
}

interface Example {
  ids: number[];
  weights: number[];
}

/** The corpus tokenized as trainers consume it (examples over `maxSeqTokens` dropped, counted). */
export function loadExamples(o: Pick<PretrainOptions, "corpusDir" | "maxSeqTokens" | "log">): { examples: Example[]; vocab: number; eos: number; dropped: number } {
  const tokFile = join(o.corpusDir, "tokenizer.json");
  const corpusFile = join(o.corpusDir, "corpus.jsonl");
  for (const f of [tokFile, corpusFile]) if (!existsSync(f)) throw new Error(`${f} is missing: run make-corpus first (make base-model does both)`);
  const tok = JSON.parse(readFileSync(tokFile, "utf8")) as Record<string, unknown>;
  const enc = new CorpusEncoder(tok);
  const vocab = Object.keys((tok.model as { vocab: Record<string, number> }).vocab).length + (tok.added_tokens as unknown[]).length;
  const eos = (tok.added_tokens as { content: string; id: number }[]).find((t) => t.content === EOS_TOKEN)!.id;
  const examples: Example[] = [];
  let dropped = 0;
  // Line by line from the bytes: a large corpus is more text than one JS string may hold (512 MiB).
  const bytes = readFileSync(corpusFile);
  for (let start = 0; start < bytes.length; ) {
    let end = bytes.indexOf(10, start);
    if (end < 0) end = bytes.length;
    const line = bytes.toString("utf8", start, end);
    start = end + 1;
    if (!line) continue;
    const t = tokenizeExample(JSON.parse(line) as CorpusExample, (s) => enc.encode(s), eos);
    if (t.ids.length > o.maxSeqTokens) { dropped++; continue; }
    examples.push(t);
  }
  o.log(`corpus: ${examples.length} examples, ${examples.reduce((a, e) => a + e.ids.length, 0)} tokens (${dropped} longer than ${o.maxSeqTokens} tokens dropped)`);
  return { examples, vocab, eos, dropped };
}

/** Consecutive examples packed into batches of at most `batchTokens` tokens (curriculum order kept). */
export function batchesOf(examples: readonly Example[], batchTokens: number): Example[][] {
  const out: Example[][] = [];
  let cur: Example[] = [];
  let tokens = 0;
  for (const e of examples) {
    if (tokens + e.ids.length > batchTokens && cur.length) { out.push(cur); cur = []; tokens = 0; }
    cur.push(e);
    tokens += e.ids.length;
  }
  if (cur.length) out.push(cur);
  return out;
}

interface Progress {
  step: number;
  tokens: number;
  seconds: number;
  /** The logged loss (an exponential moving average), so a resumed run reports what an unbroken one would. */
  ema?: number;
  /** The batches the steps index (step i trains batch i mod batches): another corpus or --batch-tokens would train other data. */
  batches?: number;
  batchTokens?: number;
}

/** A checkpoint that cannot be resumed: the user's to fix (start over or remove it), not a bug. */
export class PretrainCheckpointError extends Error {
  override name = "PretrainCheckpointError";
}

/**
 * The files that travel with the model: its tokenizer, and the held-out set with its trivial
 * baselines, so `azr eval --suite tiny` on the shipped model needs nothing from runs/.
 */
export function exportCorpusFiles(corpusDir: string, outDir: string): void {
  for (const f of ["tokenizer.json", "tokenizer_config.json", "heldout.jsonl", "heldout-programs.jsonl"]) {
    const from = join(corpusDir, f);
    if (!existsSync(from)) {
      if (f.startsWith("tokenizer")) throw new Error(`${from} is missing: the corpus folder must come from make-corpus`);
      continue; // a hand-made corpus (tests) may have no held-out set
    }
    if (from !== join(outDir, f)) copyFileSync(from, join(outDir, f));
  }
  if (!existsSync(join(corpusDir, "stats.json"))) return;
  const stats = JSON.parse(readFileSync(join(corpusDir, "stats.json"), "utf8")) as { baselines: unknown; heldOutTasks: unknown };
  writeFileSync(join(outDir, "heldout-baselines.json"), JSON.stringify({ heldOutTasks: stats.heldOutTasks, baselines: stats.baselines }, null, 2) + "\n");
}

/** The schedule a checkpoint was saved with: its anneal phase (a run resumed without --anneal-* keeps it), cosine horizon and step. */
function checkpointSchedule(ckpt: string): { anneal?: { from: number; to: number }; horizon: number; step: number } {
  const state = JSON.parse(readFileSync(join(ckpt, "trainer_state.json"), "utf8")) as { stepCount?: number; optim?: { decay?: { from: number; to: number } | null; totalSteps?: number } };
  return { anneal: state.optim?.decay ?? undefined, horizon: state.optim?.totalSteps ?? 0, step: state.stepCount ?? NaN };
}

/**
 * The progress saved inside the checkpoint (written before the checkpoint's atomic rename, so the
 * two always agree); checkpoints from before kept it beside them in the work dir.
 */
function checkpointProgress(ckpt: string, workDir: string, step: number): Progress {
  const inside = join(ckpt, "progress.json");
  const file = existsSync(inside) ? inside : join(workDir, "progress.json");
  const p = JSON.parse(readFileSync(file, "utf8")) as Progress;
  if (!Number.isInteger(p.step) || p.step !== step) throw new Error(`${file} says step ${p.step}, the trainer state step ${step}`);
  return p;
}

export async function pretrain(o: PretrainOptions): Promise<{ steps: number; loss: number; interrupted?: NodeJS.Signals }> {
  const { examples, vocab, eos } = loadExamples(o);
  const batches = batchesOf(examples, o.batchTokens);
  const total = o.maxSteps > 0 ? Math.min(o.maxSteps, batches.length * o.epochs) : batches.length * o.epochs;
  mkdirSync(o.workDir, { recursive: true });
  const ckpt = join(o.workDir, "checkpoint");
  let progress: Progress = { step: 0, tokens: 0, seconds: 0 };
  let trainer: OrtTrainer;
  let anneal = o.anneal;
  if (o.resume && existsSync(join(ckpt, "complete"))) {
    // More epochs than the checkpoint was started with move the cosine's horizon to the new end
    // (the rate rises back to the new curve's value at this step, a re-warm).
    let horizon: number;
    try {
      const saved = checkpointSchedule(ckpt);
      horizon = saved.horizon;
      progress = checkpointProgress(ckpt, o.workDir, saved.step);
      trainer = await createOrtTrainer({ checkpointDir: ckpt, decay: anneal, totalSteps: total > horizon ? total : undefined }, { threads: o.threads, maxPositions: o.maxSeqTokens });
      anneal ??= saved.anneal;
    } catch (e) {
      throw new PretrainCheckpointError(`the checkpoint in ${ckpt} is damaged and cannot be resumed (${(e as Error).message.split("\n")[0]}): remove ${ckpt}, or start over with --restart instead of --resume`);
    }
    if ((progress.batchTokens !== undefined && progress.batchTokens !== o.batchTokens) || (progress.batches !== undefined && progress.batches !== batches.length)) {
      await trainer.dispose();
      throw new PretrainCheckpointError(`the checkpoint in ${ckpt} was trained on ${progress.batches} batches of ≤ ${progress.batchTokens} tokens, this corpus and --batch-tokens ${o.batchTokens} make ${batches.length}: resume with the same corpus and --batch-tokens, or use another --work-dir`);
    }
    o.log(`resumed at step ${progress.step}/${total}${total > horizon ? ` (cosine horizon moved from ${horizon} to ${total} steps)` : ""}${anneal ? ` (anneal from step ${anneal.from}, stop at ${anneal.to})` : ""}`);
  } else if (o.init) {
    checkInitTokenizer(o.init, o.corpusDir);
    trainer = await createOrtTrainer({ modelDir: o.init }, {
      loss: { kind: "cross-entropy" }, seed: o.seed, threads: o.threads, maxPositions: o.maxSeqTokens,
      optim: { lr: o.lr, warmupSteps: o.warmupSteps, schedule: "cosine", totalSteps: total, minLrRatio: 0.1, weightDecay: 0.01, microBatch: o.microBatch, maxGradNorm: 1, decay: anneal ?? null },
    });
    o.log(`continued pretraining of ${o.init}: ${trainer.trainableParams} parameters, ${total} steps of ≤ ${o.batchTokens} tokens`);
  } else {
    const config = parseConfig({ ...TINY_ARCH, ...o.arch, vocab_size: vocab, eos_token_id: eos });
    trainer = await createOrtTrainer({ config, weights: randomWeights(config, o.seed, 0.02) }, {
      loss: { kind: "cross-entropy" }, seed: o.seed, threads: o.threads, maxPositions: o.maxSeqTokens,
      optim: { lr: o.lr, warmupSteps: o.warmupSteps, schedule: "cosine", totalSteps: total, minLrRatio: 0.1, weightDecay: 0.01, microBatch: o.microBatch, maxGradNorm: 1, decay: anneal ?? null },
    });
    o.log(`new tiny model: ${trainer.trainableParams} parameters, ${total} steps of ≤ ${o.batchTokens} tokens`);
  }
  const save = async () => {
    const tmp = `${ckpt}.partial`;
    rmSync(tmp, { recursive: true, force: true });
    await trainer.save(tmp);
    writeFileSync(join(tmp, "progress.json"), JSON.stringify({ ...progress, ema, batches: batches.length, batchTokens: o.batchTokens }));
    writeFileSync(join(tmp, "complete"), "");
    await syncTree(tmp); // a multi-hour run's resume point: on the disk before the rename (model/durable.ts)
    rmSync(ckpt, { recursive: true, force: true });
    renameSync(tmp, ckpt);
    await syncParent(ckpt);
  };
  const t0 = performance.now() - progress.seconds * 1000;
  // The time budget is this invocation's: a resumed run gets its full --max-minutes again.
  const sessionStart = performance.now();
  let loss = NaN;
  let ema = progress.ema ?? NaN;
  // Ctrl-C / SIGTERM: finish the step in flight, checkpoint it, stop (a second signal quits at once),
  // so an interrupted run loses nothing --resume cannot pick up
  let interrupted: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) process.exit(signalExitCode(sig));
    interrupted = sig;
    o.log(progress.step >= total || (anneal && progress.step >= anneal.to)
      ? `${sig}: training is done, finishing the model's export (send it again to quit at once)`
      : `${sig}: checkpointing after the step in flight, then stopping (send it again to quit without saving)`);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const stopAt = anneal ? Math.min(anneal.to, total) : total;
    if (progress.step >= stopAt) o.log(`the checkpoint is at step ${progress.step}, at or past the stop step ${stopAt}: exporting it`);
    while (progress.step < stopAt) {
      const batch = batches[progress.step % batches.length];
      const stats = await trainer.trainStep(batch.map((e) => ({ prompt: e.ids.slice(0, 1), response: e.ids.slice(1), lossWeights: e.weights.slice(1) })));
      loss = stats.loss;
      ema = Number.isNaN(ema) ? loss : 0.95 * ema + 0.05 * loss;
      progress = { step: progress.step + 1, tokens: progress.tokens + stats.tokens, seconds: (performance.now() - t0) / 1000 };
      if (progress.step % 10 === 0 || progress.step === stopAt) {
        const rate = progress.tokens / progress.seconds;
        const eta = (progress.seconds / progress.step) * (stopAt - progress.step);
        o.log(`step ${progress.step}/${stopAt}  loss ${ema.toFixed(4)}  lr ${stats.lr.toExponential(2)}  ${rate.toFixed(0)} tok/s  elapsed ${(progress.seconds / 60).toFixed(1)} min  ETA ${(eta / 60).toFixed(1)} min`);
      }
      if (progress.step % o.saveEvery === 0 || interrupted) await save();
      if (interrupted) {
        o.log(`stopped by ${interrupted} at step ${progress.step}/${stopAt}: checkpoint saved in ${ckpt}; continue with --resume`);
        return { steps: progress.step, loss: ema, interrupted };
      }
      if (o.maxSeconds > 0 && (performance.now() - sessionStart) / 1000 >= o.maxSeconds) {
        o.log(`time budget of ${o.maxSeconds}s reached at step ${progress.step}: checkpointing (continue with --resume)`);
        break;
      }
    }
    await save();
    mkdirSync(o.outDir, { recursive: true });
    await trainer.exportModel(o.outDir);
    exportCorpusFiles(o.corpusDir, o.outDir);
    writeFileSync(join(o.outDir, "pretraining.json"), JSON.stringify({ step: progress.step, tokens: progress.tokens, seconds: progress.seconds, totalSteps: total, anneal: anneal ?? null, loss: ema, batchTokens: o.batchTokens, lr: o.lr, seed: o.seed, ...(o.init ? { init: o.init } : {}) }, null, 2) + "\n");
    o.log(`model written to ${o.outDir} (step ${progress.step}/${total}, loss ${ema.toFixed(4)})`);
    return { steps: progress.step, loss: ema };
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await trainer.dispose();
  }
}

