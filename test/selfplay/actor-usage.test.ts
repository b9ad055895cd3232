/** Per-actor busy time and peak memory per step (actors/selfplay/actor-usage.ts): deltas, restarts, silence. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ActorUsageTracker } from "../../actors/selfplay/actor-usage.ts";

const MB = 2 ** 20;

test("actor usage - a step's busy time is the change since the last step; a restarted actor counts from its start", async () => {
  const reports = [
    { learner: { instance: "a", busyMs: 1_000, maxRssBytes: 300 * MB, childrenMaxRssBytes: 1_200 * MB }, "rollout-engine": { instance: "r", busyMs: 500, maxRssBytes: 200 * MB, childrenMaxRssBytes: 0 } },
    { learner: { instance: "a", busyMs: 3_500, maxRssBytes: 320 * MB }, "rollout-engine": { instance: "r", busyMs: 4_500, maxRssBytes: 210 * MB } },
    // the learner restarted (another instance): its counters began again
    { learner: { instance: "b", busyMs: 700, maxRssBytes: 150 * MB }, "rollout-engine": undefined },
  ];
  let i = 0;
  const t = new ActorUsageTracker(async () => reports[i++]);
  assert.deepEqual(await t.step(), { learner: { busySeconds: 1, peakMemoryMB: 300, workersPeakMemoryMB: 1_200 }, "rollout-engine": { busySeconds: 0.5, peakMemoryMB: 200 } }, "a worker process's memory beside the actor's; none, no field");
  assert.deepEqual(await t.step(), { learner: { busySeconds: 2.5, peakMemoryMB: 320 }, "rollout-engine": { busySeconds: 4, peakMemoryMB: 210 } });
  assert.deepEqual(await t.step(), { learner: { busySeconds: 0.7, peakMemoryMB: 150 } }, "the silent rollout engine is left out of the line");
});

test("actor usage - an engine's GPU memory (reserved, MB) beside its process's; none on CPU", async () => {
  const t = new ActorUsageTracker(async () => ({
    learner: { instance: "a", busyMs: 0, maxRssBytes: 900 * MB, deviceMemory: { peakReservedBytes: 30_000 * MB, peakAllocatedBytes: 20_000 * MB, devices: 2 } },
    "rollout-engine": { instance: "r", busyMs: 0, maxRssBytes: 200 * MB },
  }));
  assert.deepEqual(await t.step(), { learner: { busySeconds: 0, peakMemoryMB: 900, gpuPeakMemoryMB: 30_000 }, "rollout-engine": { busySeconds: 0, peakMemoryMB: 200 } });
});

test("actor usage - a reader that fails loses the measurement, not the step", async () => {
  const t = new ActorUsageTracker(async () => {
    throw new Error("no responders");
  });
  assert.deepEqual(await t.step(), {});
});
