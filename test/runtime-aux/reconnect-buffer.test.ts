/**
 * What a connection holds while the NATS server is gone: nats.js queues every publish in memory
 * until its next reconnect attempt, with no bound of its own, so an outage during a log flood or a
 * span stream grew the agent and the actors without limit. The bound (connection.ts) drops past
 * RECONNECT_BUFFER_BYTES without throwing and says the loss once reconnected; the node agent's
 * log publisher (logs.ts) keeps its lines to the file and counts them as not sent live.
 * Real nats-server, SIGKILLed and restarted on its port as server-restart.test.ts does.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { startNatsServer, type NatsServerHandle } from "../../runtime/nats-server.ts";
import { connectionDown, openConnection, RECONNECT_BUFFER_BYTES } from "../../runtime/connection.ts";
import { ActorLog, followLogs, type LogLine } from "../../runtime/logs.ts";
import { until } from "../helpers/wait.ts";

/** Bytes the client has queued for the server; nats.js exposes no public count of them. */
function queuedBytes(nc: NatsConnection): number {
  return (nc as unknown as { protocol: { outbound: { size(): number } } }).protocol.outbound.size();
}

describe("publishing while the NATS server is down", () => {
  const dir = mkdtempSync(join(tmpdir(), "azr-t-rbuf-"));
  const storeDir = join(dir, "nats");
  let server: NatsServerHandle;
  let port: number;

  before(async () => {
    server = await startNatsServer({ storeDir });
    port = Number(new URL(server.url).port);
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a burst over the bound: the client's queue stays bounded, nothing throws, the loss is said after reconnect, and actor lines are counted as not sent live", async (t) => {
    const warned: string[] = [];
    t.mock.method(console, "warn", (s: string) => warned.push(s));
    const nc = await openConnection({ servers: [server.url] }, "rbuf-test");
    // The follower reconnects sooner than `nc` (100 ms against 2 s), so it is back when the notice comes.
    const followerNc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const got: LogLine[] = [];
    const ac = new AbortController();
    const following = (async () => {
      for await (const l of followLogs(followerNc, "rbuf", "w1", ac.signal)) got.push(l);
    })();
    await followerNc.flush();
    const log = new ActorLog(nc, "rbuf", "w1", join(dir, "run"), false);
    try {
      process.kill(server.pid, "SIGKILL");
      await server.stop();
      await until("the client to notice the server is gone", () => connectionDown(nc), 5000, 20);

      const payload = new Uint8Array(1024);
      const n = Math.ceil((4 * RECONNECT_BUFFER_BYTES) / payload.length);
      for (let i = 0; i < n; i++) nc.publish("rbuf.burst", payload); // must not throw
      const queued = queuedBytes(nc);
      assert.ok(queued <= RECONNECT_BUFFER_BYTES + 64 * 1024, `the client queued ${queued} bytes for a burst of ${n} KiB; the bound is ${RECONNECT_BUFFER_BYTES}`);
      const lines = 300;
      for (let i = 0; i < lines; i++) log.write("stdout", `down ${i}`);

      await sleep(2500); // at least one reconnect attempt after the burst: it discards what was queued
      server = await startNatsServer({ storeDir, port });
      await until("the client to reconnect", () => !connectionDown(nc), 10_000, 20);
      const notice = () => got.find((l) => /not sent live/.test(l.line));
      await until("the not-sent-live notice", () => notice() !== undefined, 5000, 20);
      assert.match(notice()!.line, new RegExp(`^azr: ${lines} line\\(s\\) of this actor were not sent live .*the NATS connection was down`));
      assert.ok(!got.some((l) => l.line.startsWith("down ")), "lines of the outage are not sent late (they are in the file)");
      const said = warned.filter((w) => /NATS connection to .* was down/.test(w));
      assert.equal(said.length, 1, warned.join("\n"));
      assert.match(said[0], new RegExp(`; ${n} message\\(s\\) \\([\\d.]+ MiB\\) published meanwhile were lost .*azr holds at most 8\\.0 MiB`));
      // The connection works again.
      log.write("stdout", "back");
      await until("a line after the reconnect", () => got.some((l) => l.line === "back"), 5000, 20);
    } finally {
      ac.abort();
      await following;
      await log.close();
      await nc.close();
      await followerNc.close();
    }
  });
});
