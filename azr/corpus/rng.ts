/**
 * The corpus generator's random draws, as methods over azr's one PRNG (`azr/rng.ts`,
 * xoshiro128** seeded through splitmix32): the generator code reads `rng.pick(xs)` instead of
 * threading state through free functions. Covers: ints in a range, choices, weights, shuffles,
 * independent streams by label. Not: a second generator algorithm (there is one, in azr/rng.ts).
 */
import { createRng, deriveRng, nextFloat, nextInt, shuffle, type Rng as RngState } from "../rng.ts";

export class Rng {
  private readonly state: RngState;

  constructor(seedOrState: number | RngState) {
    if (typeof seedOrState === "number" && !Number.isInteger(seedOrState)) throw new Error(`Rng seed must be an integer, got ${seedOrState}`);
    this.state = typeof seedOrState === "number" ? createRng(seedOrState) : seedOrState;
  }

  /** An independent stream for (seed, ...path), e.g. `Rng.derive(seed, "program", i)`. */
  static derive(seed: number, ...path: (number | string)[]): Rng {
    return new Rng(deriveRng(seed, ...path));
  }

  /** Uniform in [0, 1). */
  float(): number {
    return nextFloat(this.state);
  }

  /** Uniform integer in [lo, hi], both ends included. */
  int(lo: number, hi: number): number {
    if (!(hi >= lo)) throw new Error(`Rng.int: empty range [${lo}, ${hi}]`);
    return lo + nextInt(this.state, hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("Rng.pick: no items to pick from");
    return items[nextInt(this.state, items.length)];
  }

  /** Picks by non-negative weights: `weighted([["a", 3], ["b", 1]])` gives "a" 3 times in 4. */
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    const total = items.reduce((acc, [, w]) => acc + w, 0);
    if (!(total > 0)) throw new Error("Rng.weighted: weights must sum to more than 0");
    let r = this.float() * total;
    for (const [item, w] of items) {
      r -= w;
      if (r < 0) return item;
    }
    return items[items.length - 1][0];
  }

  shuffle<T>(items: readonly T[]): T[] {
    return shuffle(this.state, items);
  }
}
