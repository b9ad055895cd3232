/**
 * make bench-eval: how fast the 542 canonical HumanEval+ / MBPP+ solutions are scored (base +
 * plus tests, EvalPlus's rule) by our sandboxed eval workers vs EvalPlus-style scoring
 * re-created in Python (bench/peers/evalplus_style.py: a new process per problem under a
 * process pool, as EvalPlus does). Same machine, same worker count, both with their expected
 * outputs computed beforehand (each side caches them; that run is not timed).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadCodeBenchmark } from "../actors/eval/code-bench.ts";
import { CodeScorer, mapLimit } from "../actors/eval/code-score.ts";
import { benchmarksDir } from "../actors/eval/paths.ts";
import { findPython } from "../model/python.ts";
import { report } from "./report.ts";

const here = dirname(fileURLToPath(import.meta.url));
const workers = Number(process.env.EVAL_BENCH_WORKERS ?? availableParallelism());
const dir = benchmarksDir();
const problems = [...loadCodeBenchmark(dir, "humaneval+"), ...loadCodeBenchmark(dir, "mbpp+")];

// Ours: expected outputs first (cached in ~/.cache/azr/eval/code after the first run), then timed scoring.
const scorer = await CodeScorer.start({ workers });
await mapLimit(problems, workers * 2, (p) => scorer.groundTruth(p));
let t0 = performance.now();
const verdicts = await scorer.scoreMany(problems.map((p) => ({ problem: p, program: p.canonical })), workers * 2);
const oursSeconds = (performance.now() - t0) / 1000;
await scorer.close();
const oursPassed = verdicts.filter((v) => v.pass).length;

// Peer: the same problems, inputs and argument conversions, as a job file.
const tmp = join(here, "out", "eval-peer");
mkdirSync(tmp, { recursive: true });
const jobs = join(tmp, "jobs.json");
writeFileSync(jobs, JSON.stringify(problems.map((p) => ({
  id: p.id, program: p.canonical, entry: p.entry, base: p.inputs.base, plus: p.inputs.plus, tupleArgs: p.tupleArgs, atol: p.atol, oracle: p.oracle ?? null,
}))));
t0 = performance.now();
const peerOut = execFileSync(findPython().path, [join(here, "peers", "evalplus_style.py"), jobs, String(workers)], { encoding: "utf8", maxBuffer: 1 << 20 });
const peer = JSON.parse(peerOut.trim().split("\n").at(-1)!) as { passed: number; total: number; seconds: number };

report({
  name: "eval",
  peer: "EvalPlus-style, process per problem",
  rows: [
    { metric: "code scoring problems/s", unit: "problems/s", ours: problems.length / oursSeconds, peer: peer.total / peer.seconds },
    { metric: "canonical solutions passing", unit: "of 542", ours: oursPassed, peer: peer.passed, ratio: null },
  ],
  notes: [
    `${workers} workers each side; ours ${oursSeconds.toFixed(1)} s (sandboxed: bubblewrap, spare child per problem, outputs compared outside the program's process), peer ${peer.seconds.toFixed(1)} s (no sandbox)`,
    "the time is dominated by a few problems whose canonical solutions compute for seconds (Mbpp/392, Mbpp/255, Mbpp/599): both sides pay it",
  ],
});
