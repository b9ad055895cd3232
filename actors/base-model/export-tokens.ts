/**
 * The pretraining corpus as flat token files, for trainers that are not in this process: the torch
 * pretraining script (`model/torch/azr_torch/pretrain.py`, e.g. on a GPU machine with no Node.js)
 * reads them with NumPy. Same tokenization and loss weights as the ORT pretraining loop.
 *
 * Writes into <dir>: `ids.u16.gz` (every example's ids, eos included, back to back; uint16 LE),
 * `weights.u8.gz` (per id: index into `weightTable`), `lengths.u32.gz` (ids per example, corpus
 * order = curriculum order) and `tokens.json` (counts, vocab, eos, weight table). gzip because
 * Python reads it with its standard library and the ids of generated code compress ~4×.
 *
 * Covers: the files. Not: batching or training (the trainer's).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { loadExamples } from "./pretrain.ts";
import { DEFAULT_SEGMENT_WEIGHTS } from "../../azr/corpus/training-data.ts";

export interface TokenFilesMeta {
  examples: number;
  tokens: number;
  vocab: number;
  eos: number;
  maxSeqTokens: number;
  dropped: number;
  /** weights.u8 holds indices into this table. */
  weightTable: number[];
}

export function exportTokenFiles(corpusDir: string, outDir: string, maxSeqTokens: number, log: (s: string) => void = () => {}): TokenFilesMeta {
  const { examples, vocab, eos, dropped } = loadExamples({ corpusDir, maxSeqTokens, log });
  if (vocab > 65536) throw new Error(`vocabulary of ${vocab} ids does not fit uint16 token files`);
  const weightTable = [...new Set(Object.values(DEFAULT_SEGMENT_WEIGHTS))].sort((a, b) => a - b);
  const tokens = examples.reduce((a, e) => a + e.ids.length, 0);
  const ids = new Uint16Array(tokens);
  const codes = new Uint8Array(tokens);
  const lengths = new Uint32Array(examples.length);
  let at = 0;
  examples.forEach((e, i) => {
    lengths[i] = e.ids.length;
    for (let j = 0; j < e.ids.length; j++) {
      ids[at] = e.ids[j];
      const code = weightTable.indexOf(e.weights[j]);
      if (code < 0) throw new Error(`example ${i}: loss weight ${e.weights[j]} is not in the weight table ${weightTable.join(", ")}`);
      codes[at++] = code;
    }
  });
  mkdirSync(outDir, { recursive: true });
  const le = (a: Uint16Array | Uint32Array | Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength); // x86/arm: little-endian
  writeFileSync(join(outDir, "ids.u16.gz"), gzipSync(le(ids), { level: 9 }));
  writeFileSync(join(outDir, "weights.u8.gz"), gzipSync(le(codes), { level: 9 }));
  writeFileSync(join(outDir, "lengths.u32.gz"), gzipSync(le(lengths), { level: 9 }));
  const meta: TokenFilesMeta = { examples: examples.length, tokens, vocab, eos, maxSeqTokens, dropped, weightTable };
  writeFileSync(join(outDir, "tokens.json"), JSON.stringify(meta, null, 2) + "\n");
  log(`token files: ${examples.length} examples, ${tokens} tokens → ${outDir}`);
  return meta;
}

async function main(): Promise<void> {
  const { default: yargs } = await import("yargs");
  const { hideBin } = await import("yargs/helpers");
  const argv = await yargs(hideBin(process.argv))
    .scriptName("export-tokens")
    .usage("$0 --corpus <make-corpus dir> --out <dir>: the corpus as gzip'd token files for the torch pretraining script")
    .option("corpus", { type: "string", demandOption: true, describe: "folder written by make-corpus.ts" })
    .option("out", { type: "string", demandOption: true, describe: "output folder (created if missing)" })
    .option("max-seq-tokens", { type: "number", default: 1024, describe: "examples longer than this are dropped (as the ORT loop does)" })
    .strict()
    .help()
    .parse();
  exportTokenFiles(argv.corpus, argv.out, argv["max-seq-tokens"], (s) => console.log(s));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: unknown) => {
    process.stderr.write(`export-tokens: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
