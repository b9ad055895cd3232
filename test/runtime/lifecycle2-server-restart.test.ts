/**
 * The registry across a nats-server restart (SIGKILL, same port and store): the entries must
 * come back current — one incarnation per actor, heartbeats moving again, the node's entry
 * fresh — and an actor that crashes while the server is down must still be restarted and
 * registered, not left "alive" with a dead pid by an exit handler that could not reach the server.
 */
import { strict as assert } from "node:assert";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type ActorEntry, type Cluster } from "../../runtime/index.ts";
import { startNatsServer, type NatsServerHandle } from "../../runtime/nats-server.ts";
import { Counter } from "./fixtures/actors.ts";

/** Pids of the processes serving actor `name` (by their AZR_ACTOR_NAME), as in lifecycle-kill.test.ts. */
function actorProcesses(name: string): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/environ`, "latin1").split("\0").includes(`AZR_ACTOR_NAME=${name}`);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe("lifecycle2: the registry across a nats-server restart", () => {
  const dir = mkdtempSync(join(tmpdir(), "azr-t-lc2-srv-"));
  const storeDir = join(dir, "nats");
  let server: NatsServerHandle;
  let cluster: Cluster;
  let port: number;

  before(async () => {
    server = await startNatsServer({ storeDir });
    port = Number(new URL(server.url).port);
    cluster = await connect({ cluster: "t-lc2-srv", connection: { servers: [server.url] }, runDir: join(dir, "run"), agent: { restartBackoff: { firstMs: 50, maxMs: 50 } } });
  });
  after(async () => {
    await cluster?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function serverDown(): Promise<void> {
    process.kill(server.pid, "SIGKILL");
    await server.stop();
  }

  async function settled(name: string, ok: (e: ActorEntry) => boolean, ms: number): Promise<ActorEntry | undefined> {
    let e: ActorEntry | undefined;
    for (const end = Date.now() + ms; Date.now() < end; await sleep(250)) {
      e = await cluster.registry.get(name).catch(() => undefined);
      if (e && ok(e)) return e;
    }
    return e;
  }

  test("entries come back current, and an actor that crashed during the outage is restarted and registered", async () => {
    const h = await cluster.spawn(Counter, [], { name: "survivor", maxRestarts: 3, freshState: true });
    const pid1 = await h.pid();
    await serverDown();
    await sleep(3000);
    server = await startNatsServer({ storeDir, port });
    const t0 = Date.now();
    const e1 = await settled("survivor", (e) => e.lastHeartbeat > t0, 15_000);
    assert.equal(e1?.state, "alive", JSON.stringify(e1));
    assert.equal(e1?.incarnation, 1);
    assert.equal(e1?.pid, pid1);
    const nodes = await cluster.nodes();
    assert.equal(nodes.length, 1);
    assert.ok(Date.now() - nodes[0].lastHeartbeat < 5000, "the node's heartbeat moves again");

    await serverDown();
    process.kill(pid1, "SIGKILL"); // crashes while its agent cannot reach the registry
    await sleep(4000);
    server = await startNatsServer({ storeDir, port });
    const e2 = await settled("survivor", (e) => e.state === "alive" && e.incarnation >= 2, 20_000);
    assert.equal(e2?.state, "alive", `registry after the outage: ${JSON.stringify(e2)}`);
    assert.equal(e2?.incarnation, 2, "one restart: no duplicate incarnations");
    const pids = actorProcesses("survivor");
    assert.deepEqual(pids, [e2!.pid], "exactly one process serves it, the one the registry names");
    assert.equal(await h.add(2), 2);
    assert.deepEqual(Object.keys(cluster.agent!.pids()), ["survivor"]);
  });
});
