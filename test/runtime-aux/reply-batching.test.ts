/**
 * A served actor answers the calls it ran in one event-loop turn with one socket write (runtime/
 * host.ts, #send): nats.js flushes its buffer a microtask after a publish, and a sequential actor's
 * queued calls finish microtasks apart, so each answer used to be its own write. Real nats-server;
 * the serving and the calling side on their own connections; writes counted at nats.js's flush.
 * Also: answers keep their order (a stream's frames, then its end). A stopping actor's last answers
 * (STOPPING errors, queued calls included) are checked in test/runtime/lifecycle-agent-death.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Cluster, type Handle } from "../../runtime/index.ts";
import { useNatsServer } from "../helpers/nats.ts";

const nats = useNatsServer();

class Echo {
  async echo(x: number): Promise<number> {
    return x;
  }
  /** Holds the thread, as a CPU-bound method does: no I/O, so no turn of the event loop ends. */
  async spin(ms: number): Promise<number> {
    const end = performance.now() + ms;
    while (performance.now() < end);
    return ms;
  }
  async *count(n: number): AsyncGenerator<number> {
    for (let i = 0; i < n; i++) yield i;
  }
}

/** Counts the serving connection's socket writes (nats.js's flushPending with something to send). */
function countWrites(nc: unknown): { readonly n: number } {
  const protocol = (nc as { protocol: { flushPending(): void; outbound: { size(): number } } }).protocol;
  const real = protocol.flushPending.bind(protocol);
  const counter = { n: 0 };
  protocol.flushPending = () => {
    if (protocol.outbound.size() > 0) counter.n++;
    real();
  };
  return counter;
}

/** An Echo actor served on one connection and a handle to it on another (warmed: resolved). */
async function withEcho(cluster: string, body: (server: Cluster, h: Handle<Echo>) => Promise<void>): Promise<void> {
  const server = await connect({ connection: { servers: [nats.url] }, cluster, runDir: "/tmp" });
  const caller = await connect({ connection: { servers: [nats.url] }, cluster, runDir: "/tmp" });
  try {
    await server.serve(new Echo(), { name: "echo" });
    const h = await caller.getActor<Echo>("echo");
    assert.equal(await h.echo(-1), -1);
    await body(server, h);
  } finally {
    await caller.close();
    await server.close();
  }
}

test("reply batching - 64 queued calls are answered in a few writes, in order; streams keep their frames' order", () =>
  withEcho("t-batch", async (server, h) => {
    const writes = countWrites(server.nc);
    const calls = Array.from({ length: 64 }, (_, i) => h.echo(i));
    assert.deepEqual(await Promise.all(calls), Array.from({ length: 64 }, (_, i) => i));
    // one per event-loop turn in which answers were made: the requests arrive in one or a few
    // socket reads; before batching this was 64 (a call that runs over 1 ms flushes on its own)
    assert.ok(writes.n <= 16, `64 answers took ${writes.n} socket writes`);

    const frames: number[] = [];
    for await (const x of h.count(200)) frames.push(x);
    assert.deepEqual(frames, Array.from({ length: 200 }, (_, i) => i));
  }));

test("reply batching - an answer is not held back while later queued calls hold the thread", () =>
  withEcho("t-batch2", async (server, h) => {
    // Caller and server share this process (the spins hold both): time the server's publishes.
    const sent: number[] = [];
    const nc = server.nc as unknown as { publish(...a: unknown[]): void };
    const publish = nc.publish.bind(nc);
    const t0 = performance.now();
    nc.publish = (...a: unknown[]) => (sent.push(performance.now() - t0), publish(...a));
    await Promise.all([h.spin(150), h.spin(150), h.spin(150), h.spin(150)]);
    const ms = sent.map((t) => t.toFixed(0)).join(", ");
    // each answer goes out when the next spin starts, not after all four (~600 ms)
    assert.ok(sent.length >= 4 && sent[0] < 300 && sent[1] < 450, `answers published at ${ms} ms`);
  }));
