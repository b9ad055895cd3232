/**
 * `node --import tsx actors/base-model/heldout-samples.ts --model data/tiny [--type deduction] [--k 8]`
 *
 * How much room a model leaves for self-play on the tiny held-out set: k sampled answers per task
 * at the recipe's solver temperature, scored with the executor, reported as
 *  - greedy:  the answer `azr eval` scores (temperature 0), for reference;
 *  - pass@1:  mean accuracy of one sample;
 *  - maj@k:   the most frequent of the k answers is right (ties: the first seen);
 *  - pass@k:  any of the k answers is right.
 * RL with an accuracy reward mostly sharpens a model's sampling distribution toward answers it can
 * already sample: maj@k is the usual estimate of how far that sharpening takes greedy accuracy, pass@k
 * its upper bound. A gap of a point or two between greedy and maj@k means a +5 from self-play must come
 * from answers the model cannot yet produce. Majority voting means something only where the right
 * answer is unique (deduction: one output); abduction's and induction's right answers differ in text,
 * so their maj@k understates what the samples hold.
 * Covers: the measurement. Not: intervals for maj@k (the report's are for greedy, azr eval).
 */
import { availableParallelism } from "node:os";
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { solverPrompt } from "../../azr/prompts.ts";
import { readSolver } from "../../azr/responses.ts";
import { loadRecipe } from "../../recipes/index.ts";
import { executorConfig } from "../../cli/commands/recipe-setup.ts";
import { CodeExecutor } from "../code-executor/index.ts";
import { loadTinyHeldOut, type ExecProblem } from "../eval/file-bench.ts";
import { RolloutEngine } from "../rollout-engine.ts";
import { TINY_TYPES } from "../eval/tiny-suite.ts";

/** One task's answers: the greedy one's verdict, then each sample's extracted answer (undefined: none) and verdict. */
export interface TaskSamples { answers: (string | undefined)[]; correct: boolean[]; greedy?: boolean }

/** Task counts (pass@1 a sum of per-task fractions), and the mean number of distinct answers a task. */
export function tallySamples(tasks: readonly TaskSamples[]): { greedy: number; pass1: number; majK: number; passK: number; rescuable: number; distinct: number } {
  const majorityRight = (t: TaskSamples): boolean => {
    const counts = new Map<string, { n: number; correct: boolean }>();
    t.answers.forEach((ans, i) => {
      if (ans === undefined) return; // no answer is no vote
      const c = counts.get(ans) ?? { n: 0, correct: t.correct[i] };
      c.n++;
      counts.set(ans, c);
    });
    let best: { n: number; correct: boolean } | undefined;
    for (const c of counts.values()) if (!best || c.n > best.n) best = c; // a tie goes to the answer seen first
    return best?.correct ?? false;
  };
  return {
    greedy: tasks.filter((t) => t.greedy).length,
    pass1: tasks.reduce((s, t) => s + (t.correct.length ? t.correct.filter(Boolean).length / t.correct.length : 0), 0),
    majK: tasks.filter(majorityRight).length,
    passK: tasks.filter((t) => t.correct.some(Boolean)).length,
    // greedy wrong, some sample right: what sharpening toward right answers could still flip
    rescuable: tasks.filter((t) => !t.greedy && t.correct.some(Boolean)).length,
    distinct: tasks.length ? tasks.reduce((s, t) => s + new Set(t.answers.filter((x) => x !== undefined)).size, 0) / tasks.length : 0,
  };
}

async function main(): Promise<void> {
  const a = yargs(hideBin(process.argv))
    .option("model", { type: "string", default: "data/tiny", describe: "model folder (Hugging Face layout)" })
    .option("data", { type: "string", default: "data/tiny/heldout.jsonl", describe: "the held-out tasks" })
    .option("type", { choices: TINY_TYPES, default: "deduction" as const, describe: "the task type to sample" })
    .option("k", { type: "number", default: 8, describe: "samples per task" })
    .option("limit", { type: "number", describe: "first N tasks of the type" })
    .option("recipe", { type: "string", default: "tiny", describe: "the recipe whose solver sampling (temperature, top-p, response budget) is used" })
    .option("batch-size", { type: "number", default: 16 })
    .strict()
    .parseSync();
  if (!Number.isInteger(a.k) || a.k < 1) throw new Error(`--k ${a.k}: give a whole number ≥ 1`);
  const recipe = await loadRecipe(a.recipe);
  const problems = loadTinyHeldOut(a.data).filter((p) => p.check.type === a.type).slice(0, a.limit);
  if (!problems.length) throw new Error(`${a.data}: no ${a.type} tasks`);
  const engine = new RolloutEngine({ modelDir: a.model, engine: "ort", maxPromptTokens: 1 << 20, threads: availableParallelism(), maxBatch: a.batchSize });
  const executor = await CodeExecutor.start(executorConfig(recipe));
  const started = Date.now();
  try {
    const tasks: TaskSamples[] = problems.map(() => ({ answers: new Array<string | undefined>(a.k), correct: new Array<boolean>(a.k).fill(false) }));
    const prompt = (p: ExecProblem) => solverPrompt(p.prompt, { variant: "compact", chatTemplate: false, rejectMultipleFunctions: true });
    const score = async (p: ExecProblem, text: string): Promise<{ answer?: string; correct: boolean }> => {
      const { answer } = readSolver(p.check.type, text, { formatCheck: false });
      if (answer === undefined) return { correct: false };
      for await (const v of executor.checkAnswers([{ task: p.check, answer }])) return { answer, correct: v.score === 1 };
      return { answer, correct: false };
    };
    // greedy first (what azr eval scores), then k samples of each task, in chunks so progress shows
    const maxNewTokens = recipe.data.maxResponseTokens;
    const rounds = [{ temperature: 0, copies: 1 }, { temperature: recipe.selfplay.temperature, copies: a.k }];
    for (const [r, round] of rounds.entries()) {
      const chunk = 256;
      for (let from = 0; from < problems.length; from += chunk) {
        const part = problems.slice(from, from + chunk);
        const prompts = part.flatMap((p) => Array.from({ length: round.copies }, () => prompt(p)));
        const pending: Promise<void>[] = [];
        for await (const g of engine.generate(prompts, { maxNewTokens, temperature: round.temperature, topP: recipe.selfplay.topP, seed: recipe.trainer.seed + r, firstIndex: from * round.copies })) {
          const t = from + Math.floor(g.index / round.copies);
          pending.push(score(problems[t], g.text).then((s) => {
            if (r === 0) tasks[t].greedy = s.correct;
            else { tasks[t].answers[g.index % round.copies] = s.answer; tasks[t].correct[g.index % round.copies] = s.correct; } // by sample slot: the order samples finish in varies
          }));
        }
        await Promise.all(pending);
        process.stderr.write(`\r${r === 0 ? "greedy" : `k=${a.k} samples`}: ${Math.min(from + chunk, problems.length)}/${problems.length} tasks (${((Date.now() - started) / 1000).toFixed(0)} s)`);
      }
      process.stderr.write("\n");
    }
    const t = tallySamples(tasks);
    const pct = (n: number) => `${((100 * n) / problems.length).toFixed(1)}%`;
    console.log(`${a.model}, ${problems.length} ${a.type} tasks, k = ${a.k} at temperature ${recipe.selfplay.temperature} (top-p ${recipe.selfplay.topP}), ${((Date.now() - started) / 1000).toFixed(0)} s`);
    console.log(`| greedy | pass@1 | maj@${a.k} | pass@${a.k} | greedy wrong, a sample right | distinct answers a task |`);
    console.log(`|---|---|---|---|---|---|`);
    console.log(`| ${pct(t.greedy)} | ${pct(t.pass1)} | ${pct(t.majK)} | ${pct(t.passK)} | ${pct(t.rescuable)} | ${t.distinct.toFixed(2)} |`);
  } finally {
    await executor.close();
    await engine.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: unknown) => {
    console.error(`heldout-samples: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
