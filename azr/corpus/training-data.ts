/**
 * A corpus example as a trainer consumes it: token ids plus a loss weight per token, from the
 * example's segments (prompt / response scaffolding / answer values), with eos appended.
 *
 * Segments are encoded one by one and concatenated. That equals encoding the whole text because
 * every segment boundary is a pre-token boundary of our tokenizer: the prompt ends with the
 * added token `<think>`, and answer spans start right after and end right before a newline,
 * which is always a piece of its own (test/corpus/training-data.test.ts checks the equality).
 * Covers: ids and weights for one example. Not: batching, packing, shuffling (the trainer's).
 */
import type { CorpusExample, SegmentKind } from "./format.ts";

/** Loss weight per segment kind; the eos token takes the response weight. */
export type SegmentWeights = Record<SegmentKind, number>;

/**
 * A starting point, not a measured optimum: program text is most of the characters (the issue's
 * probe: 85–90%), answers are what the evaluation scores, so answers count 4× the scaffolding
 * and the prompt counts less than the response but is still learned (proposing needs it).
 */
export const DEFAULT_SEGMENT_WEIGHTS: SegmentWeights = { prompt: 0.5, response: 1, answer: 4 };

export interface TokenizedExample {
  ids: number[];
  /** One weight per id. */
  weights: number[];
}

export function tokenizeExample(e: CorpusExample, encode: (text: string) => number[], eosId: number, w: SegmentWeights = DEFAULT_SEGMENT_WEIGHTS): TokenizedExample {
  const ids: number[] = [];
  const weights: number[] = [];
  for (const s of e.segments) {
    const part = encode(e.text.slice(s.start, s.end));
    for (const id of part) {
      ids.push(id);
      weights.push(w[s.kind]);
    }
  }
  ids.push(eosId);
  weights.push(w.response);
  return { ids, weights };
}
