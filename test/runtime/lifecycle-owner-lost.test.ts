/**
 * A run SIGKILLed (no close(): its Cluster cannot stop what it spawned) must not leave its actors on
 * other node agents running: the agent holding one stops it once the run's node is lost, as a
 * normal close() would have (lifecycle-close-remote.test.ts).
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { useCluster } from "./helpers.ts";
import { processRunning } from "../helpers/processes.ts";


describe("a run killed outright with an actor on another node agent", () => {
  const CLUSTER = "t-lc-owner-lost";
  const t = useCluster(CLUSTER, { agent: { lostNodeMs: 2000 } }); // the other machine's agent

  test("the agent stops that actor once the run's node is lost: dead in the registry, its process gone", { timeout: 60_000 }, async () => {
    const script = fileURLToPath(new URL("./fixtures/owner-run.ts", import.meta.url));
    const run = spawn(process.execPath, ["--import", "tsx", script, t.server.url, CLUSTER, t.cluster.agent!.id, t.runDir], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const pid = await new Promise<number>((resolve, reject) => {
        let out = "";
        run.stdout!.on("data", (d: Buffer) => {
          out += d;
          const m = /owned-worker pid (\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        run.once("exit", (code) => reject(new Error(`the run exited (${code}) before spawning`)));
      });
      assert.ok(processRunning(pid));
      run.kill("SIGKILL");
      let e = await t.cluster.registry.get("owned-worker");
      for (const end = Date.now() + 20_000; (e?.state !== "dead" || processRunning(pid)) && Date.now() < end; await sleep(200)) e = await t.cluster.registry.get("owned-worker");
      assert.equal(e?.state, "dead", `owned-worker is ${e?.state} on ${e?.node} after the run that spawned it was killed`);
      assert.match(e?.reason ?? "", /^stopped: the run that spawned it is gone \(its node .+ is lost\)/);
      assert.ok(!processRunning(pid), `owned-worker's process ${pid} still runs`);
    } finally {
      run.kill("SIGKILL");
    }
  });
});
