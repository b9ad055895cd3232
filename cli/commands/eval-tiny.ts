/**
 * `azr eval --suite tiny`'s own half: where the held-out files are, the --compare records (read
 * once, checked before anything loads), and the report beside the accuracy table (baselines,
 * paired change, the valid-proposal probe, --samples).
 */
import { existsSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { RolloutEngine } from "../../actors/rollout-engine.ts";
import { CodeExecutor } from "../../actors/code-executor/index.ts";
import { execProblems } from "../../actors/eval/items.ts";
import { promptKey, readRecords, type ProblemRecord, type SuiteItem } from "../../actors/eval/runner.ts";
import { checkExecResponse, execPrompt } from "../../actors/eval/suites.ts";
import { sampleTasks, tallySamples, type SamplesReport } from "../../actors/eval/tiny-samples.ts";
import {
  accuracyByType, compareByType, loadBaselines, loadHeldOutPrograms, probeProposals, proposalPrompts, TINY_TYPES, tinyFiles, type TinyReport,
} from "../../actors/eval/tiny-suite.ts";
import { loadRecipe } from "../../recipes/index.ts";
import type { Recipe } from "../../recipes/schema.ts";
import { EvalUsageError, recordFileOf, type EvalArgs } from "./eval-args.ts";
import { executorConfig } from "./recipe-setup.ts";

/**
 * The held-out files for --suite tiny: beside --data when its folder has the set's baselines (a
 * set written by make-heldout), else beside the model when it has them (a model made by
 * `make base-model`), else the shipped data/tiny ones (a self-play checkpoint of the tiny model).
 */
export function tinyDir(a: EvalArgs): ReturnType<typeof tinyFiles> {
  if (a.data !== undefined) {
    const beside = tinyFiles(dirname(a.data));
    if (existsSync(beside.baselines) && existsSync(beside.programs)) return { ...beside, tasks: a.data };
  }
  const own = tinyFiles(a.model ?? "data/tiny");
  return existsSync(own.tasks) ? own : tinyFiles("data/tiny");
}

/** An earlier run's held-out records (--compare), read once. */
export interface CompareRecords {
  file: string;
  records: ProblemRecord[];
}

/**
 * --compare's file, before anything loads. Any file used to be accepted: the results JSON, another
 * suite's records, a folder (EISDIR after the whole run) or this run's own records all gave a table
 * of "n 0" or "+0.0" changes with exit 0, as if nothing had changed.
 */
export function loadCompare(a: EvalArgs): CompareRecords {
  const f = a.compare!;
  const give = "give an earlier `azr eval --suite tiny` run's <out>.problems.jsonl";
  if (!existsSync(f)) throw new EvalUsageError(`--compare ${f}: no such file (${give})`);
  if (statSync(f).isDirectory()) throw new EvalUsageError(`--compare ${f} is a folder: ${give}`);
  if (resolve(f) === resolve(recordFileOf(a.out))) throw new EvalUsageError(`--compare ${f} is this run's own record file (--out ${a.out}): ${give}, or give this run another --out`);
  const records = [...readRecords(f).values()].filter((r) => r.benchmark === "tiny");
  if (!records.length) throw new EvalUsageError(`--compare ${f} holds no held-out (--suite tiny) records: ${give}`);
  return { file: f, records };
}

/** --compare's records against this run's tasks: none in common is another held-out set (every change would read n 0). */
export function checkCompareTasks(compare: CompareRecords, items: readonly SuiteItem[]): void {
  const ids = new Set(items.filter((it) => it.benchmark === "tiny").map((it) => it.id));
  if (!compare.records.some((r) => ids.has(r.id))) {
    throw new EvalUsageError(`--compare ${compare.file} shares no task with this run's ${items.length} (records of another held-out set?): give the records of an earlier run on the same --data`);
  }
}

/** The tiny report: accuracy per task type beside the baselines, and the valid-proposal rate. */
export async function tinyReport(a: EvalArgs, engine: RolloutEngine, recordFile: string, items: readonly SuiteItem[], data: string, compare: CompareRecords | undefined): Promise<TinyReport> {
  const files = tinyDir(a);
  // This run's tasks only, as this prompt and token budget made them: the record file may also hold
  // tasks an earlier run with a larger --limit scored, or records of another budget not made again.
  const current = new Map(items.map((it) => [it.id, promptKey(it)]));
  const records = [...readRecords(recordFile).values()].filter((r) => r.benchmark === "tiny" && r.prompt !== undefined && current.get(r.id) === r.prompt);
  const report: TinyReport = { model: a.model!, accuracy: accuracyByType(records), baselines: loadBaselines(files.baselines) };
  if (compare) {
    const earlier = new Set(compare.records.map((r) => r.id));
    // an interrupted (or --limit) earlier run covers part of this one: the n column showed it, nothing said it
    report.comparison = { against: compare.file, byType: compareByType(compare.records, records), coverage: { earlier: records.filter((r) => earlier.has(r.id)).length, run: records.length } };
  }
  if (a.proposals === 0 && a.samples === 0) return report;
  // The probe and the samples use the recipe's prompts, sampling and executor rules: one recipe, one executor.
  const recipe = await loadRecipe(a.recipe);
  const executor = await CodeExecutor.start(executorConfig(recipe, a.workers));
  try {
    if (a.proposals > 0) {
      const items = proposalPrompts(loadHeldOutPrograms(files.programs), recipe, a.proposals, recipe.trainer.seed);
      console.log(`proposal probe: ${items.length} proposals (${a.proposals} per task type, ${a.recipe} recipe prompts, temperature ${recipe.selfplay.temperature})`);
      const sampling = { maxNewTokens: recipe.data.maxResponseTokens, temperature: recipe.selfplay.temperature, topP: recipe.selfplay.topP, seed: recipe.trainer.seed };
      report.proposals = await probeProposals(items, { generate: (prompts) => engine.generate(prompts, sampling) }, executor, recipe);
    }
    if (a.samples > 0) report.samples = await samplesReport(a, recipe, engine, executor, records, data);
  } finally {
    await executor.close();
  }
  return report;
}

/** --samples k: k answers a task at the recipe's solver sampling, beside the greedy verdicts of this run's records. */
async function samplesReport(a: EvalArgs, recipe: Recipe, engine: RolloutEngine, executor: CodeExecutor, records: readonly ProblemRecord[], data: string): Promise<SamplesReport> {
  const greedy = new Map(records.map((r) => [r.id, r.correct] as const));
  const problems = execProblems({ suite: "tiny", data, limit: a.limit }).filter((p) => greedy.has(p.id));
  // trainer.seed + 1: the stream the figures in docs/tiny-model.md were drawn from
  const settings = { k: a.samples, maxNewTokens: recipe.data.maxResponseTokens, temperature: recipe.selfplay.temperature, topP: recipe.selfplay.topP, seed: recipe.trainer.seed + 1 };
  const report: SamplesReport = { k: a.samples, temperature: settings.temperature, topP: settings.topP, byType: {} };
  for (const type of TINY_TYPES) {
    const ofType = problems.filter((p) => p.check.type === type);
    if (!ofType.length) continue;
    const tasks = await sampleTasks(ofType, (p) => execPrompt(p, { chatTemplate: false }), (p, response) => checkExecResponse(executor, p, response),
      { generate: (prompts, o) => engine.generate(prompts, o) }, settings, (done) => process.stderr.write(`\rsamples: ${type} ${done}/${ofType.length} tasks`));
    process.stderr.write("\n");
    report.byType[type] = tallySamples(tasks.map((t, i) => ({ ...t, greedy: greedy.get(ofType[i].id) })));
  }
  return report;
}
