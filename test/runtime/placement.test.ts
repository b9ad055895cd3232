/**
 * Node agents and placement: the pure placement rule on tables, then two node agents in their
 * own processes (one advertising `gpu: 1`) on a real nats-server, with a gpu-requiring actor
 * landing on the gpu node and an unfittable request naming what is free.
 */
import { strict as assert } from "node:assert";
import type { ChildProcess } from "node:child_process";
import { before, describe, test } from "node:test";
import { PlacementError, type Cluster } from "../../runtime/index.ts";
import { place } from "../../runtime/placement.ts";
import type { ActorEntry, NodeEntry } from "../../runtime/registry.ts";
import { Counter, GpuWorker } from "./fixtures/actors.ts";
import { startAgentProcess, stopAgentProcess, useCluster } from "./helpers.ts";

const now = 1_000_000;
const node = (id: string, gpu: number, extra: Partial<NodeEntry> = {}): NodeEntry => ({
  id,
  host: "h",
  pid: 1,
  resources: { cpu: 4, gpu, memoryMB: 1000, labels: {} },
  lastHeartbeat: now,
  ...extra,
});
const actor = (name: string, nodeId: string, resources: ActorEntry["resources"], state: ActorEntry["state"] = "alive"): ActorEntry => ({
  name,
  node: nodeId,
  pid: 2,
  state,
  restarts: 0,
  maxRestarts: 0,
  incarnation: 1,
  startedAt: now,
  lastHeartbeat: now,
  methods: [],
  resources,
});

describe("placement rule", () => {
  test("a gpu request goes to the node with a free gpu; a cpu-only one keeps off it", () => {
    const nodes = [node("a", 0), node("b", 1)];
    assert.equal(place("g", { gpu: 1 }, nodes, [], { now }), "b");
    assert.equal(place("c", { cpu: 1 }, nodes, [], { now }), "a");
  });

  test("resources held by live actors are not free; dead actors hold nothing", () => {
    const nodes = [node("a", 1)];
    assert.throws(() => place("g2", { gpu: 1 }, nodes, [actor("g1", "a", { gpu: 1 })], { now }), PlacementError);
    assert.equal(place("g2", { gpu: 1 }, nodes, [actor("g1", "a", { gpu: 1 }, "dead")], { now }), "a");
  });

  test("labels must match; stale nodes are skipped; a pinned node is honoured or refused", () => {
    const nodes = [node("a", 0, { resources: { cpu: 4, gpu: 0, memoryMB: 1000, labels: { zone: "x" } } }), node("old", 8, { lastHeartbeat: 0 })];
    assert.equal(place("l", { labels: { zone: "x" } }, nodes, [], { now }), "a");
    assert.throws(() => place("l", { labels: { zone: "y" } }, nodes, [], { now }), PlacementError);
    assert.throws(() => place("g", { gpu: 1 }, nodes, [], { now }), /Free per node: a: /);
    assert.throws(() => place("p", {}, nodes, [], { now, node: "old" }), /node 'old' is not running/);
  });
});

describe("two node agents in separate processes", () => {
  const t = useCluster("t-place");
  let cluster: Cluster;
  const agents: ChildProcess[] = [];

  before(async () => {
    cluster = t.cluster;
    const common = { cluster: "t-place", runDir: t.runDir, env: { NATS_URL: t.server.url } };
    agents.push(...(await Promise.all([startAgentProcess({ ...common, id: "cpu-node", gpu: 0 }), startAgentProcess({ ...common, id: "gpu-node", gpu: 1 })])));
  });
  t.onTeardown(async () => {
    for (const a of agents) await stopAgentProcess(a);
  });

  test("both nodes advertise their resources in the registry", async () => {
    const nodes = Object.fromEntries((await cluster.nodes()).map((n) => [n.id, n.resources]));
    assert.equal(nodes["cpu-node"]?.gpu, 0);
    assert.equal(nodes["gpu-node"]?.gpu, 1);
  });

  test("a gpu-requiring actor lands on the gpu node; a cpu-only one does not", async () => {
    const [g, c] = await Promise.all([
      cluster.spawn(GpuWorker, [], { name: "gpu-worker", resources: { gpu: 1 } }),
      cluster.spawn(Counter, [1], { name: "cpu-worker", resources: { cpu: 1 } }),
    ]);
    assert.equal((await cluster.registry.get("gpu-worker"))?.node, "gpu-node");
    assert.equal((await cluster.registry.get("cpu-worker"))?.node, "cpu-node");
    assert.equal(await g.node(), "gpu-worker");
    assert.equal(await c.add(1), 2);
  });

  test("a request no node fits fails with an error naming the request and what each node has free", async () => {
    const err = await cluster.spawn(GpuWorker, [], { name: "second-gpu", resources: { gpu: 1 } }).catch((e: unknown) => e);
    assert.ok(err instanceof PlacementError, `got ${err}`);
    assert.match(err.message, /"gpu":1/);
    assert.match(err.message, /gpu-node: \{"cpu":2,"gpu":0/, "the gpu node's one gpu is taken");
    assert.match(err.message, /cpu-node: \{"cpu":1,"gpu":0/);
  });
});
