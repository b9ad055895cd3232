/**
 * `azr seed`: model-made seed files (azr-spec §4.2; the reference's seeding scripts). The
 * recipe's base model proposes tasks, starting from the identity seeds, with no weight update;
 * the executor validates every proposal; the valid ones (exact de-duplication) are written in
 * the published seed JSONL format, S·B of each kind by default.
 *
 *   azr seed --recipe tiny --out runs/seeds/tiny
 *   azr selfplay --recipe tiny --set seed.dir=runs/seeds/tiny --set seed.triplets=tiny_seed_io.jsonl \
 *                --set seed.induction=tiny_code_f_seed_io.jsonl
 *
 * Covers: wiring recipe → in-process rollout engine and executor → seeding.ts → files. Not: the
 * seeding rules (actors/selfplay/seeding.ts), the driver's top-up (driver.ts, same functions).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import type { CommandModule } from "yargs";
import { identityInductionEntry, identityTriplet, inductionSeedLine, tripletSeedLine } from "../../azr/index.ts";
import { CodeExecutor } from "../../actors/code-executor/index.ts";
import { RolloutEngine } from "../../actors/rollout-engine.ts";
import { makeInductionSeeds, makeTripletSeeds } from "../../actors/selfplay/seeding.ts";
import { executorConfig, recipeOptions, RecipeSetupError, reportSetupErrors, rolloutConfig, runnableRecipe } from "./recipe-setup.ts";

export interface SeedArgs {
  recipe: string;
  set: string[];
  out?: string;
  count?: number;
  threads?: number;
}

export interface SeedResult {
  triplets: { file: string; count: number };
  induction: { file: string; count: number };
}

export async function seed(args: SeedArgs, log: (line: string) => void = (l) => console.log(l)): Promise<SeedResult> {
  // Seeding needs the model and the executor only: no in-training evaluation to check.
  const recipe = await runnableRecipe(args.recipe, args.set, (r) => ({ ...r, eval: { ...r.eval, every: 0 } }));
  const target = args.count ?? recipe.seed.factor * recipe.selfplay.batchSize;
  if (!(Number.isInteger(target) && target >= 1)) throw new RecipeSetupError(`--count must be a positive integer, got ${args.count}`);
  const out = resolve(args.out ?? join("runs", "seeds", recipe.name));
  mkdirSync(out, { recursive: true });
  log(`azr seed: recipe ${recipe.name}, model ${recipe.model.path}, ${target} triplets and ${target} induction entries at temperature ${recipe.seed.temperature} (at most ${recipe.seed.maxRounds} rounds of ${recipe.selfplay.batchSize} each) → ${out}`);

  const rollout = new RolloutEngine(rolloutConfig(recipe, args.threads ?? availableParallelism()));
  const executor = await CodeExecutor.start(executorConfig(recipe));
  try {
    const ports = { rollout, executor };
    const t = await makeTripletSeeds(recipe, ports, [identityTriplet()], target, log);
    const i = await makeInductionSeeds(recipe, ports, t.entries, [identityInductionEntry()], target, log);
    const result: SeedResult = {
      triplets: { file: join(out, `${recipe.name}_seed_io.jsonl`), count: t.entries.length },
      induction: { file: join(out, `${recipe.name}_code_f_seed_io.jsonl`), count: i.entries.length },
    };
    writeFileSync(result.triplets.file, t.entries.map((x) => tripletSeedLine(x, t.originals.get(x))).join("\n") + "\n");
    writeFileSync(result.induction.file, i.entries.map((x) => inductionSeedLine(x)).join("\n") + "\n");
    for (const [what, m] of [["triplets", t], ["induction entries", i]] as const) {
      const why = Object.entries(m.rejected).map(([r, n]) => `${r} ×${n}`).join(", ");
      log(`${what}: ${m.entries.length}/${target} (${m.made} made by the model in ${m.rounds} round(s)${why ? `; rejected: ${why}` : ""})`);
      if (m.entries.length < target) log(`  short of ${target}: seed.maxRounds = ${recipe.seed.maxRounds} ran out; raise it (--set seed.maxRounds=N) or use a stronger model`);
    }
    log(`wrote ${result.triplets.file} and ${result.induction.file}`);
    log(`use them: azr selfplay --recipe ${args.recipe} --set seed.dir=${out} --set seed.triplets=${recipe.name}_seed_io.jsonl --set seed.induction=${recipe.name}_code_f_seed_io.jsonl`);
    return result;
  } finally {
    await executor.close();
    await rollout.close();
  }
}

export const seedCommand: CommandModule<object, SeedArgs> = {
  command: "seed",
  describe: "make seed files with the recipe's base model (identity seeds → model proposals validated by the executor)",
  builder: (y) =>
    recipeOptions(y, "seed.maxRounds=20")
      .option("out", { type: "string", describe: "folder for <recipe>_seed_io.jsonl and <recipe>_code_f_seed_io.jsonl (default runs/seeds/<recipe>)" })
      .option("count", { type: "number", describe: "entries of each kind (default seed.factor × selfplay.batchSize)" })
      .option("threads", { type: "number", describe: "onnxruntime threads (ort engine)" }) as never,
  handler: (argv) => reportSetupErrors("seed", () => seed(argv)),
};
