/**
 * Two self-play runs in one process while an operator's connection (`connectToRun`, what `azr
 * actors`/`azr top` use) to the first run is still open. Reported once, uninvestigated: "a second
 * selfplay() in one process hung while a connectToRun connection to the first run was still
 * open". Each stage runs under its own deadline, so a hang fails naming the stage and the
 * handles still keeping the process busy, instead of stalling the suite.
 * Variants: the run's embedded server (the operator's connection outlives it and keeps trying to
 * reconnect) for a new run folder and for the same folder resumed; and a shared nats-server
 * (NATS_URL), where the operator's connection to the same cluster stays live across both runs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { selfplay } from "../../cli/commands/selfplay.ts";
import { connectToRun } from "../../cli/commands/run-connection.ts";
import type { Cluster } from "../../runtime/index.ts";
import { useNatsServer } from "../helpers/nats.ts";
import { writeRandomTinyModel } from "../selfplay/fixtures.ts";

/** One 1-step run on a 2-core machine under load takes ~1–3 minutes; a hang is anything far beyond. */
const RUN_MS = 420_000;
const CLOSE_MS = 30_000;

/** `p`, or a failure naming `what` and what is still pending in the process once `ms` have passed. */
async function within<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s (hung?); pending in the process: ${process.getActiveResourcesInfo().join(", ")}`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** After a failure: close, or drop the connection at once when closing does not finish (a hang must not outlive the test). */
async function closeOrDrop(c: Cluster): Promise<void> {
  await within("closing", CLOSE_MS, c.close()).catch(() => c.nc.close());
}

const steps = (runDir: string): number[] =>
  readFileSync(join(runDir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { step: number }).step);

const nats = useNatsServer();

function setFor(model: string): string[] {
  return ["model.path=" + model, "selfplay.batchSize=2", "selfplay.nSamples=2", "data.maxResponseTokens=16", "trainer.microBatch=4", "trainer.saveEvery=1", "seed.topUp=false", "eval.every=0"];
}

test("second run - embedded servers: a new run and a resumed run after the first, with an operator connection to the first still open", { timeout: 3 * RUN_MS + 120_000 }, async () => {
  const model = writeRandomTinyModel();
  const first = mkdtempSync(join(tmpdir(), "azr-second-a-"));
  const second = mkdtempSync(join(tmpdir(), "azr-second-b-"));
  const set = setFor(model);
  let op: Cluster | undefined;
  const run = selfplay({ recipe: "tiny", set, runDir: first, resume: false, steps: 1, web: false });
  run.catch(() => {}); // awaited below, and in `finally` when a check failed first
  try {
    // The operator's view, as `azr actors --run-dir <first>`: the run's server, found through nats.json.
    op = await within("connecting to the first run", RUN_MS, (async () => {
      for (;;) {
        if (existsSync(join(first, "nats.json"))) {
          try {
            return (await connectToRun({ cluster: "azr", "run-dir": first })).cluster;
          } catch {
            /* the server file came before the server accepts clients, or the run already ended */
          }
        }
        await sleep(100);
      }
    })());
    const cluster = op;
    await within("the operator seeing the first run's learner", RUN_MS, (async () => {
      while (!(await cluster.actors()).some((a) => a.name === "learner")) await sleep(200);
    })());
    await within("the first run", RUN_MS, run);
    assert.deepEqual(steps(first), [1]);

    // The first run's server is gone; the operator's connection stays open, reconnecting.
    await within("a second run in a new folder", RUN_MS, selfplay({ recipe: "tiny", set, runDir: second, resume: false, steps: 1, web: false }));
    assert.deepEqual(steps(second), [1]);
    await within("the first run's folder resumed", RUN_MS, selfplay({ recipe: "tiny", set, runDir: first, resume: true, steps: 2, web: false }));
    assert.deepEqual(steps(first), [1, 2]);

    await within("closing the operator's connection to the stopped server", CLOSE_MS, op.close());
    op = undefined;
  } finally {
    await run.catch(() => {});
    if (op) await closeOrDrop(op);
    for (const d of [first, second, model]) rmSync(d, { recursive: true, force: true });
  }
});

test("second run - one shared nats-server (NATS_URL): the operator's connection to cluster azr stays live while a second run starts there", { timeout: 2 * RUN_MS + 120_000 }, async () => {
  const model = writeRandomTinyModel(2);
  const first = mkdtempSync(join(tmpdir(), "azr-second-shared-a-"));
  const second = mkdtempSync(join(tmpdir(), "azr-second-shared-b-"));
  const set = setFor(model);
  const saved = process.env.NATS_URL;
  process.env.NATS_URL = nats.url;
  let op: Cluster | undefined;
  let other: Cluster | undefined;
  try {
    await within("the first run", RUN_MS, selfplay({ recipe: "tiny", set, runDir: first, resume: false, steps: 1, web: false }));
    op = (await connectToRun({ cluster: "azr", "run-dir": first })).cluster;
    other = (await connectToRun({ cluster: "other", "run-dir": first })).cluster;
    await within("a second run on the same server and cluster", RUN_MS, selfplay({ recipe: "tiny", set, runDir: second, resume: false, steps: 1, web: false }));
    assert.deepEqual(steps(second), [1]);
    assert.ok((await op.actors()).some((a) => a.name === "learner"), "the operator's live connection sees the run's actors");
    await within("closing the operator's connections", CLOSE_MS, Promise.all([op.close(), other.close()]));
    op = other = undefined;
  } finally {
    if (saved === undefined) delete process.env.NATS_URL;
    else process.env.NATS_URL = saved;
    for (const c of [op, other]) if (c) await closeOrDrop(c);
    for (const d of [first, second, model]) rmSync(d, { recursive: true, force: true });
  }
});
