/**
 * Choosing the next token from a row of log-probs: greedy, temperature, top-k, top-p, with a
 * seeded random stream per sequence so a sample depends only on (seed, sequence index, step),
 * never on which other sequences share the batch. Covers: one token per call. Not: beam search,
 * repetition penalties.
 */

/** Mulberry32 over a 32-bit state: small, fast, and good enough for sampling. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Stream for sequence `index` of a request seeded with `seed`. */
  static forSequence(seed: number, index: number): Rng {
    let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
    return new Rng(h ^ (h >>> 15));
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

export interface Sampler {
  temperature: number;
  topK: number;
  topP: number;
}

/**
 * Indices of the k largest values (unordered), by a bounded min-heap; exact ties go to the lower
 * id, so the set does not depend on the heap's shape (the torch sampler keeps the same set).
 */
function topKIndices(row: Float32Array, k: number): number[] {
  const heap: number[] = [];
  // "a ranks below b": the heap's root is the lowest value, among equals the highest id, and a
  // later index (a higher id) replaces it only with a strictly larger value.
  const less = (a: number, b: number) => row[a] < row[b] || (row[a] === row[b] && a > b);
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l], heap[m])) m = l;
      if (r < heap.length && less(heap[r], heap[m])) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  };
  for (let i = 0; i < row.length; i++) {
    if (heap.length < k) {
      heap.push(i);
      for (let j = heap.length - 1; j > 0; ) {
        const p = (j - 1) >> 1;
        if (!less(heap[j], heap[p])) break;
        [heap[j], heap[p]] = [heap[p], heap[j]];
        j = p;
      }
    } else if (row[i] > row[heap[0]]) {
      heap[0] = i;
      down(0);
    }
  }
  return heap;
}

export function argmax(row: Float32Array): number {
  // The running maximum lives in a local: re-reading row[best] each element made this a
  // measurable part of a decode step at a 32k vocabulary (batch 16: 0.5M elements a step).
  let best = 0, max = row[0];
  for (let i = 1; i < row.length; i++) {
    const v = row[i];
    if (v > max) (max = v), (best = i);
  }
  return best;
}

/**
 * Picks a token from `logprobs` (one row, log-softmax of the logits). Order as in Hugging Face:
 * temperature, then top-k, then top-p over what top-k left (renormalised).
 */
export function sampleToken(logprobs: Float32Array, s: Sampler, rng: Rng): number {
  if (s.temperature <= 0) return argmax(logprobs);
  const V = logprobs.length;
  const topK = s.topK > 0 ? Math.min(s.topK, V) : 0;
  const maxLp = logprobs[argmax(logprobs)];
  if (!topK && s.topP >= 1) return sampleFull(logprobs, maxLp, s.temperature, rng);
  const tempered = (lp: number) => Math.exp((lp - maxLp) / s.temperature);
  // Top-p without top-k needs the whole vocabulary's tempered mass as its normaliser; candidates
  // start as a generous top-256 and widen until they hold topP of that mass.
  let fullMass = 0;
  if (!topK && s.topP < 1) for (let i = 0; i < V; i++) fullMass += Math.exp((logprobs[i] - maxLp) / s.temperature);
  let k = topK || (s.topP < 1 ? Math.min(V, 256) : V);
  for (;;) {
    const cand = k === V ? Array.from({ length: V }, (_, i) => i) : topKIndices(logprobs, k);
    if (s.topP < 1) cand.sort((a, b) => logprobs[b] - logprobs[a] || a - b); // exact ties by lower id, as torch's stable sort
    const w = cand.map((i) => tempered(logprobs[i]));
    let candMass = 0;
    for (const x of w) candMass += x;
    const norm = topK ? candMass : fullMass || candMass;
    let n = cand.length;
    if (s.topP < 1) {
      if (!topK && k < V && candMass / norm < s.topP) {
        k = Math.min(V, k * 4);
        continue;
      }
      let acc = 0;
      for (n = 0; n < cand.length; ) {
        acc += w[n++] / norm;
        if (acc >= s.topP) break;
      }
    }
    let total = 0;
    for (let i = 0; i < n; i++) total += w[i];
    let u = rng.next() * total;
    for (let i = 0; i < n; i++) if ((u -= w[i]) <= 0) return cand[i];
    return cand[n - 1];
  }
}

/** Tempered weights of the whole vocabulary, reused between calls (one per worker thread). */
let weights = new Float64Array(0);

/**
 * Plain temperature sampling over the whole vocabulary (no top-k, no top-p): the general path's
 * arithmetic, in the same order, so the same draw picks the same token — without building a
 * candidate list and a weight array per call, which cost ~90 µs a row at a 1k vocabulary.
 */
function sampleFull(logprobs: Float32Array, maxLp: number, temperature: number, rng: Rng): number {
  const V = logprobs.length;
  if (weights.length < V) weights = new Float64Array(V);
  let total = 0;
  for (let i = 0; i < V; i++) total += weights[i] = Math.exp((logprobs[i] - maxLp) / temperature);
  let u = rng.next() * total;
  for (let i = 0; i < V; i++) if ((u -= weights[i]) <= 0) return i;
  return V - 1;
}
