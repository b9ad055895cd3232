/**
 * GPU indices on a node, as pure functions over tables: lowest free first, indices held by live
 * actors are busy, a dead actor frees them, an entry with a count but no indices (an older agent)
 * still takes its count; colocation (`gpuShare`): the group's devices count once and go to its
 * next member first, and placement sends a member to the node where its group already is.
 */
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { PlacementError } from "../../runtime/index.ts";
import { assignGpus, fits, freeResources, groupGpuIndices, place, spreadGpuIndices } from "../../runtime/placement.ts";
import type { ActorEntry, NodeEntry, Resources } from "../../runtime/registry.ts";

const now = 1_000_000;
const node = (id: string, gpus: number): NodeEntry => ({
  id,
  host: "h",
  pid: 1,
  resources: { cpu: 64, gpu: gpus, memoryMB: 1e6, labels: {} },
  gpus: Array.from({ length: gpus }, (_, index) => ({ index, name: "NVIDIA H100 80GB HBM3", memoryMB: 81559 })),
  lastHeartbeat: now,
});
const actor = (name: string, nodeId: string, resources: Resources, gpuIndices: number[] | undefined, state: ActorEntry["state"] = "alive"): ActorEntry => ({
  name, node: nodeId, pid: 2, state, restarts: 0, maxRestarts: 0, incarnation: 1, startedAt: now, lastHeartbeat: now, methods: [], resources,
  ...(gpuIndices ? { gpuIndices } : {}),
});

/** What the node agent does: re-check the fit on its node, then pick the indices. */
function assign(name: string, req: Resources, n: NodeEntry, actors: ActorEntry[]): number[] {
  const free = freeResources(n, actors, req.gpuShare);
  if (!fits(req, free)) throw new PlacementError(name, req, { [n.id]: free }, "does not fit");
  return assignGpus(name, req, n.id, free, groupGpuIndices(n, actors, req.gpuShare), spreadGpuIndices(n, actors, req));
}

describe("GPU indices", () => {
  const n = node("n", 4);

  test("lowest free first; live holders are busy, dead ones free theirs", () => {
    assert.deepEqual(assign("a", { gpu: 2 }, n, []), [0, 1]);
    const held = [actor("a", "n", { gpu: 1 }, [0]), actor("b", "n", { gpu: 1 }, [2])];
    assert.deepEqual(assign("c", { gpu: 2 }, n, held), [1, 3]);
    assert.deepEqual(assign("c", { gpu: 1 }, n, [...held, actor("d", "n", { gpu: 1 }, [1], "dead")]), [1]);
    assert.deepEqual(assign("c", { gpu: 1 }, n, [actor("r", "n", { gpu: 1 }, [0], "restarting")]), [1], "a restarting actor keeps its GPU");
    assert.deepEqual(assign("c", { gpu: 1 }, n, [actor("x", "other", { gpu: 1 }, [0])]), [0], "another node's indices are its own");
    assert.deepEqual(assign("cpu", { cpu: 1 }, n, []), [], "no gpu asked: none given");
    assert.deepEqual(assign("half", { gpu: 0.5 }, n, []), [0], "a fraction takes a whole device");
  });

  test("too few free: the error names the request and the free indices", () => {
    const held = [actor("a", "n", { gpu: 3 }, [0, 1, 3])];
    assert.equal(freeResources(n, held).gpu, 1);
    assert.throws(() => assign("c", { gpu: 2 }, n, held), (e: Error) => e instanceof PlacementError && /"gpu":2/.test(e.message) && /"gpu":1,.*"gpuIndices":\[2\]/.test(e.message));
  });

  test("an actor recorded with a count but no indices still takes that many", () => {
    const f = freeResources(n, [actor("old", "n", { gpu: 3 }, undefined)]);
    assert.equal(f.gpu, 1);
    assert.throws(() => assign("c", { gpu: 2 }, n, [actor("old", "n", { gpu: 3 }, undefined)]), PlacementError);
  });
});

describe("colocation (gpuShare)", () => {
  const n = node("n", 8);
  const share = "run";
  // The 14b layout as selfplay asks for it: rollout engine 4 GPUs, then the learner 8, one group.
  const rollout = actor("rollout-engine", "n", { gpu: 4, gpuShare: share }, [0, 1, 2, 3]);

  test("a member is given its group's GPUs first, then the lowest free ones; the group's GPUs count once", () => {
    assert.deepEqual(assign("learner", { gpu: 8, gpuShare: share }, n, [rollout]), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(assign("ref", { gpu: 2, gpuShare: share }, n, [rollout]), [0, 1]);
    const learner = actor("learner", "n", { gpu: 8, gpuShare: share }, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.equal(freeResources(n, [rollout, learner]).gpu, 0, "8 devices held, whatever the members ask in total (12)");
    assert.equal(freeResources(n, [rollout, learner], share).gpu, 8, "…all 8 usable by the group");
  });

  test("replicas (same gpuSpread) spread over the group's GPUs, whichever member came first; they stack only when nothing else is left", () => {
    const engine = { gpu: 4, gpuShare: share, gpuSpread: "rollout-engine" };
    const first = actor("rollout-engine", "n", engine, [0, 1, 2, 3]);
    assert.deepEqual(assign("rollout-engine-1", engine, n, [first]), [4, 5, 6, 7], "before the learner: the free GPUs, not the first replica's");
    const learner = actor("learner", "n", { gpu: 8, gpuShare: share, gpuSpread: "learner" }, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(assign("rollout-engine", engine, n, [learner]), [0, 1, 2, 3], "after the learner: its GPUs, lowest first");
    assert.deepEqual(assign("rollout-engine-1", engine, n, [learner, first]), [4, 5, 6, 7], "…and the next replica the ones the first does not hold");
    const second = actor("rollout-engine-1", "n", engine, [4, 5, 6, 7]);
    assert.deepEqual(assign("rollout-engine-2", engine, n, [learner, first, second]), [0, 1, 2, 3], "all held by replicas: stack on the lowest");
    assert.deepEqual(assign("ref", { gpu: 2, gpuShare: share, gpuSpread: "reference-model" }, n, [first, second]), [0, 1], "another spread key shares as before");
    assert.deepEqual(spreadGpuIndices(n, [first, { ...second, state: "dead" }], engine), [0, 1, 2, 3], "a dead replica holds nothing");
  });

  test("outsiders and other groups cannot use the group's GPUs", () => {
    assert.deepEqual(assign("other", { gpu: 4 }, n, [rollout]), [4, 5, 6, 7]);
    assert.deepEqual(assign("other", { gpu: 2, gpuShare: "another-run" }, n, [rollout]), [4, 5]);
    assert.throws(() => assign("other", { gpu: 5 }, n, [rollout]), PlacementError);
    // The group prefers its own devices even when lower ones are free.
    const mid = actor("rollout-engine", "n", { gpu: 2, gpuShare: share }, [4, 5]);
    assert.deepEqual(assign("learner", { gpu: 3, gpuShare: share }, n, [mid]), [0, 4, 5]);
  });

  test("without colocation the same two actors need separate GPUs", () => {
    const alone = actor("rollout-engine", "n", { gpu: 4 }, [0, 1, 2, 3]);
    assert.throws(() => assign("learner", { gpu: 8 }, n, [alone]), PlacementError);
    assert.deepEqual(assign("learner", { gpu: 4 }, n, [alone]), [4, 5, 6, 7]);
  });

  test("placement sends a member to the node where its group holds GPUs", () => {
    const nodes = [node("a", 8), node("b", 8)];
    const onB = actor("rollout-engine", "b", { gpu: 4, gpuShare: share }, [0, 1, 2, 3]);
    assert.equal(place("learner", { gpu: 8, gpuShare: share }, nodes, [onB], { now }), "b");
    assert.equal(place("other", { gpu: 8 }, nodes, [onB], { now }), "a");
  });
});
