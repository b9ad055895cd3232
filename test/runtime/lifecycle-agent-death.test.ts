/**
 * A node agent killed with SIGKILL (no chance to stop its actors): its actor processes must not
 * live on as orphans holding CPU, memory or a GPU — an idle one, and one whose event loop is
 * busy in a method (so neither its IPC `disconnect` handler nor a SIGTERM handler can run).
 */
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ActorDiedError } from "../../runtime/index.ts";
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

/**
 * What a caller meets when the agent of the actor serving its call dies: the actor's process stops
 * (its watchdog) and its methods see their calls aborted. The caller must see the actor die
 * (ActorDiedError: retried once a restarted or re-placed incarnation serves, as the self-play
 * driver does), not the method's own "aborted" error, which ended a run as if the method had failed.
 */
describe("calls in flight when the actor's node agent dies", () => {
  const t = useCluster("t-lc-agent-calls");

  test("running, queued and streaming calls end with ActorDiedError naming the stop, not the method's abort error", async () => {
    const agent = await startAgentProcess({ cluster: "t-lc-agent-calls", id: "doomed-calls", runDir: t.runDir, env: { NATS_URL: t.server.url } });
    const pids: number[] = [];
    const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: Error) => e);
    try {
      const unary = await t.cluster.spawn(Busy, [], { name: "cut-off", node: "doomed-calls" });
      const streaming = await t.cluster.spawn(Busy, [], { name: "cut-off-stream", node: "doomed-calls" });
      pids.push(await unary.pid(), await streaming.pid());
      const running = failure(unary.waitForAbort());
      const queued = failure(unary.waitForAbort()); // a sequential actor: waits behind the first
      const stream = (async () => {
        let n = 0;
        try {
          for await (const _ of streaming.tickUntilAborted()) n++;
        } catch (e) {
          return { n, e: e as Error };
        }
        return { n, e: undefined };
      })();
      await sleep(500);
      agent.kill("SIGKILL");
      const cases = [
        ["running", await running, /actor 'cut-off' died or is not running: its process stopped while serving waitForAbort\(\) \(work aborted by the caller\)/],
        ["queued", await queued, /actor 'cut-off' died or is not running: its process stopped while serving waitForAbort\(\) \(actor 'cut-off' stopped before the call ran\)/],
        ["stream", (await stream).e, /actor 'cut-off-stream' died or is not running: its process stopped while serving tickUntilAborted\(\)/],
      ] as const;
      for (const [what, e, message] of cases) {
        assert.ok(e instanceof ActorDiedError, `${what}: ${e?.name}: ${e?.message}`);
        assert.match(e.message, message);
      }
      assert.ok((await stream).n > 0, "the stream delivered items before the stop");
    } finally {
      agent.kill("SIGKILL");
      for (const pid of pids) if (processRunning(pid)) process.kill(pid, "SIGKILL");
    }
  });
});
