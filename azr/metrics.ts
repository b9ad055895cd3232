/**
 * Per-step metric helpers (azr-spec §8) that are pure arithmetic on texts and numbers: summary
 * statistics, the clip ratio, the reflection share and program size.
 *
 * Covers: what a metrics line is computed from. Not: writing JSONL or OpenTelemetry (actors).
 *
 * Departures: the reflection word list is ours (the paper reports the share without a list).
 */

/**
 * Words that mark a response as "reflecting" (re-checking itself). The documented list: a
 * response counts when it contains any of them as a whole word, case-insensitively.
 */
export const REFLECTION_WORDS = ["wait", "recheck", "re-check", "retry", "however", "maybe", "alternatively", "double-check", "let me check", "mistake"] as const;

const REFLECTION_RE = new RegExp(`\\b(?:${REFLECTION_WORDS.map((w) => w.replace(/[-\s]/g, (c) => (c === "-" ? "-" : "\\s+"))).join("|")})\\b`, "i");

export function isReflective(text: string): boolean {
  return REFLECTION_RE.test(text);
}

export interface Summary {
  count: number;
  mean: number;
  min: number;
  max: number;
}

/** Mean / min / max; an empty list gives count 0 and zeros (a metric line never holds NaN). */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { count: 0, mean: 0, min: 0, max: 0 };
  let sum = 0, min = Infinity, max = -Infinity;
  for (const v of values) { sum += v; if (v < min) min = v; if (v > max) max = v; }
  return { count: values.length, mean: sum / values.length, min, max };
}

/** Share of responses that hit the length limit. */
export function clipRatio(finishReasons: readonly string[]): number {
  return finishReasons.length === 0 ? 0 : finishReasons.filter((r) => r === "length").length / finishReasons.length;
}

/** Share of texts that reflect (see {@link REFLECTION_WORDS}). */
export function reflectionShare(texts: readonly string[]): number {
  return texts.length === 0 ? 0 : texts.filter(isReflective).length / texts.length;
}

/** Non-blank, non-comment lines of a program. */
export function programLines(program: string): number {
  return program.split("\n").filter((l) => l.trim() !== "" && !l.trim().startsWith("#")).length;
}

/** Counts of invalid-proposal reasons, for the `invalid` metric. */
export function countReasons(reasons: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of reasons) out[r] = (out[r] ?? 0) + 1;
  return out;
}
