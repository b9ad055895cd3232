/**
 * `node --import tsx actors/base-model/average-checkpoints.ts --out <dir> <model folder> <model folder> …`
 *
 * A probe of the tiny model's self-play (docs/tiny-model.md): the uniform average of several
 * checkpoints' weights (e.g. a run's `checkpoints/step-40/learner` … `step-60/learner`, kept with
 * `--set trainer.keepCheckpoints=20`), written as a model folder `azr eval` reads — to see whether
 * averaging away the step-to-step churn of which tasks a run gets right raises held-out accuracy.
 * Covers: averaging same-shaped models (in float64, written fp32) and copying the tokenizer.
 * Not: averaging optimiser state, or weighting (EMA).
 */
import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { loadModel, saveModel, type Weights } from "../../model/checkpoint.ts";

const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json"];

function main(): void {
  const a = yargs(hideBin(process.argv))
    .usage("$0 --out <dir> <model folder> <model folder> …")
    .option("out", { type: "string", demandOption: true, describe: "the new model folder (must not exist)" })
    .option("tokenizer-from", { type: "string", default: "data/tiny", describe: "folder whose tokenizer files the new model gets" })
    .demandCommand(2, "name two or more model folders (config.json + model.safetensors) to average")
    .strict()
    .parseSync();
  if (existsSync(a.out)) throw new Error(`${a.out} exists: give a new folder`);
  const dirs = a._.map(String);
  const first = loadModel(dirs[0]!);
  const sums = new Map([...first.weights].map(([name, w]) => [name, Float64Array.from(w)]));
  for (const dir of dirs.slice(1)) {
    const { weights } = loadModel(dir); // checks every tensor's presence and shape against its config
    for (const [name, s] of sums) {
      const w = weights.get(name)!;
      if (w.length !== s.length) throw new Error(`${dir}: ${name} has ${w.length} values, ${dirs[0]} has ${s.length}: not the same model`);
      for (let i = 0; i < w.length; i++) s[i] += w[i]!;
    }
  }
  const mean: Weights = new Map([...sums].map(([name, s]) => [name, Float32Array.from(s, (x) => x / dirs.length)]));
  saveModel(a.out, first.config, mean);
  for (const f of TOKENIZER_FILES) if (existsSync(join(a["tokenizer-from"], f))) copyFileSync(join(a["tokenizer-from"], f), join(a.out, f));
  console.log(`${a.out}: the mean of ${dirs.length} models' ${sums.size} tensors`);
}

main();
