/**
 * Evaluation during self-play (azr-spec §8, §10): every `eval.every` steps the driver scores the
 * current policy — the run's rollout engine, which holds the weights of the step just taken —
 * greedily (one sample, pass@1) on the recipe's suites, and the scores go into that step's
 * metrics line. The per-problem records are kept under `<run>/eval/step-N.problems.jsonl`.
 *
 * Covers: building the suites once (items.ts, the same as `azr eval`), generation through the
 * rollout port, tallies per benchmark. Not: when to evaluate (the driver), the web view's plot.
 */
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { RolloutPort } from "../selfplay/ports.ts";
import { suiteItems, type BuiltSuite, type FileFormat, type SuiteName } from "./items.ts";
import { readRecords, runSuite, type Generator } from "./runner.ts";
import { accuracyByType } from "./tiny-suite.ts";
import type { AnswerChecker, CodePrompt, MathTemplate } from "./suites.ts";

/** The recipe fields the evaluation reads (a Recipe satisfies it structurally). */
export interface InTrainingConfig {
  eval: {
    suites: SuiteName[];
    limit: number | null;
    data: string | null;
    format: FileFormat;
    /** More files for the file suite (absent: none). */
    files?: { data: string; format: FileFormat }[];
    codePrompt: CodePrompt;
    mathTemplate: MathTemplate;
    /** null: each suite's own budget (spec §10). */
    maxNewTokens: number | null;
    batchSize: number;
  };
  prompt: { chatTemplate: boolean };
}

export interface BenchmarkScore {
  n: number;
  correct: number;
  /** pass@1 in [0, 1]. */
  accuracy: number;
}

/** One evaluation's scores, as written into the metrics line of its step. */
export interface EvalScores {
  suites: string[];
  seconds: number;
  benchmarks: Record<string, BenchmarkScore>;
}

export interface InTrainingPorts {
  rollout: RolloutPort;
  /** The run's executor, for executor-task suites (tiny, CruxEval, LCB-Execution); else one is started. */
  executor?: AnswerChecker;
}

export interface InTrainingOptions {
  runDir: string;
  /** Scoring workers of the scorers the code and math suites start. */
  workers: number;
  /** Folder of the shipped benchmarks (code, math). */
  benchmarks: string;
  log?: (line: string) => void;
  /**
   * With eval.codePrompt "evalplus": EvalPlus's chat prompt (true) or base prompt (false), as
   * `azr eval` picks it from the model's tokenizer (suites.ts evalplusUsesChat); unset: follows
   * the recipe's prompt.chatTemplate. The same choice as `azr eval`, so the curves and a later
   * `azr eval --code-prompt evalplus` of a checkpoint score the same prompt.
   */
  evalplusChat?: boolean;
}

/** Greedy generation through the rollout port; a prompt over the engine's limit is scored wrong with the reason. */
export function greedyGenerator(rollout: RolloutPort): Generator {
  return {
    async *generate(prompts, maxNewTokens) {
      for await (const s of rollout.generate(prompts, { maxNewTokens, temperature: 0, topP: 1, seed: 0 })) {
        yield { index: s.index, text: s.text, skipped: s.promptTooLong ? "prompt longer than the rollout engine's prompt limit" : undefined };
      }
    },
  };
}

export class InTrainingEval {
  private built: BuiltSuite[] | undefined;

  constructor(private readonly cfg: InTrainingConfig, private readonly ports: InTrainingPorts, private readonly o: InTrainingOptions) {
    if (cfg.eval.suites.length === 0) throw new Error("in-training evaluation needs at least one suite in eval.suites");
  }

  /** Scores the policy the rollout engine holds now; `step` names the record file. */
  async evaluate(step: number): Promise<EvalScores> {
    const t0 = performance.now();
    const e = this.cfg.eval;
    this.built ??= await this.build();
    const dir = join(this.o.runDir, "eval");
    mkdirSync(dir, { recursive: true });
    const log = this.o.log ?? (() => {});
    const recordFile = join(dir, `step-${step}.problems.jsonl`);
    // Never resumed: a file of this step is from an earlier attempt at it (a run resumed from an
    // older checkpoint replays the step, with other weights), so its records are not these weights'.
    rmSync(recordFile, { force: true });
    const tallies = await runSuite(this.built.flatMap((b) => b.items), greedyGenerator(this.ports.rollout), {
      batchSize: e.batchSize, recordFile, log: (l) => log(`eval step ${step}: ${l}`),
    });
    const benchmarks: Record<string, BenchmarkScore> = {};
    for (const [name, t] of tallies) benchmarks[name] = { n: t.n, correct: t.correct, accuracy: t.n ? t.correct / t.n : 0 };
    if (tallies.has("tiny")) {
      // The tiny set mixes three task types; self-play moves them separately, so each gets a curve.
      const byType = accuracyByType([...readRecords(recordFile).values()].filter((r) => r.benchmark === "tiny"));
      for (const [type, a] of Object.entries(byType)) if (a.total) benchmarks[`tiny/${type}`] = { n: a.total, correct: a.correct, accuracy: a.accuracy };
    }
    return { suites: [...e.suites], seconds: (performance.now() - t0) / 1000, benchmarks };
  }

  async close(): Promise<void> {
    for (const b of this.built ?? []) await b.close();
    this.built = undefined;
  }

  private async build(): Promise<BuiltSuite[]> {
    const e = this.cfg.eval;
    const built: BuiltSuite[] = [];
    try {
      const prompt = { codePrompt: e.codePrompt, mathTemplate: e.mathTemplate, chatTemplate: this.cfg.prompt.chatTemplate, evalplusChat: this.o.evalplusChat, maxNewTokens: e.maxNewTokens ?? undefined }; // null: each suite's spec §10 budget, as azr eval
      const common = { limit: e.limit ?? undefined, workers: this.o.workers, benchmarks: this.o.benchmarks, executor: this.ports.executor, prompt };
      for (const suite of e.suites) {
        // The file suite: eval.data (with eval.format) when given, and each of eval.files (CruxEval and LCB-Execution in one run).
        const files = suite === "file" ? [...(e.data ? [{ data: e.data, format: e.format }] : []), ...(e.files ?? [])] : [{ data: e.data ?? undefined, format: e.format }];
        for (const f of files) built.push(await suiteItems({ ...common, suite, data: f.data, format: f.format }));
      }
      return built;
    } catch (err) {
      for (const b of built) await b.close();
      throw err;
    }
  }
}
