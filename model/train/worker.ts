/**
 * The trainer's worker thread: owns weights, optimiser state and onnxruntime sessions, and runs
 * each request to completion in arrival order, so the host thread (an actor answering calls and
 * heartbeats) never blocks on session.run.
 */
import { parentPort, workerData } from "node:worker_threads";
import { loadModel } from "../checkpoint.ts";
import { exportMerged, loadTrainState, saveTrainState } from "./checkpoint.ts";
import { TrainCore } from "./core.ts";
import { DEFAULT_POLICY_LOSS } from "./losses.ts";
import { mergeLora, resolveLora } from "./lora.ts";
import { checkOptim, type OptimSettings } from "./optim.ts";
import type { RemoteError, TrainerInit, TrainerReply, TrainerRequest } from "./protocol.ts";

const port = parentPort!;
const post = (m: TrainerReply) => port.postMessage(m);
const asRemote = (e: unknown): RemoteError =>
  e instanceof Error ? { name: e.name, message: e.message, stack: e.stack } : { name: "Error", message: String(e) };

function resumedOptim(o: OptimSettings, init: Extract<TrainerInit, { source: "checkpoint" }>): OptimSettings {
  const next = { ...o, ...(init.decay !== undefined && { decay: init.decay }), ...(init.totalSteps !== undefined && { totalSteps: init.totalSteps }) };
  checkOptim(next);
  return next;
}

function start(init: TrainerInit): TrainCore {
  if (init.source === "checkpoint") {
    const s = loadTrainState(init.dir);
    return new TrainCore({
      // A resumed run may add an anneal phase or move the cosine's horizon (both recorded in its
      // next checkpoint); nothing else changes.
      config: s.config, weights: s.weights, loss: s.loss, optim: resumedOptim(s.optim, init), lora: s.lora, adapters: s.adapters, seed: s.seed,
      threads: init.options.threads, maxPositions: init.options.maxPositions, recompute: init.options.recompute, resume: { adam: s.adam, stepCount: s.stepCount },
    });
  }
  const { config, weights } = init.source === "dir" ? loadModel(init.dir) : init;
  const o = init.options;
  const lora = o.lora ? resolveLora(o.lora, config) : undefined;
  return new TrainCore({
    config, weights, loss: o.loss ?? DEFAULT_POLICY_LOSS, optim: o.optim, lora: lora?.settings, adapters: lora?.adapters,
    seed: o.seed, threads: o.threads, maxPositions: o.maxPositions, recompute: o.recompute,
  });
}

let core: TrainCore;
try {
  core = start(workerData as TrainerInit);
  const trainable = [...core.params.values()].reduce((a, p) => a + p.length, 0);
  post({ id: 0, kind: "ready", config: core.config, step: core.stepCount, trainable });
} catch (e) {
  post({ id: 0, kind: "initError", error: asRemote(e) });
}

const state = () => ({
  config: core.config, weights: core.weights, adapters: core.lora ? core.params : undefined, lora: core.lora,
  adam: core.adam, stepCount: core.stepCount, seed: core.seed, loss: core.loss, optim: core.optim,
});

async function handle(m: TrainerRequest): Promise<unknown> {
  switch (m.kind) {
    case "trainStep": return core.step(m.batch);
    case "getWeights": return core.params; // structured clone copies
    case "getMergedWeights": return core.lora ? mergeLora(core.config, core.weights, core.params, core.lora) : core.weights;
    case "setWeights":
      for (const [name, p] of core.params) {
        const next = m.weights.get(name);
        if (!next || next.length !== p.length) throw new Error(`setWeights: ${name} is missing or has ${next?.length} values, expected ${p.length}`);
        p.set(next); // in place: the optimiser state keeps referring to the same tensors
      }
      return null;
    case "save": saveTrainState(m.dir, state()); return null;
    case "load": {
      const init = workerData as TrainerInit;
      const next = start({ source: "checkpoint", dir: m.dir, options: { threads: init.options.threads, maxPositions: init.options.maxPositions, recompute: init.options.recompute } });
      await core.dispose();
      core = next;
      return core.stepCount;
    }
    case "exportModel": exportMerged(m.dir, state()); return null;
    case "dispose": await core.dispose(); return null;
  }
}

// One request at a time, in order.
let queue = Promise.resolve();
port.on("message", (m: TrainerRequest) => {
  queue = queue.then(async () => {
    try {
      post({ id: m.id, kind: "result", value: await handle(m) });
    } catch (e) {
      post({ id: m.id, kind: "error", error: asRemote(e) });
    }
  });
});
