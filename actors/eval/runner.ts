/**
 * Running a suite: generate greedily in batches, score each answer as it comes, keep one JSONL
 * line per finished problem (so an interrupted run resumes where it stopped), and print a
 * progress line per batch (problems/s, running accuracy, ETA).
 *
 * Covers: batching, resume, progress, per-benchmark tallies. Not: what a problem is or how it
 * is scored (suites.ts), the model engine (the rollout engine actor does generation).
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import type { Prompt } from "../../azr/prompts.ts";

export interface ScoredAnswer {
  correct: boolean;
  detail?: string;
}

export interface SuiteItem {
  benchmark: string;
  id: string;
  prompt: Prompt;
  maxNewTokens: number;
  score(response: string): Promise<ScoredAnswer>;
}

/** One finished problem, as kept in the per-problem JSONL. */
export interface ProblemRecord {
  benchmark: string;
  id: string;
  correct: boolean;
  detail?: string;
  response: string;
}

export interface Generator {
  /** Greedy generations of the prompts, in any order, each with its prompt's index. */
  generate(prompts: Prompt[], maxNewTokens: number): AsyncIterable<{ index: number; text: string; skipped?: string }>;
}

export interface Tally {
  n: number;
  correct: number;
}

export interface RunOptions {
  batchSize: number;
  /** Per-problem JSONL: read first (finished problems are skipped), appended as problems finish. */
  recordFile?: string;
  log?: (line: string) => void;
}

const key = (benchmark: string, id: string) => `${benchmark}\u0000${id}`;

export function readRecords(file: string | undefined): Map<string, ProblemRecord> {
  const done = new Map<string, ProblemRecord>();
  if (!file || !existsSync(file)) return done;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as ProblemRecord;
      done.set(key(r.benchmark, r.id), r);
    } catch {
      /* a line cut by an interruption: that problem is run again */
    }
  }
  return done;
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/** Run every item (benchmark by benchmark, in the given order); returns the tallies per benchmark. */
export async function runSuite(items: readonly SuiteItem[], gen: Generator, o: RunOptions): Promise<Map<string, Tally>> {
  const log = o.log ?? ((l: string) => console.log(l));
  const done = readRecords(o.recordFile);
  const tallies = new Map<string, Tally>();
  const benchmarks = [...new Set(items.map((i) => i.benchmark))];
  for (const b of benchmarks) {
    const mine = items.filter((i) => i.benchmark === b);
    const t: Tally = { n: 0, correct: 0 };
    tallies.set(b, t);
    const todo: SuiteItem[] = [];
    for (const it of mine) {
      const r = done.get(key(b, it.id));
      if (r) {
        t.n++;
        t.correct += r.correct ? 1 : 0;
      } else todo.push(it);
    }
    if (t.n > 0) log(`[${b}] resuming: ${t.n}/${mine.length} already scored`);
    const start = Date.now();
    let fresh = 0;
    for (let at = 0; at < todo.length; at += o.batchSize) {
      const batch = todo.slice(at, at + o.batchSize);
      const maxNew = Math.max(...batch.map((i) => i.maxNewTokens));
      const scoring: Promise<void>[] = [];
      for await (const g of gen.generate(batch.map((i) => i.prompt), maxNew)) {
        const it = batch[g.index];
        scoring.push(
          (g.skipped !== undefined ? Promise.resolve({ correct: false, detail: g.skipped }) : it.score(g.text)).then((s) => {
            t.n++;
            fresh++;
            t.correct += s.correct ? 1 : 0;
            const rec: ProblemRecord = { benchmark: b, id: it.id, correct: s.correct, detail: s.detail, response: g.text };
            if (o.recordFile) appendFileSync(o.recordFile, JSON.stringify(rec) + "\n");
          }),
        );
      }
      await Promise.all(scoring);
      const secs = (Date.now() - start) / 1000;
      const rate = fresh / secs;
      log(`[${b}] ${t.n}/${mine.length}  ${rate.toFixed(2)} problems/s  pass@1 ${((100 * t.correct) / t.n).toFixed(1)}%  ETA ${clock((mine.length - t.n) / rate)}`);
    }
  }
  return tallies;
}
