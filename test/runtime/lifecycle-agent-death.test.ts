/**
 * A node agent killed with SIGKILL (no chance to stop its actors): its actor processes must not
 * live on as orphans holding CPU, memory or a GPU — an idle one, and one whose event loop is
 * busy in a method (so neither its IPC `disconnect` handler nor a SIGTERM handler can run).
 */
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Busy } from "./fixtures/lifecycle-actors.ts";
import { startAgentProcess, useCluster } from "./helpers.ts";
import { processRunning } from "../helpers/processes.ts";


async function goneWithin(pid: number, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(200)) if (!processRunning(pid)) return true;
  return !processRunning(pid);
}

describe("node agent killed with SIGKILL", () => {
  const t = useCluster("t-lc-agent");

  test("its actor processes exit, the busy one included, instead of running on as orphans", async () => {
    const agent = await startAgentProcess({ cluster: "t-lc-agent", id: "doomed-node", runDir: t.runDir, env: { NATS_URL: t.server.url } });
    let pids: number[] = [];
    try {
      const idle = await t.cluster.spawn(Busy, [], { name: "idle-orphan", node: "doomed-node" });
      const busy = await t.cluster.spawn(Busy, [], { name: "busy-orphan", node: "doomed-node" });
      pids = [await idle.pid(), await busy.pid()];
      busy.spinForever().catch(() => undefined); // never answers: its process spins until killed
      await sleep(500);
      agent.kill("SIGKILL");
      const t0 = Date.now();
      for (const [i, pid] of pids.entries()) {
        assert.ok(await goneWithin(pid, 15_000), `${i ? "busy" : "idle"} actor process ${pid} still runs ${Date.now() - t0} ms after its agent was killed`);
      }
    } finally {
      agent.kill("SIGKILL");
      for (const pid of pids) if (processRunning(pid)) process.kill(pid, "SIGKILL");
    }
  });
});
