/**
 * `azr trace` on a real self-play run: one step of `azr selfplay` (the tiny recipe on a random
 * model, the e2e fixtures) with its actors in their own processes; the run folder's trace file
 * holds that step as one trace across the driver and the actors, and nothing from seeding.
 */
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { selfplay } from "../../cli/commands/selfplay.ts";
import { traceReport } from "../../cli/commands/trace.ts";
import { readSpans, stepTraces } from "../../runtime/telemetry-collector.ts";
import { writeRandomTinyModel } from "../selfplay/fixtures.ts";

test("trace - one self-play step is one trace across the driver and its actors", { timeout: 300_000 }, async () => {
  const model = writeRandomTinyModel();
  const runDir = mkdtempSync(join(tmpdir(), "azr-trace-run-"));
  try {
    const set = ["model.path=" + model, "selfplay.batchSize=2", "selfplay.nSamples=2", "data.maxResponseTokens=16", "trainer.microBatch=4"];
    await selfplay({ recipe: "tiny", set, runDir, resume: false, steps: 1, web: false });
    const all = readSpans(runDir);
    const [step] = stepTraces(all);
    assert.equal(step?.step, 1);
    assert.equal(step.spans.length, all.length, "seeding and checkpoint calls (outside the step) recorded nothing");
    const services = new Set(step.spans.map((s) => s.service));
    for (const s of ["azr-driver", "azr-actor-learner", "azr-actor-rollout-engine", "azr-actor-task-buffer"]) assert.ok(services.has(s), `${s} has spans in the step: ${[...services].join(", ")}`);
    const train = step.spans.find((s) => s.name === "learner.trainStep" && s.kind === "server");
    const call = step.spans.find((s) => s.span === train?.parent);
    assert.equal(call?.kind, "client");
    assert.equal(call?.parent, step.root.span, "the driver's trainStep call hangs off the step span");
    assert.match(traceReport({ cluster: "azr", "run-dir": runDir, step: 1, json: false, all: false }), /└─ learner\.trainStep \(server\)\s+azr-actor-learner/);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
    rmSync(model, { recursive: true, force: true });
  }
});
