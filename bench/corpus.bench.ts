/**
 * make bench-corpus: the tiny base model's corpus pipeline, each stage beside its natural peer in
 * the same run — running generated programs on inputs with our harness vs the sandboxed code
 * executor (self-play's path, same verdicts), and tokenising the corpus with our cached encoder vs
 * @huggingface/tokenizers (same ids). Also prints generation speed and survival.
 *
 * Options: --programs N (default 400; the executor peer runs the first quarter of them).
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { executePrograms } from "../actors/base-model/execute.ts";
import { ExecutorRunner, HarnessRunner } from "../actors/base-model/runners.ts";
import { formatCorpus, TINY_FORMAT_OPTIONS } from "../azr/corpus/format.ts";
import { generatePrograms } from "../azr/corpus/programs.ts";
import { CorpusEncoder, tokenizerConfig, tokenizerJson, trainBpe } from "../azr/corpus/tokenizer.ts";
import { report } from "./report.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const n = arg("--programs", 400);

let t0 = performance.now();
const programs = generatePrograms({ seed: 77, count: n });
const genPerS = n / ((performance.now() - t0) / 1000);

const harness = HarnessRunner.start({ workers: 2 });
const ours = await executePrograms(programs, harness, { seed: 77 });
await harness.close();

const executor = await ExecutorRunner.start({ workers: 2 });
const peerSet = programs.slice(0, Math.max(1, Math.floor(n / 4)));
const peer = await executePrograms(peerSet, executor, { seed: 77 });
await executor.close();
const oursOnPeerSet = ours.executed.filter((p) => peerSet.some((q) => q.id === p.id));
const agree = JSON.stringify(oursOnPeerSet) === JSON.stringify(peer.executed);

const texts = formatCorpus(ours.executed, 77, TINY_FORMAT_OPTIONS).map((e) => e.text);
const json = tokenizerJson(trainBpe(texts, { vocabSize: 1024 }));
const chars = texts.reduce((a, t) => a + t.length, 0);
const enc = new CorpusEncoder(json);
t0 = performance.now();
for (const t of texts) enc.encode(t);
const oursCharsPerS = chars / ((performance.now() - t0) / 1000);
const hf = new Tokenizer(json, tokenizerConfig());
t0 = performance.now();
for (const t of texts) hf.encode(t);
const hfCharsPerS = chars / ((performance.now() - t0) / 1000);

report({
  name: "corpus",
  peer: "code executor (sandboxed) / @huggingface/tokenizers",
  rows: [
    { metric: "program runs (harness vs executor)", unit: "runs/s", ours: ours.stats.runsPerSecond, peer: peer.stats.runsPerSecond },
    { metric: "tokenise corpus (CorpusEncoder vs HF)", unit: "Mchar/s", ours: oursCharsPerS / 1e6, peer: hfCharsPerS / 1e6 },
    { metric: "generate programs", unit: "programs/s", ours: genPerS, peer: null },
    { metric: "survival (kept / generated)", unit: "%", ours: 100 * ours.stats.survivalRate, peer: 100 * peer.stats.survivalRate },
  ],
  notes: [
    `${n} programs; the executor ran the first ${peerSet.length}; kept programs and pairs identical on those: ${agree}`,
    `harness failures by reason: ${JSON.stringify(ours.stats.failures)}; dropped: ${ours.stats.droppedFewPairs} too few pairs, ${ours.stats.droppedConstant} constant`,
    "same 2 worker processes on both sides; the executor adds bubblewrap, rlimits, audit hooks and integrity checks per task",
  ],
});
