/**
 * Continuous batched generation: up to `maxBatch` sequences decode together, one step per token;
 * a sequence that finishes (eos, stop string, length) is yielded at once and leaves the batch,
 * cache included, and the next waiting prompt is prefilled and joins in its place, so the batch
 * stays full until the queue runs dry. An eos token is kept in `tokens` and `logprobs` (so
 * training sees the stop) and left out of `text`. Each sequence samples from its own seeded
 * stream, so which sequences share a batch changes a result only through rounding (a row's
 * padding moves its sums' last bits, which can tip a sample now and then); a run repeats exactly.
 * Covers: the loop over ModelSessions + KvCache + sampler + stop strings. Not: threads (the
 * engine runs this inside its worker), queueing across requests.
 */
import type { Generation, GenerateRequest } from "../engine.ts";
import type { ModelSessions } from "../ort/session.ts";
import { checkTokenIds, leftPad } from "../ort/batch.ts";
import { KvCache, prefilledRow, type PrefilledRow } from "../ort/kv-cache.ts";
import { Rng, sampleToken, type Sampler } from "./sampling.ts";
import { StopChecker, type Decode } from "./stop.ts";
import type { PromptFeed } from "./feed.ts";

/** Columns the KV cache grows by at least (it doubles beyond that). */
const MIN_GROWTH = 32;

interface Live {
  index: number; // into req.prompts
  row: number; // row in the current batch
  promptLen: number;
  tokens: number[];
  logprobs: number[];
  rng: Rng;
}

export interface LoopOptions {
  eosTokenIds: number[];
  /** Token ids → text; without it, stop strings are refused and `text` is empty. */
  decode?: Decode;
  signal?: AbortSignal;
  /** Sequences decoded together at most (default: all prompts at once). */
  maxBatch?: number;
  /**
   * Which of req.prompts to decode, in admission order, when this call is one lane's share of the
   * request (default: all). Generation.index and the sampling stream follow the request-wide
   * index, so a sequence's tokens do not depend on how the request was split.
   */
  indices?: number[];
  /** More indices to decode that arrive while this runs; the loop waits for them until it closes. */
  feed?: PromptFeed;
}

export async function* generateBatch(s: ModelSessions, req: GenerateRequest, opts: LoopOptions): AsyncGenerator<Generation> {
  const stops = req.stop ?? [];
  if (stops.length && !opts.decode) throw new Error("stop strings need a tokenizer (no tokenizer.json in the model directory)");
  if (req.prompts.some((p) => p.length === 0)) throw new Error("generate: every prompt needs at least one token");
  checkTokenIds("generate", req.prompts, s.config.vocabSize);
  if (!(Number.isInteger(req.maxNewTokens) && req.maxNewTokens >= 1)) throw new Error(`generate: maxNewTokens must be an integer ≥ 1, got ${req.maxNewTokens}`);
  if (req.temperature !== undefined && !(req.temperature >= 0 && Number.isFinite(req.temperature))) throw new Error(`generate: temperature must be ≥ 0 (0 = greedy), got ${req.temperature}`);
  if (req.topK !== undefined && !(Number.isInteger(req.topK) && req.topK >= 0)) throw new Error(`generate: topK must be an integer ≥ 0 (0 = off), got ${req.topK}`);
  if (req.topP !== undefined && !(req.topP > 0 && req.topP <= 1)) throw new Error(`generate: topP must be in (0, 1], got ${req.topP}`);
  const longest = Math.max(0, ...req.prompts.map((p) => p.length));
  if (longest + req.maxNewTokens > s.maxPositions)
    throw new Error(`prompt (${longest} tokens) + maxNewTokens (${req.maxNewTokens}) exceeds the engine's maxPositions ${s.maxPositions}; start the engine with a larger maxPositions`);
  const sampler: Sampler = { temperature: req.temperature ?? 0, topK: req.topK ?? 0, topP: req.topP ?? 1 };
  const seed = req.seed ?? 0;
  const firstIndex = req.firstIndex ?? 0;
  const eos = new Set(opts.eosTokenIds);
  const stop = new StopChecker(stops, opts.decode ?? (() => ""));
  const V = s.config.vocabSize;
  const maxBatch = Math.max(1, opts.maxBatch ?? req.prompts.length);
  // The prompts this call decodes (request-wide indices), in admission order; a feed appends.
  const order: number[] = [];
  const feed = opts.feed;
  // Equal prompts (self-play samples each task several times) are prefilled once: a prefill is
  // kept while a prompt equal to it still waits in `order`. A row's numbers depend on its batch
  // only through rounding (its left padding shifts how the kernels group their sums), so a reused
  // prefill is the prompt's own up to the last bits, as a prefill in another batch would be.
  const keyOf: string[] = []; // request-wide prompt index → its key, made once at enqueue
  const waiting = new Map<string, number>(); // prompt → admissions still to come
  const prefilled = new Map<string, PrefilledRow>();
  const enqueue = (indices: number[]) => {
    for (const i of indices) {
      if (!(Number.isInteger(i) && i >= 0 && i < req.prompts.length)) throw new Error(`generate: prompt index ${i} is outside the request's ${req.prompts.length} prompts`);
      order.push(i);
      const key = (keyOf[i] ??= req.prompts[i].join(","));
      waiting.set(key, (waiting.get(key) ?? 0) + 1);
    }
  };
  enqueue(opts.indices ?? req.prompts.map((_, i) => i));

  const finish = (l: Live, reason: Generation["finishReason"], keep = l.tokens.length, text?: string): Generation => {
    const tokens = l.tokens.slice(0, keep);
    return {
      index: l.index,
      tokens,
      text: text ?? (opts.decode ? opts.decode(tokens) : ""),
      logprobs: Float32Array.from(l.logprobs.slice(0, keep)),
      finishReason: reason,
    };
  };

  /** Samples each row's next token; returns the finished generations and the rows still going. */
  const sampleAll = (rows: Live[], logprobs: Float32Array) => {
    const done: Generation[] = [], still: Live[] = [];
    for (const l of rows) {
      const row = logprobs.subarray(l.row * V, (l.row + 1) * V);
      const tok = sampleToken(row, sampler, l.rng);
      l.tokens.push(tok);
      l.logprobs.push(row[tok]);
      const m = eos.has(tok) ? undefined : stop.check(l.tokens);
      if (eos.has(tok)) done.push(finish(l, "eos", l.tokens.length, opts.decode ? opts.decode(l.tokens.slice(0, -1)) : ""));
      else if (m) done.push(finish(l, "stop", m.keep, m.text));
      else if (l.tokens.length >= req.maxNewTokens) done.push(finish(l, "length"));
      else still.push(l);
    }
    return { done, still };
  };

  const cache = new KvCache(s.config, 0, 0);
  let live: Live[] = [];
  let next = 0; // next entry of `order` to admit
  for (;;) {
    // session.run holds the thread while it computes: yield once per step so messages (abort,
    // fed prompts, new requests) get read between steps.
    await new Promise((r) => setImmediate(r));
    opts.signal?.throwIfAborted();
    // Fed prompts are taken right before deciding whether to stop: one may have come with the
    // feed's last message during the step that just ended.
    if (feed) enqueue(feed.take());
    if (live.length === 0 && next >= order.length) {
      if (!feed?.open) break;
      await feed.wait(opts.signal); // nothing to decode here now; the feed may still send work
      continue;
    }
    if (live.length > 0) {
      if (cache.length >= cache.capacity) {
        // Attention reads every column, written or not: grow the cache by doubling as it fills
        // (amortised O(1) copies) rather than allocating prompt + maxNewTokens columns up front.
        // No further than the longest remaining generation needs (a row writes one column per
        // step it still decodes): a doubling past it would be attended to, masked, every step.
        const first = cache.firstUsedColumn(), used = cache.length - first;
        const need = Math.max(...live.map((l) => req.maxNewTokens - l.tokens.length));
        cache.relayout(first, used + Math.min(Math.max(MIN_GROWTH, used), need));
      }
      const ids = live.map((l) => l.tokens[l.tokens.length - 1]);
      const positions = live.map((l) => l.promptLen + l.tokens.length - 1);
      const out = await s.decode(ids, positions, cache.keyBias, cache.keys, cache.values, cache.batch, cache.capacity);
      cache.append(out.keys, out.values);
      const r = sampleAll(live, out.logprobs);
      for (const g of r.done) yield g;
      if (r.still.length < live.length) {
        cache.keep(r.still.map((l) => l.row));
        r.still.forEach((l, i) => (l.row = i));
      }
      live = r.still;
    }
    if (live.length < maxBatch && next < order.length) {
      // Admit waiting prompts into the free slots: prefill those not prefilled yet (each distinct
      // prompt once), then join the cache.
      const idx = order.slice(next, next + maxBatch - live.length);
      next += idx.length;
      const keys = idx.map((i) => keyOf[i]);
      const fresh = [...new Set(keys.filter((k) => !prefilled.has(k)))];
      if (fresh.length) {
        const prompts = fresh.map((k) => req.prompts[idx[keys.indexOf(k)]]);
        const batch = leftPad(prompts);
        const pre = await s.prefill(batch.ids, batch.positions, batch.keyBias, batch.B, batch.T);
        fresh.forEach((k, b) => prefilled.set(k, prefilledRow(s.config, pre, b, batch.T, prompts[b].length)));
      }
      const rows = keys.map((k) => prefilled.get(k)!);
      for (const k of keys) {
        const left = waiting.get(k)! - 1;
        waiting.set(k, left);
        if (left === 0) (waiting.delete(k), prefilled.delete(k));
      }
      cache.admit(rows, Math.min(req.maxNewTokens, MIN_GROWTH));
      // `row` indexes the admitted rows' log-probs here; in the cache these rows follow the live ones.
      const firstLogprobs = new Float32Array(rows.length * V);
      rows.forEach((r, j) => firstLogprobs.set(r.logprobs, j * V));
      const joined: Live[] = idx.map((i, j) => ({ index: i, row: j, promptLen: req.prompts[i].length, tokens: [], logprobs: [], rng: Rng.forSequence(seed, firstIndex + i) }));
      const r = sampleAll(joined, firstLogprobs);
      const keepRows = [...live.map((l) => l.row), ...r.still.map((l) => live.length + l.row)];
      if (keepRows.length < cache.batch) cache.keep(keepRows);
      live = [...live, ...r.still];
      live.forEach((l, i) => (l.row = i));
      for (const g of r.done) yield g;
    }
  }
}
