/**
 * AdamW (bias-corrected, decoupled weight decay, as torch.optim.AdamW), global grad-norm clipping
 * (a non-finite norm skips the step, azr-spec §7.2) and the learning-rate schedule (linear
 * warm-up, then constant or cosine to minLrRatio·lr) as a pure function of the step.
 * Runs as a TypeScript loop over Float32Arrays rather than a graph: an optimiser graph would have
 * to return weights and both moments as outputs (onnxruntime copies outputs, ~0.5 ms/MB: three
 * model-sized copies per step), while the loop updates them in place in one pass.
 * Setting names match model/torch's OptimSettings.
 * Not: per-parameter groups, other optimisers.
 */

export interface OptimSettings {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  maxGradNorm: number;
  warmupSteps: number;
  schedule: "constant" | "cosine";
  /** Cosine horizon in optimiser steps. */
  totalSteps: number;
  minLrRatio: number;
  /**
   * An anneal phase (warm-up–stable–decay style): from step `from` the rate falls linearly from
   * the schedule's value there to minLrRatio·lr at step `to`. Lets a long cosine run be finished
   * early with most of the benefit of a full decay, while staying a pure function of the step.
   */
  decay?: { from: number; to: number } | null;
  /** Sequences per micro-batch (gradient accumulation over the rest of the batch). */
  microBatch: number;
}

/** azr-spec §7.2 defaults. */
export const DEFAULT_OPTIM: OptimSettings = {
  lr: 1e-6, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1.0,
  warmupSteps: 0, schedule: "constant", totalSteps: 0, minLrRatio: 0, microBatch: 16,
};

export function checkOptim(s: OptimSettings): void {
  if (s.schedule === "cosine" && s.totalSteps <= s.warmupSteps)
    throw new Error(`optim.schedule cosine needs totalSteps > warmupSteps (got ${s.totalSteps} <= ${s.warmupSteps})`);
  if (!(Number.isInteger(s.microBatch) && s.microBatch >= 1)) throw new Error(`optim.microBatch must be an integer >= 1, got ${s.microBatch}`);
  if (!(s.lr >= 0)) throw new Error(`optim.lr must be >= 0, got ${s.lr}`);
  if (s.decay && !(s.decay.to > s.decay.from && s.decay.from >= s.warmupSteps))
    throw new Error(`optim.decay needs warmupSteps <= from < to (got from ${s.decay.from}, to ${s.decay.to}, warmupSteps ${s.warmupSteps})`);
}

/** Learning rate of optimiser step `step` (0-based). */
export function lrAt(s: OptimSettings, step: number): number {
  if (s.decay && step >= s.decay.from) {
    const start = lrAt({ ...s, decay: null }, s.decay.from);
    const frac = Math.min(1, (step - s.decay.from) / (s.decay.to - s.decay.from));
    return start + (s.lr * s.minLrRatio - start) * frac;
  }
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  if (s.schedule === "constant") return s.lr;
  const progress = Math.min(1, (step - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps));
  return s.lr * (s.minLrRatio + (1 - s.minLrRatio) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** √Σ g² over every gradient (float64 accumulation). */
export function globalNorm(grads: Iterable<Float32Array>): number {
  let s = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  return Math.sqrt(s);
}

export interface AdamState {
  /** Optimiser steps taken (skipped steps excluded; bias correction uses it). */
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export function newAdamState(params: Map<string, Float32Array>): AdamState {
  const zeros = () => new Map([...params].map(([k, p]) => [k, new Float32Array(p.length)]));
  return { step: 0, m: zeros(), v: zeros() };
}

export interface StepResult {
  gradNorm: number;
  skipped: boolean;
}

/**
 * Clips `grads` to maxGradNorm (in place) and applies one AdamW step to `params` (in place) at
 * learning rate `lr`. A non-finite gradient norm leaves params and state untouched.
 */
export function adamwStep(params: Map<string, Float32Array>, grads: Map<string, Float32Array>, state: AdamState, s: OptimSettings, lr: number): StepResult {
  const gradNorm = globalNorm(grads.values());
  if (!Number.isFinite(gradNorm)) return { gradNorm, skipped: true };
  const coef = Math.min(1, s.maxGradNorm / (gradNorm + 1e-6));
  state.step++;
  const [b1, b2] = s.betas;
  const bc1 = 1 - b1 ** state.step, bc2 = 1 - b2 ** state.step;
  const stepSize = lr / bc1, sqrtBc2 = Math.sqrt(bc2), decay = 1 - lr * s.weightDecay;
  for (const [name, p] of params) {
    const g = grads.get(name), m = state.m.get(name), v = state.v.get(name);
    if (!g || !m || !v) throw new Error(`adamwStep: gradient or state for ${name} is missing`);
    for (let i = 0; i < p.length; i++) {
      const gi = Math.fround(g[i] * coef);
      const mi = (m[i] = b1 * m[i] + (1 - b1) * gi);
      const vi = (v[i] = b2 * v[i] + (1 - b2) * gi * gi);
      p[i] = p[i] * decay - (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + s.eps);
    }
  }
  return { gradNorm, skipped: false };
}
