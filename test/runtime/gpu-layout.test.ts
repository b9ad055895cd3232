/**
 * The GPU recipes' layout as `azr selfplay` asks for it: each actor's spawn resources (the
 * recipe's cpus and gpus, one share group when colocated) put through the node agent's index
 * assignment on a node with the recipe's GPU count, in selfplay's spawn order; and the preflight
 * message for too few GPUs naming what the recipe needs and what the machine has.
 */
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { actorDevice, actorResources } from "../../cli/commands/selfplay.ts";
import { applySettings, getRecipe, type Recipe } from "../../recipes/index.ts";
import { preflight } from "../../recipes/preflight.ts";
import { PlacementError } from "../../runtime/index.ts";
import { assignGpus, fits, freeResources, groupGpuIndices, spreadGpuIndices } from "../../runtime/placement.ts";
import { replicaName } from "../../actors/selfplay/rollout-pool.ts";
import type { ActorEntry, NodeEntry } from "../../runtime/registry.ts";

const ORDER = ["code-executor", "task-buffer", "rollout-engine", "learner"] as const;

/** The indices each actor of one selfplay run is given on a fresh node with `gpus` devices (every rollout replica, named as selfplay names them). */
function layout(recipe: Recipe, gpus: number): Record<string, number[]> {
  const node: NodeEntry = { id: "n", host: "h", pid: 1, resources: { cpu: 1024, gpu: gpus, memoryMB: 1e7, labels: {} }, lastHeartbeat: Date.now() };
  const actors: ActorEntry[] = [];
  const out: Record<string, number[]> = {};
  for (const kind of ORDER) {
    const names = kind === "rollout-engine" ? Array.from({ length: recipe.actors[kind].replicas }, (_, i) => replicaName(i)) : [kind];
    for (const name of names) {
      const req = actorResources(recipe, kind);
      const free = freeResources(node, actors, req.gpuShare);
      if (!fits(req, free)) throw new PlacementError(name, req, { n: free }, "does not fit");
      out[name] = assignGpus(name, req, "n", free, groupGpuIndices(node, actors, req.gpuShare), spreadGpuIndices(node, actors, req));
      actors.push({ name, node: "n", pid: 1, state: "alive", restarts: 0, maxRestarts: 0, incarnation: 1, startedAt: 0, lastHeartbeat: 0, methods: [], resources: req, gpuIndices: out[name] });
    }
  }
  return out;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe("GPU recipes as selfplay spawns them", () => {
  for (const [name, gpus, rollout] of [["coder3b", 2, 2], ["qwen3-4b", 2, 2], ["7b", 4, 2], ["llama8b", 4, 2], ["14b", 8, 4], ["coder14b", 8, 4]] as const) {
    test(`${name}: rollout engines of ${rollout} GPUs each side by side over the ${gpus}, the learner on all (colocated); executor and buffer on none`, () => {
      const r = getRecipe(name);
      assert.equal(r.resources.gpus, gpus);
      const replicas = r.actors["rollout-engine"].replicas;
      assert.equal(replicas * rollout, gpus, "the rollout replicas cover the GPUs");
      const engines = Object.fromEntries(Array.from({ length: replicas }, (_, i) => [replicaName(i), range(rollout).map((g) => i * rollout + g)]));
      assert.deepEqual(layout(r, gpus), { "code-executor": [], "task-buffer": [], ...engines, learner: range(gpus) });
      assert.deepEqual([actorDevice(r, "rollout-engine"), actorDevice(r, "learner"), actorDevice(r, "code-executor")], ["cuda", "cuda", "cpu"]);
      assert.equal(actorResources(r, "learner").cpu, r.actors.learner.cpus);
    });
  }

  test("without colocation the rollout engine and learner need GPUs of their own", () => {
    const r = applySettings(getRecipe("coder3b"), ["resources.gpus=4", "resources.colocate=false"]);
    assert.equal(actorResources(r, "learner").gpuShare, undefined);
    assert.deepEqual(layout(r, 4), { "code-executor": [], "task-buffer": [], "rollout-engine": [0, 1], learner: [2, 3] });
    assert.throws(() => layout(r, 2), /cannot place actor 'learner'/);
  });

  test("tiny asks for no GPU: every actor gets CUDA_VISIBLE_DEVICES empty and the cpu device", () => {
    const r = getRecipe("tiny");
    assert.deepEqual(Object.values(layout(r, 0)), [[], [], [], []]);
    assert.equal(actorDevice(r, "learner"), "cpu");
  });
});

describe("preflight on a machine with too few GPUs", () => {
  test("names what the recipe needs and what was found", () => {
    const r = getRecipe("14b");
    const probe = { root: "/", gpus: 2, gpuDetail: "2 × NVIDIA A10G (23028 MB)", torch: { available: true }, exists: () => true };
    const gpu = preflight(r, probe).find((p) => /GPUs/.test(p.what));
    assert.ok(gpu, "a GPU problem is reported");
    assert.match(gpu.what, /needs 8 GPUs \(80 GB class\) \(rollout-engine 2 × 4, learner 8; colocated: they share GPUs\); this machine offers 2 \(2 × NVIDIA A10G \(23028 MB\)\)/);
    const none = preflight(r, { ...probe, gpus: 0, gpuDetail: "nvidia-smi not found (no NVIDIA driver on this machine)" }).find((p) => /GPUs/.test(p.what));
    assert.match(none?.what ?? "", /offers 0 \(nvidia-smi not found/);
    assert.equal(preflight(r, { ...probe, gpus: 8 }).filter((p) => /GPUs/.test(p.what)).length, 0);
  });
});
