/**
 * `azr logs -f` with a slow reader (stdout piped to something that reads slowly): lines used to
 * pile up without bound, in stdout's buffer (written without waiting) or the subscription's queue.
 * Now printLogs waits for each write, followLogs holds at most MAX_FOLLOW_PENDING_BYTES and says,
 * where the gap is, how many lines it dropped. Real nats-server.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { useNatsServer } from "../helpers/nats.ts";
import { printLogs, writeLine } from "../../cli/commands/logs.ts";
import { encode } from "../../runtime/codec.ts";
import { followLogs, MAX_FOLLOW_PENDING_BYTES, type LogLine } from "../../runtime/logs.ts";
import type { Cluster } from "../../runtime/index.ts";

describe("azr logs -f with a slow reader", () => {
  const nats = useNatsServer();
  let nc: NatsConnection;
  const dir = mkdtempSync(join(tmpdir(), "azr-t-logslow-"));
  before(async () => {
    nc = await connect({ servers: nats.url });
  });
  after(async () => {
    await nc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("logs -f: lines wait for the reader, at most the bound is held, and the dropped ones are counted where they were", async () => {
    mkdirSync(join(dir, "logs"), { recursive: true });
    writeFileSync(join(dir, "logs", "w1.log"), "");
    const cluster = { nc, logs: (actor: string, signal?: AbortSignal) => followLogs(nc, "slow1", actor, signal) } as unknown as Cluster;
    // The reader takes nothing until the burst is over, then reads at once.
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const written: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const write = async (l: string) => {
      written.push(l);
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      await gate;
      inFlight--;
    };
    const ac = new AbortController();
    const following = printLogs({ cluster, runDir: dir, actor: "w1", follow: true, write, signal: ac.signal });
    await sleep(200); // subscribed
    const n = Math.ceil((2 * MAX_FOLLOW_PENDING_BYTES) / 1024);
    for (let i = 0; i < n; i++) {
      const l: LogLine = { actor: "w1", stream: "stdout", line: `${i} ${"x".repeat(1000)}`, at: Date.now() };
      nc.publish("azr.slow1.logs.w1", encode(l));
    }
    await nc.flush(); // the server has delivered the burst to this same connection before its PONG
    assert.ok(maxInFlight <= 1, `${maxInFlight} writes waited on the reader at once: lines are not held back for it`);
    open();
    const notice = () => written.find((l) => /live line\(s\) dropped here/.test(l));
    const end = Date.now() + 10_000;
    while (!(notice() && written.length >= n - Number(/(\d+) live line/.exec(notice()!)![1]) + 1) && Date.now() < end) await sleep(20);
    ac.abort();
    await following;
    const lines = written.filter((l) => / \[w1\] \d+ x+$/.test(l));
    assert.ok(notice(), `no notice of dropped lines among ${written.length} written`);
    const dropped = Number(/(\d+) live line\(s\) dropped here: this follower read slower than they came \(over 8 MiB waiting\)/.exec(notice()!)?.[1]);
    assert.equal(lines.length + dropped, n, "every line is printed or counted");
    assert.ok(lines.length * 1000 <= MAX_FOLLOW_PENDING_BYTES + 2048, `${lines.length} lines held for the reader`);
    // The burst's tail was what found the queue full: the lines kept are its head, in order, and the notice follows them.
    assert.deepEqual(lines.map((l) => Number(/\] (\d+) /.exec(l)![1])), Array.from({ length: lines.length }, (_, i) => i));
    assert.ok(written.indexOf(notice()!) > written.indexOf(lines.at(-1)!), "the notice comes where the lines are missing");
  });

  test("writeLine waits for a full stream to drain", async () => {
    const out = new PassThrough({ highWaterMark: 16 });
    assert.equal(writeLine(out, "short"), undefined, "room in the buffer: no wait");
    const waiting = writeLine(out, "x".repeat(64));
    assert.ok(waiting instanceof Promise, "a full buffer: the caller waits");
    let done = false;
    void waiting.then(() => (done = true));
    await sleep(20);
    assert.equal(done, false, "not before the reader reads");
    out.resume();
    await waiting;
  });
});
