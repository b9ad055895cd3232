/**
 * Task-Relative REINFORCE++ advantages (azr-spec §7.1).
 *
 * Each response has one scalar reward R on its last token; with γ = 1 every token carries R.
 * For each (role × task type) group separately: A_i = (R_i − μ_g) / sqrt(σ²_g + 1e−8),
 * broadcast to every response token, padding 0; a group whose rewards are all equal (a group
 * of one included) gets A ≡ 0.
 *
 * Covers: group statistics, per-response advantages, token broadcast. Not: the loss (loss.ts).
 *
 * Departures from the reference (Decision `trainer.advantageStats`, default `per-response`):
 * μ_g and σ_g are the mean and Bessel-corrected standard deviation over the group's
 * *responses*, as paper Eq. 8 states. `per-token` reproduces both reference branches: each
 * response weighted by its length, unbiased variance over the token count.
 */
import type { GroupKey } from "./tasks.ts";

export const ADVANTAGE_EPS = 1e-8;

export type AdvantageStats = "per-response" | "per-token";

export interface Scored {
  group: GroupKey;
  reward: number;
  /** Response length in tokens (used by `per-token`; must be ≥ 1 there). */
  length: number;
}

export interface GroupStats {
  group: GroupKey;
  count: number;
  mean: number;
  /** σ² as used in the normaliser (Bessel-corrected; 0 for a group of one). */
  variance: number;
}

function stats(items: readonly Scored[], mode: AdvantageStats): { mean: number; variance: number } {
  if (mode === "per-response") {
    const n = items.length;
    const mean = items.reduce((a, x) => a + x.reward, 0) / n;
    const variance = n > 1 ? items.reduce((a, x) => a + (x.reward - mean) ** 2, 0) / (n - 1) : 0;
    return { mean, variance };
  }
  const tokens = items.reduce((a, x) => a + x.length, 0);
  for (const x of items) if (!(Number.isInteger(x.length) && x.length >= 1)) throw new Error(`per-token advantage statistics need lengths ≥ 1, got ${x.length} in ${x.group}`);
  const mean = items.reduce((a, x) => a + x.length * x.reward, 0) / tokens;
  const variance = tokens > 1 ? items.reduce((a, x) => a + x.length * (x.reward - mean) ** 2, 0) / (tokens - 1) : 0;
  return { mean, variance };
}

/**
 * One advantage per response, in input order, normalised within each group.
 * Returns the per-group statistics too (for the step's metrics).
 */
export function trrAdvantages(items: readonly Scored[], mode: AdvantageStats = "per-response"): { advantages: number[]; groups: GroupStats[] } {
  const byGroup = new Map<GroupKey, number[]>();
  items.forEach((x, i) => {
    if (!Number.isFinite(x.reward)) throw new Error(`reward ${x.reward} of response ${i} (${x.group}) is not finite`);
    const list = byGroup.get(x.group);
    if (list) list.push(i); else byGroup.set(x.group, [i]);
  });
  const advantages = new Array<number>(items.length).fill(0);
  const groups: GroupStats[] = [];
  for (const [group, idx] of byGroup) {
    const members = idx.map((i) => items[i]);
    const { mean, variance } = stats(members, mode);
    groups.push({ group, count: idx.length, mean, variance });
    const allEqual = members.every((x) => x.reward === members[0].reward);
    if (allEqual) continue; // A ≡ 0, also for a group of one
    const scale = Math.sqrt(variance + ADVANTAGE_EPS);
    for (const i of idx) advantages[i] = (items[i].reward - mean) / scale;
  }
  return { advantages, groups };
}

/** The scalar advantage on every response token, 0 on padding: a (paddedLength) vector. */
export function broadcastAdvantage(advantage: number, length: number, paddedLength = length): Float32Array {
  if (length > paddedLength) throw new Error(`response length ${length} exceeds padded length ${paddedLength}`);
  const out = new Float32Array(paddedLength);
  out.fill(advantage, 0, length);
  return out;
}

/** REINFORCE++ returns with γ = 1 and the reward on the last token: every token's return is R. */
export function tokenReturns(reward: number, length: number): Float32Array {
  return broadcastAdvantage(reward, length);
}
