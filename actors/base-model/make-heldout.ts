/**
 * `node --import tsx actors/base-model/make-heldout.ts --out <dir> --pretraining <corpus>/programs.jsonl --eval-programs N`
 *
 * A larger held-out set for a model that already exists. make-corpus draws the held-out set first
 * and removes its programs from pretraining; here pretraining is fixed, so it goes the other way:
 * the held-out generator (same seed, more programs: program i depends only on the seed and i)
 * keeps only programs equal to no pretraining program, up to whitespace and variable names
 * (`programOverlapKey`); make-corpus's own set, filtered the same way, is then a subset of it, not
 * necessarily its prefix (of data/tiny's 370, 156 survive: its corpus had only text-equal copies removed). A wider set narrows the 95% intervals (±5 points at 370 tasks a type,
 * ±2.5 at ~1,500), which is what telling a self-play change from noise needs.
 *
 * Writes into <dir>: heldout.jsonl, heldout-programs.jsonl, heldout-baselines.json (the trivial
 * baselines, constants learned from the pretraining programs as make-corpus does) — the three
 * files `azr eval --suite tiny` reads beside a model (`--data` for the tasks alone).
 * Covers: building and writing the set. Not: scoring a model (azr eval).
 */
import { createReadStream, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { TINY_FORMAT_OPTIONS, type ExecutedProgram } from "../../azr/corpus/format.ts";
import { dedupeBySource, heldOutTasks, withoutHeldOut } from "../../azr/corpus/heldout.ts";
import { generatePrograms } from "../../azr/corpus/programs.ts";
import { executePrograms } from "./execute.ts";
import { scoreBaselines, type BaselineReport } from "./heldout.ts";
import { baselineLines, progress } from "./make-corpus.ts";
import { startPairRunner, type RunnerKind } from "./runners.ts";

export interface MakeHeldOutOptions {
  out: string;
  /** The pretraining programs (make-corpus's programs.jsonl) the model was trained on. */
  pretraining: string;
  evalSeed: number;
  evalPrograms: number;
  workers: number;
  runner?: RunnerKind;
  log?: ((line: string) => void) | null;
}

export interface HeldOutStats {
  heldOutTasks: Record<string, number>;
  /** Held-out programs dropped: duplicates of each other, equal to a pretraining program. */
  removedDuplicates: number;
  removedForOverlap: number;
  baselines: BaselineReport;
  seconds: number;
}

/** make-corpus's programs.jsonl, line by line (a 200k-program file is ~0.5 GB of text). */
export async function readPrograms(path: string): Promise<ExecutedProgram[]> {
  const out: ExecutedProgram[] = [];
  const stream = createReadStream(path, "utf8");
  const failed = new Promise<never>((_, reject) => stream.once("error", (e) => reject(new Error(`cannot read pretraining programs ${path}: ${e.message} (make-corpus writes programs.jsonl into its --out folder)`))));
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  const reading = (async () => {
    let n = 0;
    for await (const line of lines) {
      n++;
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line) as ExecutedProgram);
      } catch (e) {
        throw new Error(`${path}:${n}: not a JSON program line (${(e as Error).message})`);
      }
    }
  })();
  await Promise.race([reading, failed]);
  return out;
}

export async function makeHeldOut(o: MakeHeldOutOptions): Promise<HeldOutStats> {
  const log = o.log === undefined ? (line: string) => process.stderr.write(line + "\n") : o.log;
  const t0 = performance.now();
  const train = await readPrograms(o.pretraining);
  if (train.length === 0) throw new Error(`${o.pretraining} has no programs`);
  if (train.some((p) => p.id.startsWith(`${o.evalSeed}:`))) throw new Error(`--eval-seed ${o.evalSeed} generated pretraining programs in ${o.pretraining}: the held-out set must come from another seed`);
  log?.(`pretraining programs: ${train.length} from ${o.pretraining}`);
  mkdirSync(o.out, { recursive: true });
  const runner = await startPairRunner(o.runner ?? "executor", { workers: o.workers });
  try {
    const generated = generatePrograms({ seed: o.evalSeed, count: o.evalPrograms });
    const executed = await executePrograms(generated, runner, { seed: o.evalSeed, onProgress: progress(log, "held-out") });
    const unique = dedupeBySource(executed.executed);
    // The reverse of make-corpus's filter: the model is fixed, so held-out programs it saw are the ones to drop.
    const unseen = withoutHeldOut(unique.kept, train);
    const tasks = heldOutTasks(unseen.kept, TINY_FORMAT_OPTIONS.proposer.nInputs);
    const baselines = await scoreBaselines(tasks, unseen.kept, train, runner);
    const counts: Record<string, number> = {};
    for (const t of tasks) counts[t.type] = (counts[t.type] ?? 0) + 1;
    writeFileSync(join(o.out, "heldout-programs.jsonl"), unseen.kept.map((p) => JSON.stringify(p)).join("\n") + "\n");
    writeFileSync(join(o.out, "heldout.jsonl"), tasks.map((t) => JSON.stringify(t)).join("\n") + "\n");
    const stats: HeldOutStats = { heldOutTasks: counts, removedDuplicates: unique.removed, removedForOverlap: unseen.removed, baselines, seconds: (performance.now() - t0) / 1000 };
    writeFileSync(join(o.out, "heldout-baselines.json"), JSON.stringify({ heldOutTasks: counts, baselines, evalSeed: o.evalSeed, evalPrograms: o.evalPrograms, removedDuplicates: unique.removed, removedForOverlap: unseen.removed }, null, 2) + "\n");
    return stats;
  } finally {
    await runner.close();
  }
}

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName("make-heldout")
    .usage("$0 --out <dir> --pretraining <programs.jsonl> [--eval-programs N]: a (larger) held-out set for an existing tiny model")
    .option("out", { type: "string", demandOption: true, describe: "output directory (created if missing)" })
    .option("pretraining", { type: "string", demandOption: true, describe: "make-corpus's programs.jsonl that the model was pretrained on" })
    .option("eval-seed", { type: "number", default: 1_000_003, describe: "generator seed of the held-out set (make-corpus's default)" })
    .option("eval-programs", { type: "number", default: 2000, describe: "held-out programs to generate (before filtering; `make base-model` uses 3,400)" })
    .option("workers", { type: "number", default: 2, describe: "Python processes running programs" })
    .option("runner", { choices: ["executor", "harness"] as const, default: "executor" as const, describe: "executor: the sandboxed executor; harness: faster unsandboxed runner (same verdicts)" })
    .strict()
    .help()
    .parse();
  const s = await makeHeldOut({ out: argv.out, pretraining: argv.pretraining, evalSeed: argv["eval-seed"], evalPrograms: argv["eval-programs"], workers: argv.workers, runner: argv.runner });
  const lines = [`held-out tasks: ${JSON.stringify(s.heldOutTasks)}; programs dropped: ${s.removedDuplicates} duplicates, ${s.removedForOverlap} seen in pretraining`, ...baselineLines(s.baselines)];
  process.stdout.write(lines.join("\n") + `\nwritten to ${argv.out} in ${s.seconds.toFixed(1)} s\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: unknown) => {
    process.stderr.write(`make-heldout: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
