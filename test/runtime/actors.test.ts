/**
 * The actor wire, end to end on a real nats-server, with actors served in this process (no child
 * processes, so this file is fast): typed calls, remote errors, malformed messages, ordering and
 * concurrency, streams with flow control, cancellation, dead actors, a 50 MB argument.
 */
import { strict as assert } from "node:assert";
import { before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { decode } from "../../runtime/codec.ts";
import { DEFAULT_PAYLOAD_BUCKET } from "../../runtime/large-payload.ts";
import { STREAM_CONSUMER_CHECK_MS } from "../../runtime/host.ts";
import {
  ActorClient,
  ActorCallAbortedError,
  ActorCallTimeoutError,
  ActorDiedError,
  ActorMethodError,
  ActorNotFoundError,
  handleRef,
  withCallOptions,
  type Cluster,
  type Handle,
} from "../../runtime/index.ts";
import { subjects } from "../../runtime/names.ts";
import { useCluster } from "./helpers.ts";
import { Counter } from "./fixtures/actors.ts";

let cluster: Cluster;
let counter: Handle<Counter>;

describe("actors on a real nats-server", () => {
const t = useCluster("t-actors");
before(async () => {
  cluster = t.cluster;
  counter = await cluster.serve(new Counter(10), { name: "counter", concurrent: ["get", "release", "waitStarted", "producedSoFar", "streamClosed"] });
});

describe("calls", () => {
  test("typed handle - a method's result comes back, typed", async () => {
    const n: number = await counter.add(5);
    assert.equal(n, 15);
    assert.equal(await counter.get(), 15);
  });

  test("typed handle - arguments and results follow the class (checked by tsc over this file)", () => {
    // Never called: the assertions are the compile errors `make test`'s tsc step would report.
    const typeChecks = (h: Handle<Counter>) => {
      const sum: Promise<number> = h.add(1);
      const values: AsyncIterableIterator<number> = h.count(3);
      // A generic method stays generic through the handle.
      const echoed: Promise<{ a: number[] }> = h.echo({ a: [1] });
      // @ts-expect-error add takes a number
      void h.add("1");
      // @ts-expect-error not a method of Counter
      void h.nope();
      // @ts-expect-error lifecycle hooks are not remote methods
      void h.saveState();
      // @ts-expect-error fields are not remote: only methods are
      void h.n;
      return [sum, values, echoed];
    };
    assert.equal(typeof typeChecks, "function");
  });

  test("typed handle - a void method resolves to undefined, not null", async () => {
    assert.equal(await counter.nothing(), undefined);
  });

  test("typed handle - is not thenable, so awaiting it returns it", async () => {
    const h = await Promise.resolve(counter);
    assert.equal((counter as unknown as { then?: unknown }).then, undefined);
    assert.equal(handleRef(h).name, "counter");
  });

  test("untyped call - the core the proxy maps onto", async () => {
    assert.deepEqual(await cluster.call("counter", "echo", [{ a: [1, "x", null] }]), { a: [1, "x", null] });
  });

  test("serve - an object literal's methods and an arrow-function field are callable, as Handle types them", async () => {
    class WithField {
      double = async (x: number) => 2 * x;
    }
    const lit = await cluster.serve({ async ping() { return "pong"; }, async *twice(x: number) { yield x; yield x; } }, { name: "literal" });
    assert.equal(await lit.ping(), "pong");
    const got: number[] = [];
    for await (const x of lit.twice(7)) got.push(x);
    assert.deepEqual(got, [7, 7]);
    const f = await cluster.serve(new WithField(), { name: "with-field" });
    assert.equal(await f.double(21), 42);
    await cluster.kill("literal");
    await cluster.kill("with-field");
  });

  test("msgpack edges round-trip through an actor; a bigint beyond 64 bits is refused, not wrapped", async () => {
    const v = {
      map: new Map<unknown, unknown>([[1, "a"], ["k", new Float32Array([1.5])]]),
      set: new Set([1, "x"]),
      big: [2n ** 64n - 1n, -(2n ** 63n)],
      when: new Date(1234567890123),
      invalid: new Date(Number.NaN),
      nulls: [undefined, null],
    };
    const back = await counter.echo(v);
    assert.deepEqual(back.map, v.map);
    assert.deepEqual(back.set, v.set);
    assert.deepEqual(back.big, v.big);
    assert.equal(back.when.getTime(), v.when.getTime());
    assert.ok(back.invalid instanceof Date && Number.isNaN(back.invalid.getTime()), `an invalid Date arrived as ${back.invalid}`);
    assert.deepEqual(back.nulls, [null, null], "undefined in an array travels as null, as in JSON");
    await assert.rejects(counter.echo(2n ** 64n), { name: "CodecError", message: /bigint 18446744073709551616.*int64\/uint64/ });
  });

  test("getActor - finds a served actor by name; unknown names throw ActorNotFoundError", async () => {
    const h = await cluster.getActor<Counter>("counter");
    assert.equal(typeof (await h.get()), "number");
    await assert.rejects(cluster.getActor("nobody-by-that-name"), ActorNotFoundError);
  });
});

describe("errors", () => {
  test("remote exception - re-thrown with its name, message and the remote stack", async () => {
    const err = await counter.fail("out of range on purpose").then(
      () => assert.fail("fail() resolved"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ActorMethodError, `got ${err}`);
    assert.equal(err.name, "RangeError");
    assert.equal(err.message, "out of range on purpose");
    assert.equal(err.code, "METHOD_THREW");
    assert.match(err.remoteStack, /fixtures\/actors\.ts/, "the remote stack names the actor's source file");
    assert.match(err.stack ?? "", /called as counter\.fail\(\)/);
  });

  test("no such method - an error reply naming the methods there are", async () => {
    const err = await cluster.call("counter", "nope", []).catch((e: unknown) => e);
    assert.ok(err instanceof ActorMethodError);
    assert.ok(err.isNoSuchMethod());
    assert.match(err.message, /no public method 'nope'.*add/);
  });

  test("garbage bytes on the actor subject - an error reply, and the actor stays up", async () => {
    const garbage = new Uint8Array([0xc1, 0xff, 0x00, 0x13, 0x37, 0xde, 0xad]);
    const reply = await cluster.nc.request(subjects("t-actors").call("counter"), garbage, { timeout: 2000 });
    assert.equal(reply.headers?.get("azr-error"), "1");
    const wire = decode<{ code: string; name: string }>(reply.data);
    assert.equal(wire.code, "MALFORMED");
    assert.equal(wire.name, "MalformedMessageError");
    // Well-formed msgpack of the wrong shape is refused the same way.
    const wrongShape = await cluster.nc.request(subjects("t-actors").call("counter"), new Uint8Array([0x93, 1, 2, 3]), { timeout: 2000 });
    assert.equal(decode<{ code: string }>(wrongShape.data).code, "MALFORMED");
    assert.equal(typeof (await counter.add(0)), "number", "the actor still answers");
  });

  test("a call to an actor that was never started fails fast with ActorDiedError", async () => {
    const t0 = performance.now();
    await assert.rejects(cluster.call("never-started", "add", [1]), ActorDiedError);
    assert.ok(performance.now() - t0 < 3000, "no-responders answers at once (bound generous for a loaded CI box)");
  });

  test("a call to a killed actor fails fast with ActorDiedError", async () => {
    const h = await cluster.serve(new Counter(), { name: "short-lived" });
    assert.equal(await h.add(1), 1);
    await cluster.kill("short-lived");
    await assert.rejects(h.add(1), ActorDiedError);
    assert.equal((await cluster.registry.get("short-lived"))?.state, "dead");
  });
});

describe("kill", () => {
  test("a method that ignores its signal holds kill no longer than the grace period, and its caller fails at once", async () => {
    const graceMs = 2500; // the serve option's grace (default STOP_GRACE_MS, 5 s): the kill waits it out
    const h = await cluster.serve(new Counter(), { name: "stubborn", concurrent: ["waitStarted"], stopGraceMs: graceMs });
    const call = h.hang().catch((e: unknown) => e);
    await h.waitStarted();
    const t0 = performance.now();
    const killed = cluster.kill("stubborn").then(() => performance.now() - t0);
    const err = await call;
    assert.ok(err instanceof ActorDiedError, `got ${err}`);
    assert.ok(performance.now() - t0 < graceMs / 2, "the caller did not wait for the method or the grace period");
    const tookMs = await killed;
    assert.ok(tookMs >= graceMs - 50 && tookMs < graceMs + 3000, `kill took ${tookMs} ms`);
  });
});

describe("lost death events", () => {
  test("a caller never hangs: the liveness check fails calls whose actor vanished or was replaced", async () => {
    const { ActorHost } = await import("../../runtime/host.ts");
    const { describeMethods } = await import("../../runtime/define.ts");
    const { openConnection } = await import("../../runtime/connection.ts");
    // Two actors served on their own connections, which vanish without any death event.
    const serveRaw = async (name: string) => {
      const nc = await openConnection({ servers: [cluster.nc.getServer()] });
      const inst = new Counter();
      await ActorHost.start({ nc, cluster: "t-actors", name, instance: inst, methods: describeMethods(inst, ["waitStarted"]), getActor: cluster.getActor.bind(cluster) });
      return nc;
    };
    const [gone, replaced] = await Promise.all([serveRaw("vanishing"), serveRaw("replaced")]);
    const callGone = cluster.call("vanishing", "hang", []);
    const callReplaced = cluster.call("replaced", "hang", []);
    await Promise.all([cluster.call("vanishing", "waitStarted", []), cluster.call("replaced", "waitStarted", [])]);
    await gone.close(); // the process is gone: nobody serves the subject
    await replaced.close();
    const successor = await serveRaw("replaced"); // a new incarnation that never saw the call
    const [e1, e2] = await Promise.all([callGone.catch((e: unknown) => e), callReplaced.catch((e: unknown) => e)]);
    assert.ok(e1 instanceof ActorDiedError, `got ${e1}`);
    assert.match(e1.message, /no process serves it/);
    assert.ok(e2 instanceof ActorDiedError, `got ${e2}`);
    assert.match(e2.message, /incarnation that took this call is gone/);
    assert.equal(typeof (await cluster.call("replaced", "get", [])), "number", "later calls reach the new incarnation");
    await successor.close();
  });
});

describe("registry", () => {
  test("watch - yields current entries, then each change (what azr top reads)", async () => {
    const ac = new AbortController();
    const seen: string[] = [];
    const watching = (async () => {
      for await (const e of cluster.registry.watch(ac.signal)) {
        if (e.name !== "watched") continue;
        seen.push(e.state);
        if (e.state === "dead") break;
      }
    })();
    await cluster.serve(new Counter(), { name: "watched" });
    await cluster.kill("watched");
    await watching;
    ac.abort();
    assert.deepEqual(seen, ["alive", "dead"]);
  });

  test("list - every live value, deleted keys left out, while the bucket keeps changing", async () => {
    const node = (id: string) => ({ id, host: "h", pid: 1, resources: { cpu: 1, gpu: 0, memoryMB: 1, labels: {} }, lastHeartbeat: Date.now() });
    const before = (await cluster.registry.listNodes()).map((n) => n.id);
    await cluster.registry.putNode(node("list-a"));
    await cluster.registry.putNode(node("list-b"));
    await cluster.registry.removeNode("list-a");
    // Heartbeat-like rewrites of one key while listing: each listing still ends and is complete.
    let writing = true;
    const writer = (async () => {
      while (writing) await cluster.registry.putNode(node("list-b"));
    })();
    try {
      for (let i = 0; i < 20; i++) {
        const ids = (await cluster.registry.listNodes()).map((n) => n.id).filter((id) => !before.includes(id));
        assert.deepEqual(ids, ["list-b"]);
      }
    } finally {
      writing = false;
      await writer;
      await cluster.registry.removeNode("list-b");
    }
    assert.ok((await cluster.actors()).some((a) => a.name === "watched"), "the actors bucket lists its (dead) entries");
  });
});

describe("stale registry entries", () => {
  test("kill marks an actor dead when the process that served it vanished; the name can be served again", async () => {
    const { connect } = await import("../../runtime/index.ts");
    const other = await connect({ connection: { servers: [cluster.nc.getServer()] }, cluster: "t-actors", runDir: cluster.runDir });
    await other.serve(new Counter(), { name: "orphan" });
    await other.nc.close(); // gone without a word: the registry still says alive
    assert.equal((await cluster.registry.get("orphan"))?.state, "alive");
    await assert.rejects(cluster.serve(new Counter(), { name: "orphan" }), { name: "ActorExistsError" });
    await cluster.kill("orphan");
    assert.equal((await cluster.registry.get("orphan"))?.state, "dead");
    const h = await cluster.serve(new Counter(3), { name: "orphan" });
    assert.equal(await h.get(), 3);
    await cluster.kill("orphan");
  });
});

describe("ordering and concurrency", () => {
  test("calls run one at a time in arrival order; a concurrent method does not wait", async () => {
    const blocked = counter.block();
    const added = counter.add(1); // queued behind block()
    const before = await counter.get(); // concurrent: answers while block() holds the queue
    await counter.release(); // concurrent
    assert.equal(await blocked, "released");
    assert.equal(await added, before + 1, "add ran after block, not before get");
  });
});

describe("streams", () => {
  test("an async-generator method streams its values, then ends", async () => {
    const got: number[] = [];
    for await (const x of counter.count(50)) got.push(x);
    assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => i));
  });

  test("a slow consumer holds the producer back: it never runs more than a window ahead", async () => {
    const window = 4;
    const c2 = await cluster.serve(new Counter(), { name: "producer", concurrent: ["producedSoFar"] });
    const it = withCallOptions(c2, { window }).count(200);
    let consumed = 0;
    let maxAhead = 0;
    for await (const x of it) {
      assert.equal(x, consumed);
      consumed++;
      // A consumer doing a round trip per value is far slower than the generator.
      const produced = await c2.producedSoFar();
      maxAhead = Math.max(maxAhead, produced - consumed);
      assert.ok((it as unknown as { buffered: number }).buffered <= window);
    }
    assert.equal(consumed, 200);
    assert.ok(maxAhead <= window, `producer ran ${maxAhead} ahead with a window of ${window}`);
    await cluster.kill("producer");
  });

  test("an exception in the generator arrives as an error frame after the values", async () => {
    const got: number[] = [];
    const err = await (async () => {
      for await (const x of counter.failAfter(3)) got.push(x);
    })().catch((e: unknown) => e);
    assert.deepEqual(got, [0, 1, 2]);
    assert.ok(err instanceof ActorMethodError);
    assert.equal(err.name, "TypeError");
    assert.equal(err.message, "stream broke after 3");
  });

  test("breaking out of the loop stops the generator at the actor (its finally runs)", async () => {
    let n = 0;
    for await (const _ of counter.forever()) if (++n === 3) break;
    assert.equal(await counter.streamClosed(), true);
  });

  test("a value the codec refuses ends the stream with an error frame, and the generator's finally runs", async () => {
    let closed = false;
    const h = await cluster.serve(
      {
        async *badValue() {
          try {
            yield 1;
            yield () => 2; // a function: not data
            yield 3;
          } finally {
            closed = true;
          }
        },
      },
      { name: "bad-value" },
    );
    const got: unknown[] = [];
    const err = await (async () => {
      for await (const x of h.badValue()) got.push(x);
    })().catch((e: unknown) => e);
    assert.deepEqual(got, [1]);
    assert.ok(err instanceof ActorMethodError && /cannot encode a function/.test(err.message), `got ${err}`);
    assert.equal(closed, true);
    await cluster.kill("bad-value");
  });

  test("a consumer that vanishes mid-stream (no cancel, no more credit) does not hold the actor: its generator is closed", async () => {
    const h = await cluster.serve(new Counter(), { name: "abandoned", concurrent: ["streamClosed"] });
    // The consumer's own connection, lost the way a dying process loses it: nothing more is sent.
    const nc2 = await natsConnect({ servers: t.server.url });
    const client2 = await ActorClient.start(nc2, cluster.name);
    const it = client2.stream("abandoned", "forever", [], { window: 2 });
    assert.deepEqual(await it.next(), { value: 0, done: false });
    await nc2.close();
    client2.close();
    // `add` queues behind the stream, which waits for credit that will never come.
    assert.equal(await withCallOptions(h, { timeoutMs: 4 * STREAM_CONSUMER_CHECK_MS }).add(1), 1);
    assert.equal(await h.streamClosed(), true);
    await cluster.kill("abandoned");
  });

  test("a consumer that pauses longer than the producer's check keeps its stream", async () => {
    const got: number[] = [];
    for await (const x of withCallOptions(counter, { window: 2 }).count(6)) {
      got.push(x);
      if (x === 1) await sleep(1.5 * STREAM_CONSUMER_CHECK_MS);
    }
    assert.deepEqual(got, [0, 1, 2, 3, 4, 5]);
  });
});

describe("cancellation", () => {
  test("abort - the caller rejects at once and the actor's method sees its signal abort", async () => {
    const before = await counter.abortedCount();
    const ac = new AbortController();
    const call = withCallOptions(counter, { signal: ac.signal }).waitForAbort();
    await counter.waitStarted();
    ac.abort(new Error("user pressed stop"));
    const err = await call.catch((e: unknown) => e);
    assert.ok(err instanceof ActorCallAbortedError, `got ${err}`);
    assert.equal((err.cause as Error).message, "user pressed stop");
    assert.equal(await counter.abortedCount(), before + 1, "the actor's method was cancelled");
  });

  test("timeout - rejects with ActorCallTimeoutError and cancels the call at the actor", async () => {
    const before = await counter.abortedCount();
    await assert.rejects(withCallOptions(counter, { timeoutMs: 100 }).waitForAbort(), ActorCallTimeoutError);
    assert.equal(await counter.abortedCount(), before + 1);
  });

  test("an already-aborted signal rejects without sending", async () => {
    await assert.rejects(withCallOptions(counter, { signal: AbortSignal.abort() }).add(1), { name: "AbortError" });
  });
});

describe("checkpoints", () => {
  test("a slow checkpoint of a concurrent call cannot overwrite the newer state an acknowledged call saved", async () => {
    class SlowFirstSave {
      n = 0;
      #slow = true;
      async peek(): Promise<number> {
        return this.n;
      }
      async add(k: number): Promise<number> {
        return (this.n += k);
      }
      async saveState(): Promise<{ n: number }> {
        const s = { n: this.n };
        if (this.#slow) {
          this.#slow = false;
          await sleep(500); // e.g. serialising weights: the snapshot was taken before
        }
        return s;
      }
      loadState(s: { n: number }): void {
        this.n = s.n;
      }
    }
    const h = await cluster.serve(new SlowFirstSave(), { name: "slow-save", concurrent: ["peek"] });
    const peeked = h.peek(); // its checkpoint snapshots n = 0, then takes 500 ms
    await sleep(100);
    assert.equal(await h.add(5), 5); // acknowledged: n = 5 must survive
    assert.equal(await peeked, 0);
    await sleep(600);
    await cluster.kill("slow-save");
    const again = await cluster.serve(new SlowFirstSave(), { name: "slow-save" });
    assert.equal(await again.peek(), 5, "the saved state is the newest one");
    await cluster.kill("slow-save");
  });
});

describe("metrics", () => {
  test("stats - the actor reports its calls, errors, latency and queue depth", async () => {
    const h = await cluster.serve(new Counter(), { name: "measured" });
    for (let i = 0; i < 5; i++) await h.add(1);
    await assert.rejects(h.fail("counted"));
    const s = await cluster.stats("measured");
    assert.equal(s.actor, "measured");
    assert.equal(s.calls, 6);
    assert.equal(s.errors, 1);
    assert.equal(s.queueDepth, 0);
    assert.ok(s.p50Ms !== null && s.p50Ms >= 0 && s.p99Ms! >= s.p50Ms);
    assert.equal(s.deviceMemory, undefined, "an actor without the hook reports no device memory");
    await cluster.kill("measured");
  });

  test("stats - an actor's deviceMemory() hook goes into its stats, is not a remote method, and may throw", async () => {
    class OnGpu {
      reserved = 3 * 2 ** 30;
      broken = false;
      async grow(): Promise<void> {
        this.reserved += 2 ** 30;
      }
      async breakIt(): Promise<void> {
        this.broken = true;
      }
      deviceMemory() {
        if (this.broken) throw new Error("engine lost");
        return { peakReservedBytes: this.reserved, peakAllocatedBytes: 2 ** 30, devices: 2 };
      }
    }
    const h = await cluster.serve(new OnGpu(), { name: "on-gpu" });
    assert.deepEqual((await cluster.stats("on-gpu")).deviceMemory, { peakReservedBytes: 3 * 2 ** 30, peakAllocatedBytes: 2 ** 30, devices: 2 });
    await h.grow();
    assert.equal((await cluster.stats("on-gpu")).deviceMemory?.peakReservedBytes, 4 * 2 ** 30, "read at each stats call");
    await assert.rejects((h as unknown as { deviceMemory(): Promise<unknown> }).deviceMemory(), /no public method 'deviceMemory'/);
    await h.breakIt();
    const s = await cluster.stats("on-gpu");
    assert.equal(s.deviceMemory, undefined, "a hook that throws is a missing figure");
    assert.equal(s.actor, "on-gpu");
    await cluster.kill("on-gpu");
  });
});

describe("payloads", () => {
  test("a 50 MB Float32Array argument arrives whole (through the object store)", async () => {
    const n = (50 * 1024 * 1024) / 4;
    const xs = new Float32Array(n);
    for (let i = 0; i < n; i++) xs[i] = (i % 7) - 3;
    let expected = 0;
    for (let i = 0; i < n; i++) expected += xs[i];
    const r = await counter.sum(xs);
    assert.deepEqual(r, { length: n, sum: expected, isFloat32: true });
  });

  test("a call that gives up leaves no object behind, and one given up while uploading never runs", async () => {
    class Large {
      taken = 0;
      async late(n: number): Promise<Float32Array> {
        await sleep(300);
        return new Float32Array(n);
      }
      async take(xs: Float32Array): Promise<number> {
        this.taken++;
        return xs.length;
      }
    }
    const actor = new Large();
    const h = await cluster.serve(actor, { name: "gives-up" });
    const jsm = await jetstreamManager(cluster.nc);
    // The bucket is made on first use: none yet holds nothing.
    const stored = () => jsm.streams.info(`OBJ_${DEFAULT_PAYLOAD_BUCKET}`).then((si) => si.state.messages, () => 0);
    const settled = async (what: string) => {
      for (let i = 0; (await stored()) > 0; i++) {
        assert.ok(i < 50, `${what}: ${await stored()} messages still in the payload bucket`);
        await sleep(100);
      }
    };
    await settled("before");
    // The 4 MB reply is uploaded after the caller timed out: the caller's client deletes it unread.
    await assert.rejects(withCallOptions(h, { timeoutMs: 100 }).late(1_000_000), ActorCallTimeoutError);
    await sleep(500);
    await settled("a large reply to a call that timed out");
    // Timed out while its 80 MB argument uploads: the cancel went out first, so the request must not.
    await assert.rejects(withCallOptions(h, { timeoutMs: 5 }).take(new Float32Array(20_000_000)), ActorCallTimeoutError);
    await sleep(2000);
    await settled("an argument uploaded for a call that timed out");
    assert.equal(actor.taken, 0, "the call that timed out was not run");
    await cluster.kill("gives-up");
  });
});
});
