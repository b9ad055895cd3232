/**
 * Streams across a nats-server restart (same port, same store), with the actor in its own
 * process: core NATS drops what is published while a side is disconnected, so data frames and
 * credit grants get lost. Each stream must either complete with every value once and in order,
 * or fail with StreamInterruptedError after an unbroken prefix: never hang, never skip or repeat.
 */
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, StreamInterruptedError, withCallOptions, type Cluster } from "../../runtime/index.ts";
import { startNatsServer, type NatsServerHandle } from "../../runtime/nats-server.ts";
import { Counter } from "./fixtures/actors.ts";

describe("streams across a nats-server restart", () => {
  const dir = mkdtempSync(join(tmpdir(), "azr-t-restart-"));
  const storeDir = join(dir, "nats");
  let server: NatsServerHandle;
  let cluster: Cluster;
  let port: number;

  before(async () => {
    server = await startNatsServer({ storeDir });
    port = Number(new URL(server.url).port);
    cluster = await connect({ cluster: "t-restart", connection: { servers: [server.url] }, runDir: join(dir, "run"), agent: true });
  });
  after(async () => {
    await cluster?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** SIGKILLs the server (nothing flushed, nothing said to clients) and starts it again on its port. */
  async function restartServer(downMs: number): Promise<void> {
    process.kill(server.pid, "SIGKILL");
    await server.stop();
    await sleep(downMs);
    server = await startNatsServer({ storeDir, port });
  }

  test("every stream completes whole and in order, or fails with StreamInterruptedError after an unbroken prefix", async () => {
    const h = await cluster.spawn(Counter, [], { name: "streamer" });
    const N = 3000;
    const outcomes: string[] = [];
    // Several restarts at different points: which side reconnects first (and so which messages
    // are lost) varies from one to the next.
    for (const [trial, at, downMs] of [
      [0, 200, 300],
      [1, 1000, 800],
      [2, 50, 1500],
    ] as const) {
      const got: number[] = [];
      let restart: Promise<void> | undefined;
      const run = (async () => {
        for await (const x of withCallOptions(h, { window: 8 }).count(N)) {
          got.push(x);
          if (got.length === at) restart = restartServer(downMs);
        }
      })().then(
        () => "completed",
        (e: unknown) => e,
      );
      const giveUp = new AbortController();
      const deadline = sleep(45_000, "hung", { signal: giveUp.signal }).catch(() => "");
      const outcome = await Promise.race([run, deadline]);
      giveUp.abort();
      await restart;
      assert.notEqual(outcome, "hung", `trial ${trial}: the stream hung after ${got.length} values`);
      assert.deepEqual(got, Array.from({ length: got.length }, (_, i) => i), `trial ${trial}: values skipped, repeated or reordered`);
      if (outcome === "completed") assert.equal(got.length, N, `trial ${trial}: completed with ${got.length} of ${N} values`);
      else assert.ok(outcome instanceof StreamInterruptedError, `trial ${trial}: failed with ${String(outcome)}`);
      outcomes.push(outcome === "completed" ? "completed" : `interrupted after ${got.length}: ${(outcome as Error).message}`);
    }
    console.log(`outcomes: ${outcomes.join(" | ")}`);
    // The actor still serves streams once the server is back.
    const all: number[] = [];
    for await (const x of h.count(50)) all.push(x);
    assert.equal(all.length, 50);
  });
});
