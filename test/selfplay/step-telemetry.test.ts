/**
 * A step's metrics line as OpenTelemetry gauges (actors/selfplay/step-telemetry.ts), read back
 * through the real SDK with a pull reader: names, values and the run / group / phase / actor
 * attributes; and nothing recorded before telemetry starts is lost later (instruments are made at
 * the first step).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MetricReader, type GaugeMetricData } from "@opentelemetry/sdk-metrics";
import { initTelemetry } from "../../runtime/telemetry.ts";
import { StepTelemetry, type StepLine } from "../../actors/selfplay/step-telemetry.ts";

class PullReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

for (const k of Object.keys(process.env).filter((k) => k.startsWith("OTEL_"))) delete process.env[k];

const line = (step: number, loss: number): StepLine => ({
  step,
  groups: {
    "propose/deduction": { rewardMean: 0.25, validRate: 0.8, learnabilityMean: 0.3 } as never,
    "solve/deduction": { rewardMean: 0.5, accuracy: 0.5 } as never,
  },
  train: { step, loss, gradNorm: 0.2, lr: 1e-4, tokens: 900, terms: { entropy: 0.4, clipfrac: 0, approxKl: 0 } },
  seconds: { propose: 1, train: 2, total: 4 },
  tokens: { generated: 1000, generateSeconds: 0.5, generatedPerSecond: 2000, trained: 900, trainedPerSecond: 450 },
  actors: { learner: { busySeconds: 2, peakMemoryMB: 400, workersPeakMemoryMB: 900 } },
  eval: { suites: ["tiny"], seconds: 1, benchmarks: { tiny: { n: 30, correct: 9, accuracy: 0.3 } } },
});

test("step telemetry - a step's line becomes gauges with the run, group, phase and actor attributes", async () => {
  const reader = new PullReader();
  const tel = await initTelemetry("test-step-telemetry", { metricReader: reader });
  try {
    const t = new StepTelemetry("run-x");
    t.record(line(1, 0.05));
    t.record(line(2, 0.03)); // a gauge keeps the last value
    const { resourceMetrics } = await reader.collect();
    const all = resourceMetrics.scopeMetrics.filter((s) => s.scope.name === "azr.selfplay").flatMap((s) => s.metrics) as GaugeMetricData[];
    const point = (name: string, attrs: Record<string, string> = {}) => {
      const m = all.find((x) => x.descriptor.name === name);
      assert.ok(m, `no ${name} among ${all.map((x) => x.descriptor.name).join(", ")}`);
      const p = m.dataPoints.find((d) => Object.entries({ "azr.run": "run-x", ...attrs }).every(([k, v]) => d.attributes[k] === v));
      assert.ok(p, `${name} ${JSON.stringify(attrs)}: ${JSON.stringify(m.dataPoints.map((d) => d.attributes))}`);
      return p.value;
    };
    assert.equal(point("azr.selfplay.step"), 2);
    assert.equal(point("azr.selfplay.loss"), 0.03);
    assert.equal(point("azr.selfplay.accuracy", { "azr.group": "solve/deduction" }), 0.5);
    assert.equal(point("azr.selfplay.valid_rate", { "azr.group": "propose/deduction" }), 0.8);
    assert.equal(point("azr.selfplay.tokens_per_second", { "azr.phase": "generate" }), 2000);
    assert.equal(point("azr.selfplay.phase.duration", { "azr.phase": "train" }), 2);
    assert.equal(point("azr.selfplay.actor.peak_memory", { "azr.actor": "learner", "azr.process": "actor" }), 400 * 2 ** 20);
    assert.equal(point("azr.selfplay.actor.peak_memory", { "azr.actor": "learner", "azr.process": "workers" }), 900 * 2 ** 20);
    assert.equal(point("azr.selfplay.eval.accuracy", { "azr.benchmark": "tiny" }), 0.3);
  } finally {
    await tel.shutdown();
  }
});
