/**
 * `node --import tsx actors/base-model/heldout-overlap.ts [--seed 1 --programs 200000] [--heldout data/tiny/heldout-programs.jsonl] <records.problems.jsonl ...>`
 *
 * How much of a held-out set a model could have memorised: regenerates the pretraining programs
 * (program i depends only on (seed, i), so the generator alone reproduces them; programs that later
 * failed execution are included, which can only over-count), marks each held-out program that
 * equals one of them up to whitespace and variable names (`programOverlapKey`), and splits `azr
 * eval --suite tiny` records (…problems.jsonl) into the overlapping and the clean tasks: accuracy
 * per task type on each, and for two or more record files the paired change of each against the
 * first on the clean tasks alone (the tiny suite's tallies: azr eval --compare's table).
 * Covers: the report. Not: rebuilding the set (make-heldout.ts does, with the same key).
 */
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { programOverlapKey, type Accuracy } from "../../azr/corpus/heldout.ts";
import { normalisedProgramKey } from "../../azr/pysource.ts";
import { generatePrograms } from "../../azr/corpus/programs.ts";
import { readRecords } from "../eval/runner.ts";
import { readJsonl } from "../eval/code-bench.ts";
import { accuracyByType, compareByType, formatComparison, recordProgramId, TINY_TYPES } from "../eval/tiny-suite.ts";

interface Args { seed: number; programs: number; heldout: string; records: string[] }

function parse(): Args {
  const a = yargs(hideBin(process.argv))
    .usage("$0 [options] <records.problems.jsonl ...>")
    .option("seed", { type: "number", default: 1, describe: "the pretraining corpus's generator seed (data/tiny/pretraining.json: corpus.seed)" })
    .option("programs", { type: "number", default: 200_000, describe: "programs generated for pretraining (corpus.programs)" })
    .option("heldout", { type: "string", default: "data/tiny/heldout-programs.jsonl", describe: "the held-out programs (make-heldout's heldout-programs.jsonl)" })
    .demandCommand(1, "name at least one azr eval records file (<out>.problems.jsonl)")
    .strict()
    .parseSync();
  return { seed: a.seed, programs: a.programs, heldout: a.heldout, records: a._.map(String) };
}

function main(): void {
  const o = parse();
  const t0 = Date.now();
  const byName = new Set<string>(), byText = new Set<string>();
  for (const p of generatePrograms({ seed: o.seed, count: o.programs })) {
    byName.add(programOverlapKey(p.source));
    byText.add(normalisedProgramKey(p.source));
  }
  const heldout = readJsonl<{ id: string; source: string }>(o.heldout).map(({ row }) => row);
  const overlapping = new Set(heldout.filter((p) => byName.has(programOverlapKey(p.source))).map((p) => p.id));
  const sameText = heldout.filter((p) => byText.has(normalisedProgramKey(p.source))).length;
  console.log(`${o.programs} pretraining programs (seed ${o.seed}) regenerated in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`${o.heldout}: ${heldout.length} programs; equal to a pretraining program by text ${sameText}, up to variable names ${overlapping.size} (${(100 * overlapping.size / heldout.length).toFixed(1)}%)`);

  // split by the record's program; the tiny suite's own tallies then serve each part
  const parts = (file: string) => {
    const recs = [...readRecords(file).values()].filter((r) => r.benchmark === "tiny");
    return { clean: recs.filter((r) => !overlapping.has(recordProgramId(r))), overlap: recs.filter((r) => overlapping.has(recordProgramId(r))) };
  };
  const pct = (a: Accuracy) => (100 * a.accuracy).toFixed(1);
  const first = parts(o.records[0]!);
  for (const file of o.records) {
    console.log(`\n${file}`);
    const mine = parts(file);
    const [clean, overlap] = [accuracyByType(mine.clean), accuracyByType(mine.overlap)];
    for (const t of TINY_TYPES) {
      console.log(`  ${t.padEnd(9)}  clean ${pct(clean[t]).padStart(5)}% of ${String(clean[t].total).padStart(4)}   overlapping ${pct(overlap[t]).padStart(5)}% of ${String(overlap[t].total).padStart(4)}`);
    }
    if (file !== o.records[0]) console.log(formatComparison(`${o.records[0]}, clean tasks only`, compareByType(first.clean, mine.clean)));
  }
}

main();
