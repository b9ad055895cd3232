/**
 * Each step's metrics as OpenTelemetry gauges (spec §8: "one JSONL line per step, and
 * OpenTelemetry"), so a run shows in the user's own metrics backend beside the actors' call
 * metrics. Exported only when OTEL_* configures a metrics exporter (runtime/telemetry.ts); without
 * one the gauges are the API's no-ops. Every point carries `azr.run` (the run folder's name), and
 * per-group, per-phase and per-actor series their `azr.group`, `azr.phase` or `azr.actor`.
 *
 * Covers: the mapping from a metrics line to gauges. Not: the line itself (step.ts, driver.ts).
 */
import { metrics, type Attributes, type Gauge } from "@opentelemetry/api";
import type { StepResult } from "./step.ts";
import type { ActorStepUsage } from "./actor-usage.ts";
import type { EvalScores } from "../eval/in-training.ts";

const SCOPE = "azr.selfplay";

/** What one step's line holds that becomes a gauge. */
export type StepLine = Pick<StepResult, "step" | "groups" | "train" | "seconds" | "tokens"> & { actors?: Record<string, ActorStepUsage>; eval?: EvalScores };

export class StepTelemetry {
  #g?: Record<string, Gauge>;

  constructor(private readonly run: string) {}

  /**
   * Made at the first step, not in the constructor: instruments created before the process's
   * telemetry starts stay no-ops.
   */
  #gauges(): Record<string, Gauge> {
    if (this.#g) return this.#g;
    const m = metrics.getMeter(SCOPE);
    const g = (name: string, description: string, unit?: string) => m.createGauge(name, { description, ...(unit ? { unit } : {}) });
    this.#g = {
      step: g("azr.selfplay.step", "the last finished self-play step"),
      reward: g("azr.selfplay.reward.mean", "mean reward of a (role, task type) group"),
      accuracy: g("azr.selfplay.accuracy", "solver accuracy of a task type"),
      validRate: g("azr.selfplay.valid_rate", "share of valid proposals of a task type"),
      learnability: g("azr.selfplay.learnability.mean", "mean learnability reward of a proposer group"),
      loss: g("azr.selfplay.loss", "policy loss of the update"),
      gradNorm: g("azr.selfplay.grad_norm", "gradient norm before clipping"),
      lr: g("azr.selfplay.learning_rate", "learning rate of the update"),
      entropy: g("azr.selfplay.entropy", "mean token entropy of the trained responses"),
      clipFraction: g("azr.selfplay.clip_fraction", "share of tokens whose ratio was clipped"),
      approxKl: g("azr.selfplay.approx_kl", "approximate KL to the behaviour policy"),
      tokensPerSecond: g("azr.selfplay.tokens_per_second", "tokens generated or trained per second of that phase", "{token}/s"),
      phase: g("azr.selfplay.phase.duration", "wall time of a phase of the step", "s"),
      busy: g("azr.selfplay.actor.busy", "time an actor spent serving calls during the step", "s"),
      memory: g("azr.selfplay.actor.peak_memory", "peak resident memory of an actor's process (azr.process actor), of its worker processes (azr.process workers) and its engine's GPU memory reserved (azr.process gpu)", "By"),
      evalAccuracy: g("azr.selfplay.eval.accuracy", "in-training evaluation accuracy of a benchmark"),
    };
    return this.#g;
  }

  record(line: StepLine): void {
    const g = this.#gauges();
    const at = (extra: Attributes = {}): Attributes => ({ "azr.run": this.run, ...extra });
    g.step.record(line.step, at());
    for (const [group, m] of Object.entries(line.groups)) {
      if (!m) continue;
      const a = at({ "azr.group": group });
      g.reward.record(m.rewardMean, a);
      if (m.accuracy !== undefined) g.accuracy.record(m.accuracy, a);
      if (m.validRate !== undefined) g.validRate.record(m.validRate, a);
      if (m.learnabilityMean !== undefined) g.learnability.record(m.learnabilityMean, a);
    }
    if (line.train) {
      g.loss.record(line.train.loss, at());
      g.gradNorm.record(line.train.gradNorm, at());
      g.lr.record(line.train.lr, at());
      const t = line.train.terms;
      if (t.entropy !== undefined) g.entropy.record(t.entropy, at());
      if (t.clipfrac !== undefined) g.clipFraction.record(t.clipfrac, at());
      if (t.approxKl !== undefined) g.approxKl.record(t.approxKl, at());
    }
    g.tokensPerSecond.record(line.tokens.generatedPerSecond, at({ "azr.phase": "generate" }));
    g.tokensPerSecond.record(line.tokens.trainedPerSecond, at({ "azr.phase": "train" }));
    for (const [phase, s] of Object.entries(line.seconds)) g.phase.record(s, at({ "azr.phase": phase }));
    for (const [actor, u] of Object.entries(line.actors ?? {})) {
      g.busy.record(u.busySeconds, at({ "azr.actor": actor }));
      g.memory.record(u.peakMemoryMB * 2 ** 20, at({ "azr.actor": actor, "azr.process": "actor" }));
      if (u.workersPeakMemoryMB !== undefined) g.memory.record(u.workersPeakMemoryMB * 2 ** 20, at({ "azr.actor": actor, "azr.process": "workers" }));
      if (u.gpuPeakMemoryMB !== undefined) g.memory.record(u.gpuPeakMemoryMB * 2 ** 20, at({ "azr.actor": actor, "azr.process": "gpu" }));
    }
    for (const [benchmark, s] of Object.entries(line.eval?.benchmarks ?? {})) g.evalAccuracy.record(s.accuracy, at({ "azr.benchmark": benchmark }));
  }
}
