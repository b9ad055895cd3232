/**
 * What an actor starts (a Python worker, a shell) ends with the actor: each actor process leads
 * its own process group, and the agent kills the group once the actor has exited — after a
 * crash (SIGKILL), a kill and a requested restart. The group also keeps the actors out of the
 * terminal's foreground group, so Ctrl-C reaches only the command that runs them.
 */
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Parent } from "./fixtures/lifecycle2-actors.ts";
import { useCluster } from "./helpers.ts";
import { processRunning } from "../helpers/processes.ts";


async function goneWithin(pid: number, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) if (!processRunning(pid)) return true;
  return !processRunning(pid);
}

/** Process group id of `pid` (field 5 of /proc/<pid>/stat). */
function pgid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
}

describe("lifecycle2: an actor's own child processes", () => {
  const t = useCluster("t-lc2-group", { agent: { restartBackoff: { firstMs: 50, maxMs: 50 } } });
  const strays: number[] = [];
  t.onTeardown(async () => {
    for (const pid of strays) if (processRunning(pid)) process.kill(pid, "SIGKILL");
  });

  test("each actor leads its own process group, apart from the agent's (and the terminal's)", async () => {
    const p = await t.cluster.spawn(Parent, [], { name: "grouped", freshState: true });
    const pid = await p.pid();
    assert.equal(pgid(pid), pid);
    assert.notEqual(pgid(pid), pgid(process.pid));
    await t.cluster.kill("grouped");
  });

  test("a child of the actor is ended when the actor crashes, is killed, or is restarted", async () => {
    const p = await t.cluster.spawn(Parent, [], { name: "parent", maxRestarts: 1, freshState: true });
    // A crash (SIGKILL: nothing in the actor runs to stop its children).
    let child = await p.startChild();
    strays.push(child);
    process.kill(await p.pid(), "SIGKILL");
    assert.ok(await goneWithin(child, 5000), `the crashed actor's child ${child} still runs`);
    // A requested restart.
    for (let i = 0; ; i++) {
      try {
        child = await p.startChild();
        break;
      } catch (e) {
        if (i > 50) throw e;
        await sleep(100); // the restart is under way
      }
    }
    strays.push(child);
    await t.cluster.restart("parent");
    assert.ok(await goneWithin(child, 5000), `the restarted actor's child ${child} still runs`);
    // A kill.
    child = await p.startChild();
    strays.push(child);
    await t.cluster.kill("parent", "test over");
    assert.ok(await goneWithin(child, 5000), `the killed actor's child ${child} still runs`);
  });
});
