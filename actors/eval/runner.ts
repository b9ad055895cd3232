/**
 * Running a suite: generate greedily in batches, score each answer as it comes, keep one JSONL
 * line per finished problem (so an interrupted run resumes where it stopped), and print a
 * progress line per batch (problems/s, running accuracy, ETA).
 *
 * Covers: batching, resume, progress, per-benchmark tallies. Not: what a problem is or how it
 * is scored (suites.ts), the model engine (the rollout engine actor does generation).
 */
import { createHash } from "node:crypto";
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
  /** Hash of the prompt and token budget that made the response (see {@link promptKey}); a
   * record whose hash differs from the item's now is stale and generated again. */
  prompt?: string;
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
  /** What the records depend on besides each prompt (the model's identity, the engine): written
   * as the record file's first line; resuming a file made with another one is refused
   * ({@link StaleRecordsError}), never silently reused. */
  fingerprint?: Record<string, unknown>;
  log?: (line: string) => void;
}

/** The record file was made by another model (or engine), or by a version that did not say. */
export class StaleRecordsError extends Error {
  override name = "StaleRecordsError";
}

/** Identity of what an item's response depends on: its prompt and new-token budget. */
export function promptKey(it: Pick<SuiteItem, "prompt" | "maxNewTokens">): string {
  return createHash("sha256").update(JSON.stringify([it.prompt, it.maxNewTokens])).digest("hex").slice(0, 16);
}

/** The header line of a record file, if it has one. */
export function readHeader(file: string | undefined): Record<string, unknown> | undefined {
  if (!file || !existsSync(file)) return undefined;
  const first = readFileSync(file, "utf8").split("\n").find((l) => l.trim());
  if (!first) return undefined;
  try {
    const h = (JSON.parse(first) as { header?: Record<string, unknown> }).header;
    return h && typeof h === "object" ? h : undefined;
  } catch {
    return undefined;
  }
}

/** Refuses a record file made under another fingerprint; starts an empty one with the header. */
function checkFingerprint(file: string, fingerprint: Record<string, unknown>, records: number): void {
  const have = readHeader(file);
  if (!have) {
    if (records > 0) throw new StaleRecordsError(`${file} holds ${records} records but does not say which model made them; give another --out (or delete it) to evaluate again`);
    appendFileSync(file, JSON.stringify({ header: fingerprint }) + "\n");
    return;
  }
  const keys = [...new Set([...Object.keys(have), ...Object.keys(fingerprint)])];
  const differ = keys.filter((k) => JSON.stringify(have[k]) !== JSON.stringify(fingerprint[k]));
  if (differ.length) {
    const show = (v: unknown) => (JSON.stringify(v) ?? "none").slice(0, 160);
    throw new StaleRecordsError(
      `${file} was made with another ${differ.join(", ")} (${differ.map((k) => `${k}: ${show(have[k])} there, ${show(fingerprint[k])} now`).join("; ")}); give another --out (or delete it) to evaluate this one`,
    );
  }
}

const key = (benchmark: string, id: string) => `${benchmark}\u0000${id}`;

export function readRecords(file: string | undefined): Map<string, ProblemRecord> {
  const done = new Map<string, ProblemRecord>();
  if (!file || !existsSync(file)) return done;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as ProblemRecord;
      if (typeof r.benchmark !== "string" || r.id === undefined) continue; // the header
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
  if (o.recordFile && o.fingerprint) checkFingerprint(o.recordFile, o.fingerprint, done.size);
  const tallies = new Map<string, Tally>();
  const benchmarks = [...new Set(items.map((i) => i.benchmark))];
  for (const b of benchmarks) {
    const mine = items.filter((i) => i.benchmark === b);
    const t: Tally = { n: 0, correct: 0 };
    tallies.set(b, t);
    const todo: SuiteItem[] = [];
    let stale = 0;
    for (const it of mine) {
      const r = done.get(key(b, it.id));
      if (r && r.prompt === promptKey(it)) {
        t.n++;
        t.correct += r.correct ? 1 : 0;
      } else {
        if (r) stale++;
        todo.push(it);
      }
    }
    if (t.n > 0) log(`[${b}] resuming: ${t.n}/${mine.length} already scored`);
    if (stale > 0) log(`[${b}] ${stale} earlier records were made with another prompt or token budget: generating them again`);
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
            const rec: ProblemRecord = { benchmark: b, id: it.id, correct: s.correct, detail: s.detail, response: g.text, prompt: promptKey(it) };
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
