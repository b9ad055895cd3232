/**
 * `azr eval`: score a model (or, with --self-check, the harness itself) on the paper's code and
 * math benchmarks, the tiny model's held-out set, or a CruxEval / LiveCodeBench file (spec §10).
 *
 *   azr eval --suite code --self-check                 # canonical solutions: must print 542/542
 *   azr eval --suite code --self-check --code-prompt evalplus   # the same through EvalPlus's sanitizer
 *   azr eval --suite math --self-check                 # each set's own reference answers
 *   azr eval --model data/tiny --suite all --limit 5 --out results.json
 *   azr eval --model ./Qwen2.5-Coder-7B --engine torch --suite code
 *   azr eval --model ckpt --suite file --data cruxeval.jsonl --format cruxeval
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { CommandModule } from "yargs";
import { RolloutEngine } from "../../actors/rollout-engine.ts";
import { CodeScorer, mapLimit } from "../../actors/eval/code-score.ts";
import { extractMathAnswer } from "../../actors/eval/math-answer.ts";
import { loadMathBenchmark, MATH_BENCHMARKS } from "../../actors/eval/math-bench.ts";
import { MathJudge } from "../../actors/eval/math-equiv.ts";
import { BenchmarkDataError, benchmarksDir } from "../../actors/eval/paths.ts";
import { formatResults, summarise } from "../../actors/eval/report.ts";
import { promptKey, readRecords, runSuite, StaleRecordsError, type Generator, type SuiteItem } from "../../actors/eval/runner.ts";
import { exportCheckpoint, ExportError, findExportSource } from "../../actors/selfplay/export.ts";
import { formatTinyReport } from "../../actors/eval/tiny-suite.ts";
import { readConfig } from "../../model/config.ts";
import { TextTokenizer, TokenizerError } from "../../model/tokenizer.ts";
import { processAlive } from "../../runtime/process-alive.ts";
import { codeProblems, suiteItems, type SuiteName } from "../../actors/eval/items.ts";
import { evalplusUsesChat, type CodePrompt, type MathTemplate, type PromptOptions } from "../../actors/eval/suites.ts";
import { formatSamples } from "../../actors/eval/tiny-samples.ts";
import { EvalWorkerPool } from "../../actors/eval/worker-pool.ts";
import { weightStamps } from "../../actors/eval/weights-identity.ts";
import { signalExitCode } from "../../runtime/exit-status.ts";
import { EvalUsageError, recordFileOf, type EvalArgs } from "./eval-args.ts";
import { checkCompareTasks, loadCompare, tinyDir, tinyReport } from "./eval-tiny.ts";

type Suite = SuiteName;

const limited = <T>(xs: T[], limit: number | undefined): T[] => (limit === undefined ? xs : xs.slice(0, limit));

/**
 * The count options, checked before anything loads: `--limit -1` would otherwise slice off the
 * last problem of each benchmark and `--limit abc` (NaN) keep none, both without a word.
 */
function checkCounts(a: EvalArgs): void {
  const counts: [string, number | undefined, number][] = [
    ["--limit", a.limit, 1], ["--batch-size", a.batchSize, 1], ["--max-new-tokens", a.maxNewTokens, 1],
    ["--workers", a.workers, 1], ["--threads", a.threads, 1], ["--proposals", a.proposals, 0], ["--samples", a.samples, 0],
  ];
  for (const [flag, v, min] of counts) {
    if (v !== undefined && !(Number.isInteger(v) && v >= min)) throw new EvalUsageError(`${flag} must be a whole number ≥ ${min}, got ${v}`);
  }
}

/** The suite's JSONL file (--data; for --suite tiny the held-out set by default), with the usage errors before anything starts. */
function suiteData(a: EvalArgs): string | undefined {
  if (a.suite === "tiny") {
    const path = a.data ?? tinyDir(a).tasks;
    if (!existsSync(path)) throw new EvalUsageError(`no held-out set at ${path}: make-corpus writes heldout.jsonl into its --out folder; pass it with --data`);
    return path;
  }
  if (a.suite === "file" && (!a.data || !a.format)) throw new EvalUsageError("--suite file needs --data <path> and --format lcb|cruxeval");
  if (a.suite === "file" && !(existsSync(a.data!) && statSync(a.data!).isFile())) throw new EvalUsageError(`--data ${a.data}: no such file (give a CruxEval or LiveCodeBench JSONL file)`);
  if (a.compare !== undefined) throw new EvalUsageError("--compare works with --suite tiny (the held-out set's per-task records)");
  return a.data;
}

/** Set by evaluate's signal handler: the run is being stopped, and what fails while it closes is not its error. */
let interrupted = false;

/**
 * --out, before anything loads: a parent that is a file was found only after the scorers had
 * started (a bare EEXIST from mkdir), and `--out <run>.problems.jsonl` (mistaken for --compare's
 * argument) wrote the results table over that run's records.
 */
function checkOut(a: EvalArgs): void {
  if (existsSync(a.out) && statSync(a.out).isDirectory()) throw new EvalUsageError(`--out ${a.out} is a folder: give the results file, e.g. --out ${join(a.out, "eval-results.json")}`);
  if (a.out.endsWith(".problems.jsonl")) throw new EvalUsageError(`--out ${a.out} is a records file name: give the results file (e.g. --out ${a.out.replace(/\.problems\.jsonl$/, ".json")}); its records go beside it`);
  for (const named of [a.data, a.compare]) {
    if (named !== undefined && resolve(named) === resolve(a.out)) throw new EvalUsageError(`--out ${a.out} is also an input (--data or --compare): give the results another name`);
  }
  for (let d = dirname(resolve(a.out)); ; d = dirname(d)) {
    if (existsSync(d)) {
      if (!statSync(d).isDirectory()) throw new EvalUsageError(`--out ${a.out}: ${d} is a file, not a folder: give a path in a folder`);
      break;
    }
    if (dirname(d) === d) break;
  }
}

/**
 * One evaluation at a time per record file: two runs into the same --out both generated every
 * problem, appended to the same file and wrote the same results file in turn. The lock holds the
 * owner's pid; one left by a process that is gone is taken over.
 */
function lockRecords(recordFile: string): () => void {
  const lock = `${recordFile}.lock`;
  for (let tries = 0; ; tries++) {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: "wx" });
      return () => rmSync(lock, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || tries > 0) throw e;
    }
    const pid = Number.parseInt(readFileSync(lock, "utf8"), 10);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
      throw new EvalUsageError(`another azr eval (pid ${pid}) is writing ${recordFile}: wait for it to finish, or give this one another --out (if no evaluation is running, remove ${lock})`);
    }
    rmSync(lock, { force: true }); // its process is gone (killed outright): the records it left are whole lines, resumed
  }
}


/**
 * Canonical solutions EvalPlus's own sanitizer breaks, so `--code-prompt evalplus` must fail them:
 * its sanitizer keeps only functions that contain a `return`.
 */
const EVALPLUS_SANITIZE_MISSES: Record<string, string> = {
  "Mbpp/630": "its helper `adjac` only yields, and EvalPlus's sanitizer drops functions without a return",
};

async function selfCheckCode(a: EvalArgs, dir: string): Promise<boolean> {
  const problems = codeProblems(dir, a.limit);
  const scorer = await CodeScorer.start({ workers: a.workers });
  const t0 = Date.now();
  let passed = 0;
  let finished = 0;
  const misses: string[] = [];
  const expected: string[] = [];
  try {
    // with --code-prompt evalplus the solutions go through EvalPlus's sanitizer first, as completions would
    const sanitize = a.codePrompt === "evalplus";
    await scorer.scoreMany(problems.map((p) => ({ problem: p, program: p.canonical, sanitize })), a.workers * 2, (i, v) => {
      const p = problems[i];
      if (v.pass) passed++;
      else if (sanitize && EVALPLUS_SANITIZE_MISSES[p.id]) expected.push(`${p.id}: ${EVALPLUS_SANITIZE_MISSES[p.id]} (${v.why})`);
      else misses.push(`${p.id}: ${v.why}${v.part ? ` (${v.part} test ${v.test})` : ""} ${v.detail ?? ""}`);
      if (++finished % 50 === 0) console.log(`  ${finished}/${problems.length} scored, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    });
  } finally {
    await scorer.close();
  }
  for (const m of expected) console.log(`EXPECTED MISS ${m}`);
  for (const m of misses) console.log(`MISS ${m}`);
  const also = expected.length ? ` and ${expected.length} expected miss${expected.length > 1 ? "es" : ""}` : "";
  console.log(`code self-check: ${passed}/${problems.length} canonical solutions pass${also} (base + plus tests${a.codePrompt === "evalplus" ? ", EvalPlus-sanitized" : ""}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return misses.length === 0 && passed + expected.length === problems.length;
}

async function selfCheckMath(a: EvalArgs, dir: string): Promise<boolean> {
  const pool = await EvalWorkerPool.start({ workers: a.workers, math: true });
  const judge = new MathJudge(pool);
  let all = true;
  try {
    for (const b of MATH_BENCHMARKS) {
      const problems = limited(loadMathBenchmark(dir, b), a.limit);
      const misses: string[] = [];
      const verdicts = await mapLimit(problems, a.workers * 2, async (p) => {
        const answer = extractMathAnswer(p.reference);
        const v = await judge.equivalent(answer, p.gold, { units: p.units });
        if (!v.equal) misses.push(`  ${b} ${p.id}: ${v.how}${v.detail ? ` (${v.detail})` : ""}: ${JSON.stringify(answer.slice(0, 100))} vs gold ${JSON.stringify(p.gold)}`);
        return v.equal;
      });
      const ok = verdicts.filter(Boolean).length;
      console.log(`${b.padEnd(14)} ${ok}/${problems.length} (${((100 * ok) / problems.length).toFixed(1)}%)`);
      for (const m of misses) console.log(m);
      all &&= ok === problems.length;
    }
  } finally {
    await pool.close();
  }
  return all;
}
/** A run folder or a checkpoint (step-N) holds checkpoints/ or learner/, not a model. */
const isCheckpointPath = (p: string) => existsSync(join(p, "checkpoints")) || existsSync(join(p, "learner"));

/**
 * The model folder to load and what identifies it. A run folder (its newest complete checkpoint)
 * or a checkpoint folder is exported once into the cache as a Hugging Face folder; the identity
 * is then the checkpoint's learner folder, so a rerun after the run saved a newer checkpoint is
 * not mistaken for the same model.
 */
/** EvalPlus-prompt records made before its sanitizer was applied were scored differently: they are not resumed. */
function sanitizedFingerprint(codePrompt: CodePrompt): { codeScoring?: string } {
  return codePrompt === "evalplus" ? { codeScoring: "evalplus-sanitize-2" } : {}; // -2: the sanitizer as EvalPlus's (tabs, returns, decorators)
}

function resolveModel(path: string): { dir: string; fingerprint: { model: string; weights: string[] } } {
  if (!isCheckpointPath(path)) return { dir: path, fingerprint: { model: resolve(path), weights: weightStamps(path) } };
  const src = findExportSource(path);
  const fingerprint = { model: src.learnerDir, weights: weightStamps(src.learnerDir) };
  const stamp = createHash("sha256").update(JSON.stringify(fingerprint)).digest("hex").slice(0, 16);
  const dir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "azr", "eval", "models", stamp);
  if (!existsSync(join(dir, ".complete"))) {
    rmSync(dir, { recursive: true, force: true });
    exportCheckpoint(path, dir);
    writeFileSync(join(dir, ".complete"), JSON.stringify(fingerprint) + "\n");
    console.log(`exported ${src.learnerDir} to ${dir}`);
  }
  return { dir, fingerprint };
}

/** Greedy generation through the rollout engine (in-process), with the model's context as the prompt limit. */
function rolloutGenerator(a: EvalArgs, model: string): { gen: Generator; engine: RolloutEngine; close: () => Promise<void> } {
  const maxPos = readConfig(model).maxPositionEmbeddings; // as the engines read it (a missing key: the family's transformers default)
  const engine = new RolloutEngine({ modelDir: model, engine: a.engine, maxPromptTokens: maxPos, threads: a.threads ?? availableParallelism(), maxBatch: a.batchSize });
  const gen: Generator = {
    async *generate(prompts, maxNewTokens) {
      const counts = await engine.countTokens(prompts);
      const budget = Math.max(1, Math.min(maxNewTokens, maxPos - Math.max(...counts)));
      for await (const s of engine.generate(prompts, { maxNewTokens: budget, temperature: 0, topP: 1, seed: 0 })) {
        yield { index: s.index, text: s.text, skipped: s.promptTooLong ? `prompt longer than the model's ${maxPos} positions` : undefined };
      }
    },
  };
  return { gen, engine, close: () => engine.close() };
}

async function evaluate(a: EvalArgs): Promise<void> {
  if (!a.model) throw new EvalUsageError("--model <dir> is required (or --self-check to test the harness)");
  if (!isCheckpointPath(a.model) && !existsSync(join(a.model, "config.json"))) {
    throw new EvalUsageError(`no model at ${a.model} (config.json missing): give a Hugging Face layout folder, a self-play run folder or a checkpoint folder`);
  }
  let model: ReturnType<typeof resolveModel>;
  try {
    model = resolveModel(a.model);
  } catch (e) {
    if (e instanceof ExportError) throw new EvalUsageError(e.message);
    throw e;
  }
  // Found only when the results are written, after the whole evaluation, with its records kept under another name (<out>.problems.jsonl).
  checkOut(a);
  // Found by the engine only after the scorers had started and the record file had its header (exit 1).
  if (!existsSync(join(model.dir, "tokenizer.json"))) TextTokenizer.fromDir(model.dir); // throws, naming what to provide
  // EvalPlus prompts a model whose tokenizer has a chat template with its chat prompt (whatever
  // --chat-template says, which is about the R1 prompts), unless --evalplus-base-prompt (its --force-base-prompt).
  const evalplusChat = a.codePrompt === "evalplus" ? evalplusUsesChat(model.dir, a.evalplusBasePrompt) : undefined;
  const o: PromptOptions = { codePrompt: a.codePrompt, mathTemplate: a.mathTemplate, chatTemplate: a.chatTemplate, evalplusChat, maxNewTokens: a.maxNewTokens };
  const data = suiteData(a);
  const compare = a.compare !== undefined ? loadCompare(a) : undefined; // suiteData refused --compare outside --suite tiny
  const recordFile = recordFileOf(a.out);
  mkdirSync(dirname(resolve(a.out)), { recursive: true });
  const unlock = lockRecords(recordFile);
  const closers: (() => Promise<void>)[] = [];
  let items: readonly SuiteItem[] = [];
  // Ctrl-C (or SIGTERM) used to end the process without a word: say what is kept and how to go on.
  // Each record is appended whole as its problem finishes, so exiting at once loses nothing scored;
  // the sandboxes die with this process. No results file is written for an unfinished run.
  // The engine's worker threads are ended before exiting: process.exit() with onnxruntime sessions
  // still running in them aborted the process now and then (a native "terminate called" on
  // teardown, exit by SIGABRT). Capped at 5 s; a second signal exits at once.
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) process.exit(signalExitCode(sig));
    interrupted = true;
    // Calls cut short by the close below fail on their way out (the executor is closed, the engine
    // is gone): expected now, and not to be reported as the run's error.
    process.on("unhandledRejection", () => {}).on("uncaughtException", () => {});
    // Taken from the list, so the finally below (reached as the cut calls fail) does not close them again.
    const closing = Promise.all(closers.splice(0).map((c) => c().catch(() => {})));
    void Promise.race([closing, new Promise((r) => setTimeout(r, 5_000).unref())]).then(() => {
      // Counted once the engine is closed: a problem finishing meanwhile is kept, and said.
      const done = readRecords(recordFile);
      const kept = items.filter((it) => done.get(`${it.benchmark}\u0000${it.id}`)?.prompt === promptKey(it)).length;
      unlock();
      const what = items.length ? `${kept} of ${items.length} problems kept in ${recordFile}; run the same command again to resume` : "before any problem ran";
      console.error(`\nazr eval: interrupted: ${what} (no results written to ${a.out})`);
      process.exit(signalExitCode(sig));
    });
  };
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const sig of signals) process.on(sig, onSignal);
  try {
    const suite = await suiteItems({ suite: a.suite, limit: a.limit, data, format: a.format, prompt: o, workers: a.workers, benchmarks: benchmarksDir() });
    closers.push(() => suite.close());
    items = suite.items;
    if (compare) checkCompareTasks(compare, items);
    const { gen, engine, close } = rolloutGenerator(a, model.dir);
    closers.push(close);
    console.log(`evaluating ${a.model} on ${items.length} problems (${a.suite}); per-problem records: ${recordFile}`);
    const tallies = await runSuite(items, gen, { batchSize: a.batchSize, recordFile, fingerprint: { ...model.fingerprint, engine: a.engine, ...sanitizedFingerprint(a.codePrompt) } });
    const results = summarise(a.model, a.suite, a.codePrompt + (evalplusChat ? " chat prompt" : "") + (a.chatTemplate ? " (chat template)" : ""), tallies, modelName(model.dir, a.model));
    const tiny = a.suite === "tiny" ? await tinyReport(a, engine, recordFile, items, data!, compare) : undefined;
    // whole or not at all: a results file cut by a kill mid-write would read as a broken earlier run
    const tmp = `${a.out}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(tiny ? { ...results, tiny } : results, null, 2) + "\n");
    renameSync(tmp, a.out);
    console.log("");
    console.log(tiny ? formatTinyReport(tiny) : formatResults(results));
    if (tiny?.samples) console.log("\n" + formatSamples(tiny.samples));
    console.log(`\nresults: ${a.out}`);
  } finally {
    for (const sig of signals) process.off(sig, onSignal);
    for (const c of closers.reverse()) await c().catch(() => {});
    unlock();
  }
}

/** The name a model goes by: config's _name_or_path when it has one, else the folder as given. */
function modelName(dir: string, given = dir): string {
  try {
    const c = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { _name_or_path?: string };
    return c._name_or_path || given;
  } catch {
    return given;
  }
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: "eval",
  describe: "score a model on HumanEval+/MBPP+, the six math sets, the tiny held-out set or a CruxEval/LCB file (greedy pass@1, spec §10)",
  builder: (y) =>
    y
      .option("model", { type: "string", describe: "model folder (Hugging Face layout), a self-play run folder (its newest checkpoint) or a checkpoint folder (runs/<run>/checkpoints/step-N)" })
      .option("suite", { choices: ["code", "math", "tiny", "all", "file"] as const, default: "all" as Suite, describe: "what to run: code (HumanEval+, MBPP+), math (six sets), all (both), tiny (held-out set), file (--data)" })
      .option("engine", { choices: ["ort", "torch"] as const, default: "ort" as const, describe: "model backend: ort (CPU, in-process) or torch (Python worker, GPUs)" })
      .option("limit", { type: "number", describe: "first N problems of each benchmark (the tiny held-out set is one: N tasks across its three types)" })
      .option("out", { type: "string", default: "eval-results.json", describe: "results JSON; the per-problem JSONL beside it (<out>.problems.jsonl) makes a rerun resume" })
      .option("self-check", { type: "boolean", default: false, describe: "score the benchmarks' own solutions instead of a model (harness check)" })
      .option("data", { type: "string", describe: "--suite file: the JSONL file; --suite tiny: heldout.jsonl (default <model>/heldout.jsonl)" })
      .option("format", { choices: ["lcb", "cruxeval"] as const, describe: "--suite file: the file's format" })
      .option("code-prompt", { choices: ["r1", "evalplus"] as const, default: "r1" as CodePrompt, describe: "r1: R1 wrapper, code from the last ```python block in <answer>; evalplus: EvalPlus's prompt, as EvalPlus picks it (its chat prompt when the tokenizer has a chat template, else its completion prompt)" })
      .option("math-template", { choices: ["azr", "azr_boxed"] as const, default: "azr" as MathTemplate, describe: "azr_boxed adds a sentence asking for \\boxed{} (used for Coder-7B)" })
      .option("chat-template", { type: "boolean", default: false, describe: "apply the tokenizer's chat template (instruct models)" })
      .option("evalplus-base-prompt", { type: "boolean", default: false, describe: "--code-prompt evalplus: EvalPlus's base prompt even when the tokenizer has a chat template (EvalPlus's --force-base-prompt); by default, as EvalPlus, its chat prompt then" })
      .option("batch-size", { type: "number", default: 8, describe: "prompts generated together" })
      .option("max-new-tokens", { type: "number", describe: "new-token budget for every suite (default: spec §10's per suite)" })
      .option("workers", { type: "number", default: availableParallelism(), describe: "sandboxed scoring workers" })
      .option("benchmarks", { type: "string", describe: "benchmark data folder (default $AZR_BENCHMARKS or ../shared/benchmarks)" })
      .option("threads", { type: "number", describe: "onnxruntime threads (ort engine)" })
      .option("proposals", { type: "number", default: 64, describe: "--suite tiny: proposals per task type for the valid-proposal rate (0 = skip)" })
      .option("recipe", { type: "string", default: "tiny", describe: "--suite tiny: the recipe whose proposer prompts, sampling and validation rules the probe uses" })
      .option("samples", { type: "number", default: 0, describe: "--suite tiny: also draw N answers a task at the recipe's solver sampling and print pass@1, maj@N and pass@N beside greedy (how much room self-play's sharpening has; 0 = skip)" })
      .option("compare", { type: "string", describe: "--suite tiny: an earlier run's <out>.problems.jsonl (e.g. the base model's): print the paired change per task type" }) as never,
  handler: async (a) => {
    if (a.benchmarks) process.env.AZR_BENCHMARKS = a.benchmarks;
    try {
      checkCounts(a);
      if (a.selfCheck) {
        if (a.suite !== "code" && a.suite !== "math" && a.suite !== "all") throw new EvalUsageError("--self-check runs with --suite code, math or all");
        let ok = true;
        if (a.suite !== "math") ok = (await selfCheckCode(a, benchmarksDir())) && ok;
        if (a.suite !== "code") ok = (await selfCheckMath(a, benchmarksDir())) && ok;
        if (!ok) process.exitCode = 1;
        return;
      }
      await evaluate(a);
    } catch (e) {
      if (interrupted) return; // stopped by a signal: said, and exiting once the engine is closed
      let message = (e as Error).message;
      // a shipped benchmark file cut short or missing: say where the data comes from
      if (e instanceof BenchmarkDataError && e.file !== undefined && (a.suite === "code" || a.suite === "math" || a.suite === "all")) {
        message += `: restore the benchmark data (../shared/benchmarks/README.md lists the files) or point --benchmarks (AZR_BENCHMARKS) at a complete copy`;
      }
      console.error(`azr eval: ${message}`);
      // the user's to fix, as the other usage errors: a benchmark or --data file, the model's tokenizer
      const usage = e instanceof EvalUsageError || e instanceof StaleRecordsError || e instanceof BenchmarkDataError || e instanceof TokenizerError;
      process.exitCode = usage ? 2 : 1;
    }
  },
};
