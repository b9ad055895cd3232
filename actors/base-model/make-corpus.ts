/**
 * `node --import tsx actors/base-model/make-corpus.ts --out <dir> --seed N --programs N`
 *
 * Builds the tiny base model's pretraining data from nothing: generates programs (seed), runs
 * them to true input/output pairs, formats the corpus in the tiny recipe's prompt forms (in
 * curriculum order), trains the tokenizer on it, and builds the held-out evaluation set from a
 * DIFFERENT seed with its trivial baselines. Writes into <dir>:
 *   corpus.jsonl          one example per line: form, programId, level, text, promptChars, segments
 *   programs.jsonl        the pretraining programs with their pairs
 *   heldout.jsonl         held-out tasks (deduction, abduction, induction), never in pretraining
 *   heldout-programs.jsonl
 *   tokenizer.json        Hugging Face tokenizer (byte-level BPE), plus tokenizer_config.json
 *   stats.json            survival, throughput, corpus sizes, vocab, chars/token, baselines
 * Covers: the pipeline and its files. Not: pretraining (the engine's job), scoring a model.
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { CORPUS_FORMS, curriculumOrder, formatCorpus, TINY_FORMAT_OPTIONS, type CorpusExample, type ExecutedProgram } from "../../azr/corpus/format.ts";
import { dedupeBySource, heldOutTasks, withoutHeldOut, type OverlapMatch } from "../../azr/corpus/heldout.ts";
import { generatePrograms } from "../../azr/corpus/programs.ts";
import { CorpusEncoder, EOS_TOKEN, tokenizerConfig, tokenizerJson, trainBpe } from "../../azr/corpus/tokenizer.ts";
import { Tokenizer } from "@huggingface/tokenizers";
import { executePrograms, type ExecutionStats } from "./execute.ts";
import { startPairRunner, type PairRunner, type RunnerKind } from "./runners.ts";
import type { TraceLimits } from "./harness.ts";
import { scoreBaselines, type BaselineReport } from "./heldout.ts";
import { mapLimit } from "../eval/code-score.ts";

export interface MakeCorpusOptions {
  out: string;
  seed: number;
  programs: number;
  /** Seed of the held-out set; must differ from `seed`. */
  evalSeed: number;
  evalPrograms: number;
  vocabSize: number;
  workers: number;
  /**
   * Who runs programs: the sandboxed code executor (default: self-play's own verdicts) or our
   * harness (about 5× faster; test/corpus/runners.test.ts checks it agrees with the executor).
   */
  runner?: RunnerKind;
  /** Examples the tokenizer is trained on (a prefix of the corpus in generation order). */
  tokenizerSample: number;
  /**
   * Examples (evenly spaced) on which @huggingface/tokenizers itself must give our encoder's ids
   * and round-trip; default 2000. Every example is round-tripped by our encoder regardless.
   */
  hfCheckSample?: number;
  /** Progress lines go here (stderr by default); null for silence. */
  log?: ((line: string) => void) | null;
  /**
   * Which pretraining programs the held-out ones remove: equal up to names (default) or equal
   * text (data/tiny's corpus; make-heldout then keeps the wider held-out set clear of it by names).
   */
  heldOutMatch?: OverlapMatch;
  /**
   * The thinking of deduction examples: empty (default, data/tiny's corpus), or f's execution
   * traced line by line (harness runner only), within `traceLimits` (longer ones stay empty).
   */
  think?: ThinkMode;
  /**
   * An existing tokenizer.json (e.g. data/tiny's) instead of training one: a corpus for continued
   * pretraining of that model (azr base-model --init). Its tokenizer_config.json is taken from beside it when there.
   */
  tokenizer?: string;
  traceLimits?: TraceLimits;
}

export const THINK_MODES = ["none", "trace"] as const;
export type ThinkMode = (typeof THINK_MODES)[number];
/** ~12 lines: with the tiny tokenizer (~2.5 chars a token) about 100 of a response's 256 tokens. */
export const DEFAULT_TRACE_LIMITS: TraceLimits = { maxLines: 12, maxChars: 240 };

export interface CorpusStats {
  train: ExecutionStats;
  heldOut: ExecutionStats;
  /** Pretraining programs removed: duplicates of each other, equal to a held-out program. */
  removedDuplicates: number;
  removedForOverlap: number;
  /** --think trace: pretraining pairs traced within the limits, of all pairs. */
  traced?: { pairs: number; of: number };
  examples: number;
  chars: number;
  examplesByForm: Record<string, number>;
  charsByForm: Record<string, number>;
  answerChars: number;
  tokenizer: { vocabSize: number; charsPerToken: number; tokens: number; roundTripFailures: number; hfChecked: number };
  heldOutTasks: Record<string, number>;
  baselines: BaselineReport;
  seconds: number;
}

/** A progress callback: a line every half second (and at the end) with the rate and ETA. */
export function progress(log: MakeCorpusOptions["log"], label: string, unit = "programs") {
  const t0 = performance.now();
  let last = 0;
  return (done: number, total: number, kept: number) => {
    const now = performance.now();
    if (done !== total && now - last < 500) return;
    last = now;
    const rate = done / ((now - t0) / 1000);
    const eta = rate > 0 ? (total - done) / rate : 0;
    const keptPart = kept === done ? "" : `, ${kept} kept`;
    log?.(`${label}: ${done}/${total} ${unit}${keptPart}, ${rate.toFixed(0)} ${unit}/s, ETA ${eta.toFixed(0)} s`);
  };
}

export async function makeCorpus(o: MakeCorpusOptions): Promise<CorpusStats> {
  if (o.evalSeed === o.seed) throw new Error(`--eval-seed must differ from --seed (both ${o.seed}): the held-out set must never be in pretraining`);
  // On a terminal the progress line rewrites itself; in a log file each update is a line.
  const log = o.log === undefined
    ? (line: string) => process.stderr.write(process.stderr.isTTY ? `\r\x1b[K${line}` : line + "\n")
    : o.log;
  const t0 = performance.now();
  const runnerKind = o.runner ?? "executor";
  if (o.tokenizer !== undefined && !existsSync(o.tokenizer)) throw new Error(`--tokenizer ${o.tokenizer}: no such file (give a model's tokenizer.json, e.g. data/tiny/tokenizer.json)`);
  if (o.think === "trace" && runnerKind !== "harness") throw new Error("--think trace needs --runner harness: only the corpus harness traces programs (the sandboxed executor runs them whole)");
  mkdirSync(o.out, { recursive: true });
  const runner = await startPairRunner(runnerKind, { workers: o.workers });
  try {
    // Held-out first: pretraining programs that equal one of them are removed.
    const evalGenerated = generatePrograms({ seed: o.evalSeed, count: o.evalPrograms });
    const heldOut = await executePrograms(evalGenerated, runner, { seed: o.evalSeed, onProgress: progress(log, "held-out") });
    const trainGenerated = generatePrograms({ seed: o.seed, count: o.programs });
    const train = await executePrograms(trainGenerated, runner, { seed: o.seed, onProgress: progress(log, "pretraining") });
    const heldOutPrograms = dedupeBySource(heldOut.executed).kept;
    const unique = dedupeBySource(train.executed);
    const { kept: trainPrograms, removed } = withoutHeldOut(unique.kept, heldOutPrograms, o.heldOutMatch);

    const traced = o.think === "trace" ? await tracePairs(trainPrograms, runner, o.traceLimits ?? DEFAULT_TRACE_LIMITS, progress(log, "tracing")) : undefined;
    const examples = formatCorpus(trainPrograms, o.seed, TINY_FORMAT_OPTIONS);
    log?.(`formatted ${examples.length} examples from ${trainPrograms.length} programs (removed: ${unique.removed} duplicates, ${removed} equal to a held-out program)`);

    let tokJson: ReturnType<typeof tokenizerJson>, tokConfig: ReturnType<typeof tokenizerConfig>;
    if (o.tokenizer) {
      tokJson = JSON.parse(readFileSync(o.tokenizer, "utf8")) as typeof tokJson;
      // pretraining ends every example with it (azr/corpus/tokenizer.ts): a tokenizer make-corpus did not make may lack it
      if (!(tokJson.added_tokens as { content: string }[] | undefined)?.some((t) => t.content === EOS_TOKEN)) {
        throw new Error(`--tokenizer ${o.tokenizer}: no ${EOS_TOKEN} token: give a tokenizer make-corpus made (e.g. data/tiny/tokenizer.json)`);
      }
      const beside = join(dirname(o.tokenizer), "tokenizer_config.json");
      tokConfig = existsSync(beside) ? JSON.parse(readFileSync(beside, "utf8")) as typeof tokConfig : tokenizerConfig();
      log?.(`tokenizer: ${o.tokenizer} (not trained)`);
    } else {
      const sample = examples.slice(0, o.tokenizerSample).map((e) => e.text);
      tokJson = tokenizerJson(trainBpe(sample, { vocabSize: o.vocabSize }));
      tokConfig = tokenizerConfig();
    }
    writeFileSync(join(o.out, "tokenizer.json"), JSON.stringify(tokJson));
    writeFileSync(join(o.out, "tokenizer_config.json"), JSON.stringify(tokConfig, null, 2) + "\n");
    // Loaded back the way a model's tokenizer is loaded: it must agree with our fast encoder
    // (which counts and round-trips every text) on an evenly spaced sample.
    const tokenizer = new Tokenizer(tokJson, tokConfig);
    const encoder = new CorpusEncoder(tokJson);
    const ordered = curriculumOrder(examples, o.seed);
    const hfEvery = Math.max(1, Math.floor(ordered.length / (o.hfCheckSample ?? 2000)));
    let tokens = 0, roundTripFailures = 0, hfChecked = 0, chars = 0, answerChars = 0;
    const examplesByForm: Record<string, number> = {}, charsByForm: Record<string, number> = {};
    const corpusFile = createWriteStream(join(o.out, "corpus.jsonl"));
    const tick = progress(log, "tokenizing", "examples");
    for (const [i, e] of ordered.entries()) {
      const ids = encoder.encode(e.text);
      tokens += ids.length;
      if (encoder.decode(ids) !== e.text) roundTripFailures++;
      if (i % hfEvery === 0) {
        hfChecked++;
        const hf = tokenizer.encode(e.text).ids;
        if (hf.length !== ids.length || hf.some((x: number, k: number) => x !== ids[k])) throw new Error(`@huggingface/tokenizers and CorpusEncoder disagree on example ${i} (${e.programId}/${e.form}): an encoder bug`);
        if (tokenizer.decode(hf) !== e.text) roundTripFailures++;
      }
      chars += e.text.length;
      answerChars += e.segments.filter((s) => s.kind === "answer").reduce((a, s) => a + s.end - s.start, 0);
      examplesByForm[e.form] = (examplesByForm[e.form] ?? 0) + 1;
      charsByForm[e.form] = (charsByForm[e.form] ?? 0) + e.text.length;
      if (!corpusFile.write(JSON.stringify(e satisfies CorpusExample) + "\n")) await new Promise<void>((r) => corpusFile.once("drain", () => r()));
      tick(i + 1, ordered.length, i + 1);
    }
    await new Promise<void>((resolve, reject) => corpusFile.on("error", reject).end(() => resolve()));
    if (roundTripFailures > 0) throw new Error(`tokenizer does not round-trip ${roundTripFailures} corpus texts: a pre-tokenizer or decoder bug`);

    writeFileSync(join(o.out, "programs.jsonl"), trainPrograms.map((p) => JSON.stringify(p)).join("\n") + "\n");
    writeFileSync(join(o.out, "heldout-programs.jsonl"), heldOutPrograms.map((p) => JSON.stringify(p)).join("\n") + "\n");
    const tasks = heldOutTasks(heldOutPrograms, TINY_FORMAT_OPTIONS.proposer.nInputs);
    writeFileSync(join(o.out, "heldout.jsonl"), tasks.map((t) => JSON.stringify(t)).join("\n") + "\n");
    const baselines = await scoreBaselines(tasks, heldOutPrograms, trainPrograms, runner);

    const heldOutTaskCounts: Record<string, number> = {};
    for (const t of tasks) heldOutTaskCounts[t.type] = (heldOutTaskCounts[t.type] ?? 0) + 1;
    for (const f of CORPUS_FORMS) examplesByForm[f] ??= 0;
    const stats: CorpusStats = {
      train: train.stats, heldOut: heldOut.stats, removedDuplicates: unique.removed, removedForOverlap: removed, ...(traced ? { traced } : {}),
      examples: examples.length, chars, examplesByForm, charsByForm, answerChars,
      tokenizer: { vocabSize: tokenizer.get_vocab(true).size, charsPerToken: chars / tokens, tokens, roundTripFailures, hfChecked },
      heldOutTasks: heldOutTaskCounts, baselines, seconds: (performance.now() - t0) / 1000,
    };
    writeFileSync(join(o.out, "stats.json"), JSON.stringify(stats, null, 2) + "\n");
    return stats;
  } finally {
    await runner.close();
  }
}

/** Adds each pair's execution trace (within the limits) to the programs, in place; counts the traced pairs. */
async function tracePairs(programs: readonly ExecutedProgram[], runner: PairRunner, limits: TraceLimits, tick: ReturnType<typeof progress>): Promise<{ pairs: number; of: number }> {
  if (!runner.trace) throw new Error("this runner cannot trace programs: use --runner harness");
  const trace = runner.trace.bind(runner);
  let pairs = 0, of = 0, done = 0;
  await mapLimit(programs, 32, async (p) => {
    const traces = await trace(p.source, p.pairs.map((x) => x.input), limits);
    p.pairs.forEach((x, k) => {
      of++;
      if (traces[k] !== null) x.trace = traces[k]!, pairs++;
    });
    tick(++done, programs.length, done);
  });
  return { pairs, of };
}

function pct(x: number): string {
  return (100 * x).toFixed(1) + "%";
}

/** A short human summary of the stats. */
export function summary(s: CorpusStats): string {
  const lines = [
    ...(s.traced ? [`traced: ${s.traced.pairs}/${s.traced.of} pairs (${pct(s.traced.pairs / s.traced.of)}) within the trace limits; their deduction examples think the trace`] : []),
    `programs: ${s.train.kept}/${s.train.programs} survived (${pct(s.train.survivalRate)}), ${s.train.programsPerSecond.toFixed(0)} programs/s, ${s.train.runsPerSecond.toFixed(0)} runs/s`,
    `held-out: ${s.heldOut.kept}/${s.heldOut.programs} programs survived; pretraining programs removed: ${s.removedDuplicates} duplicates, ${s.removedForOverlap} equal to a held-out one`,
    `corpus: ${s.examples} examples, ${(s.chars / 1e6).toFixed(2)} M chars (${pct(s.answerChars / s.chars)} answer), ${s.tokenizer.tokens} tokens`,
    `tokenizer: vocab ${s.tokenizer.vocabSize}, ${s.tokenizer.charsPerToken.toFixed(2)} chars/token, round trip exact (${s.tokenizer.hfChecked} texts also through @huggingface/tokenizers)`,
    "held-out trivial baselines (accuracy [95% bootstrap]):",
    ...baselineLines(s.baselines),
  ];
  return lines.join("\n");
}

/** One line per baseline and task type: accuracy [95% bootstrap] (correct/total). */
export function baselineLines(baselines: BaselineReport): string[] {
  const lines: string[] = [];
  for (const b of ["constant", "copy"] as const)
    for (const t of ["deduction", "abduction", "induction"] as const) {
      const a = baselines[b][t];
      lines.push(`  ${b.padEnd(8)} ${t.padEnd(9)} ${pct(a.accuracy).padStart(6)} [${pct(a.low)}, ${pct(a.high)}] (${a.correct}/${a.total})`);
    }
  return lines;
}

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName("make-corpus")
    .usage("$0 --out <dir> [--seed N] [--programs N]: build the tiny base model's corpus, tokenizer and held-out set")
    .option("out", { type: "string", demandOption: true, describe: "output directory (created if missing)" })
    .option("seed", { type: "number", default: 1, describe: "generator seed of the pretraining programs" })
    .option("programs", { type: "number", default: 20000, describe: "programs to generate for pretraining (before filtering)" })
    .option("eval-seed", { type: "number", default: 1_000_003, describe: "generator seed of the held-out set; must differ from --seed" })
    .option("eval-programs", { type: "number", default: 400, describe: "held-out programs to generate (before filtering)" })
    .option("vocab-size", { type: "number", default: 1024, describe: "tokenizer vocabulary size, including bytes and added tokens" })
    .option("workers", { type: "number", default: 2, describe: "Python processes running programs" })
    .option("runner", { choices: ["executor", "harness"] as const, default: "executor" as const, describe: "executor: the sandboxed self-play executor; harness: ~5x faster unsandboxed runner for our own generated programs (same verdicts)" })
    .option("tokenizer-sample", { type: "number", default: 50000, describe: "corpus examples the tokenizer is trained on" })
    .option("hf-check-sample", { type: "number", default: 2000, describe: "examples also encoded by @huggingface/tokenizers, which must give the same ids" })
    .option("heldout-match", { choices: ["names", "text"] as const, default: "names" as const, describe: "pretraining programs removed for equalling a held-out one: up to variable names, or by text (how data/tiny's corpus was made)" })
    .option("tokenizer", { type: "string", describe: "use this tokenizer.json (e.g. data/tiny/tokenizer.json, for azr base-model --init data/tiny) instead of training one (--vocab-size and --tokenizer-sample then unused)" })
    .option("think", { choices: THINK_MODES, default: "none" as ThinkMode, describe: "deduction examples' thinking: none (empty, data/tiny's corpus) or trace (f's execution, a variable per line, then the return value; needs --runner harness)" })
    .option("trace-lines", { type: "number", default: DEFAULT_TRACE_LIMITS.maxLines, describe: "--think trace: longest trace in lines (longer: no trace)" })
    .option("trace-chars", { type: "number", default: DEFAULT_TRACE_LIMITS.maxChars, describe: "--think trace: longest trace in characters (longer: no trace)" })
    .strict()
    .help()
    .parse();
  const stats = await makeCorpus({
    out: argv.out, seed: argv.seed, programs: argv.programs, evalSeed: argv["eval-seed"], evalPrograms: argv["eval-programs"],
    vocabSize: argv["vocab-size"], workers: argv.workers, runner: argv.runner, tokenizerSample: argv["tokenizer-sample"], hfCheckSample: argv["hf-check-sample"],
    heldOutMatch: argv["heldout-match"], think: argv.think, tokenizer: argv.tokenizer, traceLimits: { maxLines: argv["trace-lines"], maxChars: argv["trace-chars"] },
  });
  if (process.stderr.isTTY) process.stderr.write("\n");
  process.stdout.write(summary(stats) + `\nwritten to ${argv.out} in ${stats.seconds.toFixed(1)} s\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: unknown) => {
    process.stderr.write(`make-corpus: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
