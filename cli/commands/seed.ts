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
import { existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { CommandModule } from "yargs";
import { identityInductionEntry, identityTriplet, inductionSeedLine, tripletSeedLine } from "../../azr/index.ts";
import { CodeExecutor } from "../../actors/code-executor/index.ts";
import { RolloutEngine } from "../../actors/rollout-engine.ts";
import { makeInductionSeeds, makeTripletSeeds } from "../../actors/selfplay/seeding.ts";
import { executorConfig, recipeOptions, RecipeSetupError, reportSetupErrors, rolloutConfig, runnableRecipe } from "./recipe-setup.ts";
import { signalExitCode } from "../../runtime/exit-status.ts";

export interface SeedArgs {
  recipe: string;
  set: string[];
  out?: string;
  count?: number;
  threads?: number;
  /** Replace seed files already in --out (without it they are refused: seeding starts from scratch, it does not add to them). */
  force?: boolean;
}

export interface SeedResult {
  triplets: { file: string; count: number };
  induction: { file: string; count: number };
}

/** Seeding stopped by a signal before anything was written (the handler's exit code is 128 + the signal's number). */
export class SeedInterruptedError extends Error {
  override name = "SeedInterruptedError";
  constructor(readonly signal: NodeJS.Signals, out: string, removed: boolean) {
    super(`stopped by ${signal}: no seed file was written (${removed ? `${out}, made by this run, removed` : `${out} left as it was`}); seeding starts over when run again`);
  }
}

/**
 * --out must be a folder or creatable as one: a file there, or under a file, failed in mkdir with a
 * stack trace. Returns the folders this run will make, deepest first (so an interrupted run can take them away again).
 */
function checkOutFolder(out: string): string[] {
  const missing: string[] = [];
  for (let p = out; ; p = dirname(p)) {
    if (existsSync(p)) {
      if (!statSync(p).isDirectory()) throw new RecipeSetupError(`--out ${out}: ${p} is a file, not a folder; give a folder for the seed files`);
      return missing;
    }
    missing.push(p);
    if (dirname(p) === p) return missing;
  }
}

/**
 * Makes the seed files. `stop` (the command's Ctrl-C / SIGTERM) ends seeding at once: the actors are
 * closed, nothing is written and a folder this run made is removed, then SeedInterruptedError.
 */
export async function seed(args: SeedArgs, log: (line: string) => void = (l) => console.log(l), stop?: Promise<NodeJS.Signals>): Promise<SeedResult> {
  // yargs passes "abc" through as NaN: NaN threads made onnxruntime start no lane and crash after the files were written.
  if (args.threads !== undefined && !(Number.isInteger(args.threads) && args.threads >= 1)) throw new RecipeSetupError(`--threads ${args.threads}: give a whole number ≥ 1 (onnxruntime threads; default: all cores)`);
  // Seeding needs the model and the executor only: no in-training evaluation to check.
  const recipe = await runnableRecipe(args.recipe, args.set, (r) => ({ ...r, eval: { ...r.eval, every: 0 } }));
  const target = args.count ?? recipe.seed.factor * recipe.selfplay.batchSize;
  if (!(Number.isInteger(target) && target >= 1)) throw new RecipeSetupError(`--count must be a positive integer, got ${args.count}`);
  const out = resolve(args.out ?? join("runs", "seeds", recipe.name));
  const made = checkOutFolder(out);
  // Refused before the model starts: the files of an earlier seeding (maybe hours of proposals)
  // were replaced without a word, and a run does not resume or extend them.
  const existing = [`${recipe.name}_seed_io.jsonl`, `${recipe.name}_code_f_seed_io.jsonl`].filter((f) => existsSync(join(out, f)));
  if (existing.length && !args.force)
    throw new RecipeSetupError(`--out ${out} already holds ${existing.join(" and ")}: seeding starts over and would replace ${existing.length > 1 ? "them" : "it"}; pass --force to replace, or give another --out`);
  mkdirSync(out, { recursive: true });
  log(`azr seed: recipe ${recipe.name}, model ${recipe.model.path}, ${target} triplets and ${target} induction entries at temperature ${recipe.seed.temperature} (at most ${recipe.seed.maxRounds} rounds of ${recipe.selfplay.batchSize} each) → ${out}`);

  const rollout = new RolloutEngine(rolloutConfig(recipe, args.threads ?? availableParallelism()));
  const executor = await CodeExecutor.start(executorConfig(recipe));
  let interrupted: NodeJS.Signals | undefined;
  try {
    const ports = { rollout, executor };
    const work = (async () => {
      const t = await makeTripletSeeds(recipe, ports, [identityTriplet()], target, log);
      const i = await makeInductionSeeds(recipe, ports, t.entries, [identityInductionEntry()], target, log);
      return { t, i };
    })();
    // After a stop the seeding still in flight fails as its actors close; that failure is expected.
    work.catch(() => {});
    const done = await Promise.race([work, ...(stop ? [stop.then((sig) => ({ sig }))] : [])]);
    if ("sig" in done) {
      interrupted = done.sig;
      throw new SeedInterruptedError(done.sig, out, made.length > 0); // the message is final once the folder is handled below
    }
    const { t, i } = done;
    const result: SeedResult = {
      triplets: { file: join(out, `${recipe.name}_seed_io.jsonl`), count: t.entries.length },
      induction: { file: join(out, `${recipe.name}_code_f_seed_io.jsonl`), count: i.entries.length },
    };
    // Both files are written under temporary names and renamed only once both are complete, so a
    // stop while writing leaves the earlier pair (or none), never a truncated file or a mixed pair.
    const parts = [
      [result.triplets.file, t.entries.map((x) => tripletSeedLine(x, t.originals.get(x))).join("\n") + "\n"],
      [result.induction.file, i.entries.map((x) => inductionSeedLine(x)).join("\n") + "\n"],
    ] as const;
    try {
      for (const [file, text] of parts) writeFileSync(`${file}.partial`, text);
      for (const [file] of parts) renameSync(`${file}.partial`, file);
    } finally {
      for (const [file] of parts) rmSync(`${file}.partial`, { force: true });
    }
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
    if (interrupted) for (const d of made) if (readdirSync(d).length === 0) rmdirSync(d);
  }
}


/**
 * Runs seeding with Ctrl-C / SIGTERM wired to a clean stop (a second signal quits at once). Without
 * this, Node's default exit on SIGINT left an empty --out folder, said nothing, and skipped the close.
 */
async function seedWithSignals(args: SeedArgs): Promise<void> {
  let onSignal!: (sig: NodeJS.Signals) => void;
  let stopping = false;
  const stop = new Promise<NodeJS.Signals>((r) => {
    onSignal = (sig) => {
      if (stopping) process.exit(signalExitCode(sig));
      stopping = true;
      console.error(`azr seed: ${sig}: stopping (send it again to quit at once)`);
      r(sig);
    };
  });
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    await seed(args, undefined, stop);
  } catch (e) {
    if (!(e instanceof SeedInterruptedError)) throw e;
    console.error(`azr seed: ${e.message}`);
    process.exitCode = signalExitCode(e.signal);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

export const seedCommand: CommandModule<object, SeedArgs> = {
  command: "seed",
  describe: "make seed files with the recipe's base model (identity seeds → model proposals validated by the executor); not resumable: each run starts from the identity seeds, and seed files already in --out are refused without --force",
  builder: (y) =>
    recipeOptions(y, "seed.maxRounds=20")
      .option("out", { type: "string", describe: "folder for <recipe>_seed_io.jsonl and <recipe>_code_f_seed_io.jsonl (default runs/seeds/<recipe>)" })
      .option("count", { type: "number", describe: "entries of each kind (default seed.factor × selfplay.batchSize)" })
      .option("threads", { type: "number", describe: "onnxruntime threads (ort engine)" })
      .option("force", { type: "boolean", default: false, describe: "replace seed files already in --out (seeding does not resume or add to them)" }) as never,
  handler: (argv) => reportSetupErrors("seed", () => seedWithSignals(argv)),
};
