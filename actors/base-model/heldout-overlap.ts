/**
 * `node --import tsx actors/base-model/heldout-overlap.ts [--seed 1 --programs 200000] [--heldout data/tiny/heldout-programs.jsonl] <records.problems.jsonl ...>`
 *
 * How much of a held-out set a model could have memorised: regenerates the pretraining programs
 * (program i depends only on (seed, i), so the generator alone reproduces them; programs that later
 * failed execution are included, which can only over-count), marks each held-out program that
 * equals one of them up to whitespace and variable names (`programOverlapKey`), and splits `azr
 * eval --suite tiny` records (…problems.jsonl) into the overlapping and the clean tasks: accuracy
 * per task type on each, and for two or more record files the paired change of each against the
 * first on the clean tasks alone.
 * Covers: the report. Not: rebuilding the set (make-heldout.ts does, with the same key).
 */
import { readFileSync } from "node:fs";
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { programOverlapKey } from "../../azr/corpus/heldout.ts";
import { normalisedProgramKey } from "../../azr/pysource.ts";
import { generatePrograms } from "../../azr/corpus/programs.ts";
import { readRecords } from "../eval/runner.ts";

const TYPES = ["deduction", "abduction", "induction"] as const;

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
  const heldout = readFileSync(o.heldout, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as { id: string; source: string });
  const overlapping = new Set(heldout.filter((p) => byName.has(programOverlapKey(p.source))).map((p) => p.id));
  const sameText = heldout.filter((p) => byText.has(normalisedProgramKey(p.source))).length;
  console.log(`${o.programs} pretraining programs (seed ${o.seed}) regenerated in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`${o.heldout}: ${heldout.length} programs; equal to a pretraining program by text ${sameText}, up to variable names ${overlapping.size} (${(100 * overlapping.size / heldout.length).toFixed(1)}%)`);

  // record ids are "<programId>/<type>/<pair>"
  const split = (file: string) => {
    const recs = [...readRecords(file).values()].filter((r) => r.benchmark === "tiny");
    return TYPES.map((type) => {
      const mine = recs.filter((r) => String(r.id).split("/")[1] === type);
      const part = (clean: boolean) => mine.filter((r) => overlapping.has(String(r.id).split("/")[0]) !== clean);
      return { type, clean: part(true), overlap: part(false) };
    });
  };
  const pct = (rs: { correct: boolean }[]) => (rs.length ? (100 * rs.filter((r) => r.correct).length / rs.length).toFixed(1) : "-");
  const first = split(o.records[0]!);
  for (const file of o.records) {
    console.log(`\n${file}`);
    const mine = split(file);
    for (const [i, t] of mine.entries()) {
      let line = `  ${t.type.padEnd(9)}  clean ${pct(t.clean).padStart(5)}% of ${String(t.clean.length).padStart(4)}   overlapping ${pct(t.overlap).padStart(5)}% of ${String(t.overlap.length).padStart(4)}`;
      if (file !== o.records[0]) {
        const base = new Map(first[i]!.clean.map((r) => [r.id, r.correct]));
        const paired = t.clean.filter((r) => base.has(r.id));
        const gained = paired.filter((r) => r.correct && !base.get(r.id)).length, lost = paired.filter((r) => !r.correct && base.get(r.id)).length;
        line += `   clean change vs first ${((100 * (gained - lost)) / Math.max(1, paired.length)) >= 0 ? "+" : ""}${((100 * (gained - lost)) / Math.max(1, paired.length)).toFixed(1)} (gained ${gained}, lost ${lost})`;
      }
      console.log(line);
    }
  }
}

main();
