/**
 * The figures of one self-play step's groups (azr-spec §8): the shape of a group's line in
 * metrics.jsonl and the figures every group has (reward, advantage and return spreads, format,
 * lengths, clipping, reflection). Not: the figures only proposers or solvers have, which need the
 * step's verdicts (step.ts adds them).
 */
import { clipRatio, reflectionShare, summarize, type GroupKey } from "../../azr/index.ts";
import type { RolloutSample } from "./ports.ts";

/** Mean, min and max of one figure over a set of responses (§8: "reward / advantage / return mean, min, max"). */
export interface Spread {
  mean: number;
  min: number;
  max: number;
}

/**
 * One group's figures in a metrics line (§8). The fields added after the first saved runs are
 * optional, so older metrics.jsonl files still read as this type.
 *
 * Which responses: `count` and every figure computed from responses (reward, format, lengths,
 * reflection, accuracy, executor failures) cover the group's own responses of this step — for a
 * solver group the solve batch only, never the learnability samples, even when
 * `selfplay.trainLearnabilitySamples` trains them as solver responses. `advantage` and `return`
 * describe the update instead: they cover every sequence the group put into it, those trained
 * learnability samples included (they are normalised together with the solve batch, §7.1).
 */
export interface GroupMetrics {
  count: number;
  rewardMean: number;
  /** Reward mean / min / max over the same responses as `rewardMean` (its mean equals `rewardMean`). */
  reward?: Spread;
  /**
   * TRR++ advantage A_i (§7.1) of each response the group put into the update, one value per
   * response (every token carries it). Absent when the group trained nothing this step
   * (`selfplay.trainPropose` false for a proposer, or only empty responses).
   */
  advantage?: Spread;
  /**
   * Return of each response the group put into the update: with one reward R on the last token
   * and γ = 1 (§7.1) every token's return is R, so this is R over the trained responses — the
   * reward as the update saw it (trained learnability samples in, empty responses out).
   * Absent as `advantage` is.
   */
  return?: Spread;
  formatRate: number;
  responseLength: { mean: number; max: number; min: number };
  /** Prompt length in tokens (the prompt as the rollout engine encoded it), mean and max over the group's responses. */
  promptLength?: { mean: number; max: number };
  clipRatio: number;
  reflectionShare: number;
  /** Proposers: share of proposals the executor accepted. */
  validRate?: number;
  invalidReasons?: Record<string, number>;
  /** Proposers: mean learnability r_prop and mean solve rate r̄ over valid proposals. */
  learnabilityMean?: number;
  solveRateMean?: number;
  newEntries?: number;
  /**
   * Proposers (deduction, abduction, error): non-blank, non-comment lines of the program each
   * valid proposal wrote, mean and max over the valid proposals (invalid ones may have none).
   * Only the proposer's own f: composite g_i (§12) copied in from the buffer are not its writing.
   * Absent for induction, whose proposer writes inputs and a message, not a program.
   */
  programLines?: { mean: number; max: number };
  /**
   * Proposers: learnability answer checks of this group's proposals that the executor lost to
   * its infrastructure (after its retries); §6.1 excludes them from r̄.
   */
  learnabilityExecutorFailures?: number;
  /**
   * Solvers: answer checks of the solve batch the executor lost to its infrastructure (a worker
   * lost for reasons outside the answer, after its retries) — §8 "executor failures", a count.
   */
  executorFailures?: number;
  /**
   * Solvers: share answered correctly with the tags right (F = 1 and full score): a right value
   * without the format is reward −1, a failure (§6.2: even evaluation's 1/0 needs the tags), not a success.
   */
  accuracy?: number;
}

/** One response of the step as the update and the metrics see it. */
export interface Trained {
  group: GroupKey;
  reward: number;
  sample: RolloutSample;
  formatOk: boolean;
  correct?: boolean;
  /** Its answer check was lost to the executor's infrastructure (solvers). */
  infra?: boolean;
  /** A learnability sample trained as a solver response: in its solve group's advantages, not in its metrics. */
  fromLearnability?: boolean;
}

const spread = (values: readonly number[]): Spread => {
  const s = summarize(values);
  return { mean: s.mean, min: s.min, max: s.max };
};

/**
 * The figures of a group's responses (§8). `update`: the group's sequences in the update with
 * their advantages (see {@link GroupMetrics} for why the two sets differ).
 */
export function groupMetrics(items: Trained[], update: { reward: number; advantage: number }[]): GroupMetrics {
  const lengths = items.map((t) => t.sample.tokens.length);
  const len = summarize(lengths.length ? lengths : [0]);
  const prompt = summarize(items.map((t) => t.sample.promptTokens.length));
  return {
    count: items.length,
    rewardMean: items.length ? items.reduce((a, t) => a + t.reward, 0) / items.length : 0,
    reward: spread(items.map((t) => t.reward)),
    ...(update.length ? { advantage: spread(update.map((u) => u.advantage)), return: spread(update.map((u) => u.reward)) } : {}),
    formatRate: items.length ? items.filter((t) => t.formatOk).length / items.length : 0,
    responseLength: { mean: len.mean, max: len.max, min: len.min },
    promptLength: { mean: prompt.mean, max: prompt.max },
    clipRatio: clipRatio(items.map((t) => t.sample.finishReason)),
    reflectionShare: reflectionShare(items.map((t) => t.sample.text)),
  };
}
