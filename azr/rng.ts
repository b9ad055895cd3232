/**
 * A seeded random number generator whose whole state is plain data (four uint32 words), so a
 * checkpoint can store it as JSON and a resumed run draws exactly the same numbers.
 *
 * Covers: xoshiro128** seeded through splitmix32, uniform ints/floats, sampling K without
 * replacement, shuffles. Not: cryptographic randomness.
 *
 * Departures from the reference: it never seeds its driver's generators (azr-spec §9); every
 * draw here comes from an explicit, checkpointable state.
 */

/** The generator's state; mutate only through the functions below. */
export interface Rng {
  s: [number, number, number, number];
}

function splitmix32(x: number): [number, number] {
  x = (x + 0x9e3779b9) >>> 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  z = (z ^ (z >>> 16)) >>> 0;
  return [x, z];
}

/** A generator from an integer seed (any JS number; its low 32 bits and high bits are mixed). */
export function createRng(seed: number): Rng {
  if (!Number.isFinite(seed)) throw new Error(`rng seed must be a finite number, got ${seed}`);
  let x = (seed >>> 0) ^ Math.floor(seed / 2 ** 32);
  const s: number[] = [];
  for (let i = 0; i < 4; i++) {
    const [nx, z] = splitmix32(x);
    x = nx;
    s.push(z);
  }
  if (!s.some((w) => w !== 0)) s[0] = 1; // xoshiro's all-zero state is a fixed point
  return { s: [s[0], s[1], s[2], s[3]] };
}

/** An independent stream derived from a parent seed and a path, e.g. (seed, step, "propose"). */
export function deriveRng(seed: number, ...path: (number | string)[]): Rng {
  let h = seed >>> 0;
  for (const p of path) {
    const text = String(p);
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
    h = Math.imul(h ^ 0x2f, 0x01000193) >>> 0; // separator, so ("1","23") ≠ ("12","3")
  }
  return createRng(h);
}

export function cloneRng(rng: Rng): Rng {
  return { s: [...rng.s] as Rng["s"] };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Next uint32 (xoshiro128**). */
export function nextU32(rng: Rng): number {
  const s = rng.s;
  const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
  const t = (s[1] << 9) >>> 0;
  s[2] = (s[2] ^ s[0]) >>> 0;
  s[3] = (s[3] ^ s[1]) >>> 0;
  s[1] = (s[1] ^ s[2]) >>> 0;
  s[0] = (s[0] ^ s[3]) >>> 0;
  s[2] = (s[2] ^ t) >>> 0;
  s[3] = rotl(s[3], 11);
  return result;
}

/** Uniform float in [0, 1) with 53 random bits. */
export function nextFloat(rng: Rng): number {
  const hi = nextU32(rng) >>> 5; // 27 bits
  const lo = nextU32(rng) >>> 6; // 26 bits
  return (hi * 67108864 + lo) / 9007199254740992;
}

/** Uniform integer in [0, n), unbiased (rejection sampling). */
export function nextInt(rng: Rng, n: number): number {
  if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) throw new Error(`nextInt needs an integer 1..2^32, got ${n}`);
  const limit = 2 ** 32 - (2 ** 32 % n);
  for (;;) {
    const x = nextU32(rng);
    if (x < limit) return x % n;
  }
}

/** k distinct indices from [0, n), in draw order (partial Fisher–Yates); k is clipped to n. */
export function sampleIndices(rng: Rng, n: number, k: number): number[] {
  const m = Math.min(Math.max(0, k), n);
  const pool = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < m; i++) {
    const j = i + nextInt(rng, n - i);
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, m);
}

/** k distinct items drawn uniformly without replacement (k clipped to the list's length). */
export function sampleWithoutReplacement<T>(rng: Rng, items: readonly T[], k: number): T[] {
  return sampleIndices(rng, items.length, k).map((i) => items[i]);
}

export function shuffle<T>(rng: Rng, items: readonly T[]): T[] {
  return sampleWithoutReplacement(rng, items, items.length);
}

/**
 * k distinct items drawn one after another, each with probability proportional to its weight
 * among those left (weights ≥ 0; zero-weight items are drawn only when nothing else is left).
 */
export function sampleWeightedWithoutReplacement<T>(rng: Rng, items: readonly T[], weights: readonly number[], k: number): T[] {
  if (weights.length !== items.length) throw new Error(`${items.length} items but ${weights.length} weights`);
  for (const w of weights) if (!(w >= 0) || !Number.isFinite(w)) throw new Error(`weights must be finite and ≥ 0, got ${w}`);
  const left = items.map((_, i) => i);
  const out: T[] = [];
  const m = Math.min(Math.max(0, k), items.length);
  while (out.length < m) {
    const total = left.reduce((a, i) => a + weights[i], 0);
    let pick = left.length - 1;
    if (total > 0) {
      let x = nextFloat(rng) * total;
      pick = left.findIndex((i) => (x -= weights[i]) < 0);
      if (pick < 0) pick = left.length - 1; // rounding at the top end
    } else {
      pick = nextInt(rng, left.length);
    }
    out.push(items[left[pick]]);
    left.splice(pick, 1);
  }
  return out;
}
