/**
 * A Cluster that spawned actors on another node agent (a standalone `node-agent-main.ts`, as on
 * several machines) stops them when it closes, as it stops the actors of its own in-process
 * agent: a finished `azr selfplay` must not leave its learner and rollout engine running on the
 * other machines (holding CPU, memory, GPUs, and the fixed actor names the next run spawns).
 */
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { ChildProcess } from "node:child_process";
import { connect } from "../../runtime/index.ts";
import { startNatsServer, type NatsServerHandle } from "../../runtime/nats-server.ts";
import { Busy } from "./fixtures/lifecycle-actors.ts";
import { startAgentProcess, stopAgentProcess } from "./helpers.ts";
import { processRunning } from "../helpers/processes.ts";


describe("a cluster closing with actors on another node agent", () => {
  const CLUSTER = "t-lc-close-remote";
  const runDir = mkdtempSync(join(tmpdir(), "azr-lc-close-remote-"));
  let server: NatsServerHandle;
  let agent: ChildProcess | undefined;
  before(async () => {
    server = await startNatsServer();
    agent = await startAgentProcess({ cluster: CLUSTER, id: "other-machine", runDir, env: { NATS_URL: server.url } });
  });
  after(async () => {
    if (agent) await stopAgentProcess(agent);
    await server?.stop();
    rmSync(runDir, { recursive: true, force: true });
  });

  test("stops them: dead in the registry, their processes gone, their names free for the next run", async () => {
    const connection = { servers: [server.url] };
    const run = await connect({ cluster: CLUSTER, connection, runDir, agent: true });
    let pid = 0;
    try {
      const a = await run.spawn(Busy, [], { name: "remote-worker", node: "other-machine" });
      pid = await a.pid();
    } finally {
      await run.close();
    }
    const next = await connect({ cluster: CLUSTER, connection, runDir });
    try {
      const e = await next.registry.get("remote-worker");
      assert.equal(e?.state, "dead", `remote-worker is ${e?.state} on ${e?.node} after the cluster that spawned it closed`);
      for (const end = Date.now() + 10_000; processRunning(pid) && Date.now() < end; ) await sleep(100);
      assert.ok(!processRunning(pid), `remote-worker's process ${pid} still runs after the cluster that spawned it closed`);
      // The next run can spawn the same name.
      const again = await next.spawn(Busy, [], { name: "remote-worker", node: "other-machine" });
      assert.ok((await again.pid()) > 0);
    } finally {
      await next.close();
    }
  });
});
