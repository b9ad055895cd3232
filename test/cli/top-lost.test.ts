/**
 * `azr top` on an actor whose node agent is gone (SIGKILLed, its machine gone): the registry still
 * says "alive", as nobody is left to write its end. top shows it as lost, with which node and why,
 * as `azr actors` does (registry.ts actorLiveness), marks the node LOST, and does not ask the lost
 * actor for figures. In-process, on a registry given as data: no server needed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ActorEntry, Cluster, NodeEntry } from "../../runtime/index.ts";
import { collectTop, renderTop } from "../../cli/commands/top.ts";

test("top - an actor on a node whose agent is silent shows as lost (JSON and text), its node LOST", async () => {
  const now = Date.now();
  const node = (id: string, heartbeatAgo: number): NodeEntry => ({
    id, host: "h", pid: 100, resources: { cpu: 2, gpu: 0, memoryMB: 1000, labels: {} }, lastHeartbeat: now - heartbeatAgo,
  });
  const actor = (name: string, onNode: string): ActorEntry => ({
    name, node: onNode, pid: 200, state: "alive", restarts: 0, maxRestarts: 3, incarnation: 1, startedAt: now - 60_000, lastHeartbeat: now - 60_000,
    methods: [], resources: { cpu: 1, gpu: 0, memoryMB: 0 } as ActorEntry["resources"],
  });
  const asked: string[] = [];
  const cluster = {
    name: "t-top-lost",
    stats: async (name: string) => {
      asked.push(name);
      throw new Error("no answer");
    },
    nc: { request: async () => Promise.reject(new Error("no answer")) },
  } as unknown as Cluster;
  const registry = {
    actors: async () => [actor("gone1", "n-dead"), actor("ok1", "n-live")],
    nodes: async () => [node("n-dead", 120_000), node("n-live", 500)],
  };
  const snap = await collectTop(cluster, "http://127.0.0.1:1", undefined, registry);
  const byName = Object.fromEntries(snap.actors.map((a) => [a.name, a]));
  assert.equal(byName.gone1.state, "lost");
  assert.equal(byName.gone1.registryState, "alive");
  assert.match(byName.gone1.lostBecause ?? "", /node n-dead \(agent pid 100 on h\) has sent no heartbeat for 120 s/);
  assert.equal(byName.gone1.uptimeSec, null, "a lost actor has no uptime to show");
  assert.equal(byName.ok1.state, "alive");
  assert.deepEqual(asked, ["ok1"], "the lost actor is not asked for figures (each ask would wait out its timeout)");

  const text = renderTop(snap);
  assert.match(text, /^gone1\s+lost\s+n-dead\b/m);
  assert.match(text, /^ok1\s+alive\s+n-live\b/m);
  assert.match(text, /^gone1: lost — node n-dead .* \(registry: alive\)$/m);
  assert.match(text, /^n-dead\s+h\s+.*\b2m00s LOST$/m);
  assert.doesNotMatch(text, /^n-live .*LOST/m);
});
