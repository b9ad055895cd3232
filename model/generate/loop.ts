/**
 * Batched generation: one prefill over the left-padded prompts, then one decode step per token
 * for every live sequence. A sequence that finishes (eos, stop string, length) is yielded at once
 * and dropped from the batch, cache included, so it stops costing compute. An eos token is kept
 * in `tokens` and `logprobs` (so training sees the stop) and left out of `text`.
 * Covers: the loop over ModelSessions + KvCache + sampler + stop strings. Not: threads (the
 * engine runs this inside its worker), request queueing across calls.
 */
import type { Generation, GenerateRequest } from "../engine.ts";
import type { ModelSessions } from "../ort/session.ts";
import { leftPad } from "../ort/batch.ts";
import { KvCache } from "../ort/kv-cache.ts";
import { Rng, sampleToken, type Sampler } from "./sampling.ts";
import { StopChecker, type Decode } from "./stop.ts";

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
  /** Added to each prompt's position in `req.prompts` for `Generation.index` and its seed stream. */
  indexOffset?: number;
}

export async function* generateBatch(s: ModelSessions, req: GenerateRequest, opts: LoopOptions): AsyncGenerator<Generation> {
  const stops = req.stop ?? [];
  if (stops.length && !opts.decode) throw new Error("stop strings need a tokenizer (no tokenizer.json in the model directory)");
  if (req.prompts.some((p) => p.length === 0)) throw new Error("generate: every prompt needs at least one token");
  if (!(req.maxNewTokens >= 1)) throw new Error(`generate: maxNewTokens must be ≥ 1, got ${req.maxNewTokens}`);
  if (req.topP !== undefined && !(req.topP > 0 && req.topP <= 1)) throw new Error(`generate: topP must be in (0, 1], got ${req.topP}`);
  const sampler: Sampler = { temperature: req.temperature ?? 0, topK: req.topK ?? 0, topP: req.topP ?? 1 };
  const seed = req.seed ?? 0;
  const eos = new Set(opts.eosTokenIds);
  const stop = new StopChecker(stops, opts.decode ?? (() => ""));
  const V = s.config.vocabSize;

  const batch = leftPad(req.prompts);
  if (batch.T + req.maxNewTokens > s.maxPositions)
    throw new Error(`prompt (${batch.T} tokens) + maxNewTokens (${req.maxNewTokens}) exceeds the engine's maxPositions ${s.maxPositions}; start the engine with a larger maxPositions`);
  const pre = await s.prefill(batch.ids, batch.positions, batch.keyBias, batch.B, batch.T);
  const cache = new KvCache(s.config, batch.B, batch.T + req.maxNewTokens);
  cache.writePrefill(pre.keys, pre.values, batch.T, batch.keyBias);
  const offset = opts.indexOffset ?? 0;
  let live: Live[] = req.prompts.map((p, i) => ({ index: offset + i, row: i, promptLen: p.length, tokens: [], logprobs: [], rng: Rng.forSequence(seed, offset + i) }));
  let logprobs = pre.logprobs;

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

  while (live.length > 0) {
    // session.run holds the thread while it computes: yield once per step so messages (abort,
    // new requests) get read between steps.
    await new Promise((r) => setImmediate(r));
    opts.signal?.throwIfAborted();
    const still: Live[] = [];
    for (const l of live) {
      const row = logprobs.subarray(l.row * V, (l.row + 1) * V);
      const tok = sampleToken(row, sampler, l.rng);
      l.tokens.push(tok);
      l.logprobs.push(row[tok]);
      if (eos.has(tok)) {
        // The eos token stays in `tokens`/`logprobs` (the learner must train the stop) but not in `text`.
        yield finish(l, "eos", l.tokens.length, opts.decode ? opts.decode(l.tokens.slice(0, -1)) : "");
        continue;
      }
      const m = stop.check(l.tokens);
      if (m) {
        yield finish(l, "stop", m.keep, m.text);
        continue;
      }
      if (l.tokens.length >= req.maxNewTokens) {
        yield finish(l, "length");
        continue;
      }
      still.push(l);
    }
    if (still.length === 0) break;
    if (still.length < live.length) {
      cache.keep(still.map((l) => l.row));
      still.forEach((l, i) => (l.row = i));
    }
    live = still;
    const ids = live.map((l) => l.tokens[l.tokens.length - 1]);
    const positions = live.map((l) => l.promptLen + l.tokens.length - 1);
    const out = await s.decode(ids, positions, cache.keyBias, cache.keys, cache.values, cache.batch, cache.capacity);
    cache.append(out.keys, out.values);
    logprobs = out.logprobs;
  }
}
