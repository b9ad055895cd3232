/**
 * Local step traces when things go wrong, on a real nats-server: a run whose span file cannot be
 * opened still runs (a warning says what is lost) and leaves local tracing free for the next run
 * in the same process; stopping the traces after the server is gone returns within a bound
 * instead of waiting on a NATS flush for ever.
 */
import { strict as assert } from "node:assert";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import type { NatsConnection } from "@nats-io/nats-core";
import { openConnection } from "../../runtime/connection.ts";
import { FLUSH_TIMEOUT_MS } from "../../runtime/nats-flush.ts";
import { readSpans, recordRunTraces, spansFile } from "../../runtime/telemetry-collector.ts";
import { withStepSpan } from "../../runtime/telemetry-local.ts";
import { useNatsServer } from "../helpers/nats.ts";

/** The warnings printed while `fn` runs (console.warn is where the run's trace problems go). */
async function warnings(t: TestContext, fn: () => PromiseLike<void>): Promise<string[]> {
  const warn = t.mock.method(console, "warn", () => {});
  try {
    await fn();
  } finally {
    warn.mock.restore();
  }
  return warn.mock.calls.map((c) => String(c.arguments[0]));
}

/** Resolves once every thread of `pid` is in the stopped state (T in /proc/<pid>/task/<tid>/stat), at most 5 s. */
async function allThreadsStopped(pid: number): Promise<void> {
  const state = (tid: string) => readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8").replace(/^.*\) /s, "")[0];
  for (let i = 0; i < 500; i++) {
    if (readdirSync(`/proc/${pid}/task`).every((tid) => state(tid) === "T")) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`nats-server ${pid} did not stop within 5 s of SIGSTOP`);
}

describe("local step traces - failures", () => {
  const nats = useNatsServer();
  const runDir = mkdtempSync(join(tmpdir(), "azr-trace-fail-"));
  let nc: NatsConnection | undefined;

  test.before(async () => {
    nc = await openConnection({ servers: [nats.url] }); // the options every azr process uses (reconnects without end)
  });
  test.after(async () => {
    await nc?.close();
    rmSync(runDir, { recursive: true, force: true });
  });

  test("collecting spans fails - the run goes on without traces, says so, and the next run in the process traces", async (t) => {
    // Two ways the trace file cannot be had: its folder cannot be made; the file cannot be opened
    // (before, that one was an unhandled stream error that ended the process).
    const cases: [string, (dir: string) => void, string][] = [
      ["no-folder", (dir) => writeFileSync(join(dir, "traces"), "a file where the traces folder goes\n"), "EEXIST"],
      ["no-file", (dir) => mkdirSync(spansFile(dir), { recursive: true }), "EISDIR"],
    ];
    for (const [name, breakIt, code] of cases) {
      const broken = join(runDir, name);
      mkdirSync(broken);
      breakIt(broken);
      const said = await warnings(t, async () => {
        const rec = await recordRunTraces(nc!, "tf", broken);
        assert.equal(rec.collector, undefined);
        await rec[Symbol.asyncDispose]();
      });
      assert.equal(said.length, 1, said.join("\n"));
      assert.match(said[0], new RegExp(`step traces of run ${broken}: .*${code}.*no step traces are recorded.*metrics`));
    }

    // What failed before the fix: "local tracing already started in this process".
    const good = join(runDir, "good");
    const rec = await recordRunTraces(nc!, "tf", good);
    try {
      assert.equal(rec.telemetry.mode, "local");
      await withStepSpan(1, async () => {});
    } finally {
      await rec[Symbol.asyncDispose]();
    }
    assert.deepEqual(readSpans(good).map((s) => s.name), ["selfplay.step"]);
  });

  /**
   * Records one step into `run`, breaking the server with `breakIt` before the step's span ends
   * (so its export can never be confirmed: broken after the span, a busy machine sometimes let the
   * server confirm it first), and times stopping the traces.
   */
  async function stopAfter(t: TestContext, run: string, breakIt: () => Promise<void>): Promise<{ took: number; said: string[] }> {
    const rec = await recordRunTraces(nc!, "tf", run);
    await withStepSpan(1, breakIt);
    const started = Date.now();
    const said = await warnings(t, () => rec[Symbol.asyncDispose]());
    return { took: Date.now() - started, said };
  }

  /** The exporter's flush and the collector's flush each wait at most the bound, one after the other. */
  const BOUND_MS = 2 * FLUSH_TIMEOUT_MS + 2000;

  // A server that holds the connection open but never answers (a frozen or cut-off host): the
  // client notices only by its pings, minutes later; before the bound shutdown waited that long.
  test("the server does not answer - stopping the traces returns within the flush bound and names what may be lost", { timeout: 60_000 }, async (t) => {
    const pid = nats.server.pid;
    try {
      const { took, said } = await stopAfter(t, join(runDir, "frozen"), async () => {
        process.kill(pid, "SIGSTOP");
        await allThreadsStopped(pid); // kill() only queues the signal: a server thread on the other core could still confirm the span
      });
      assert.ok(took < BOUND_MS, `stopping took ${took} ms`);
      assert.ok(said.some((s) => /local tracing \(azr-driver\): 1 span\(s\) .*not confirmed.*\(timeout\)/.test(s)), said.join("\n"));
      assert.ok(said.some((s) => s.includes(spansFile(join(runDir, "frozen"))) && /may be missing/.test(s)), said.join("\n"));
    } finally {
      process.kill(pid, "SIGCONT");
    }
  });

  // A stopped server: the flush fails at the client's next reconnect attempt, or (once the client has
  // seen the disconnect) the span is not published at all and counted as dropped; either way the
  // loss is named, not silent.
  test("the server is stopped - stopping the traces returns within the flush bound and names what may be lost", { timeout: 60_000 }, async (t) => {
    const { took, said } = await stopAfter(t, join(runDir, "stopped"), () => nats.server.stop());
    assert.ok(took < BOUND_MS, `stopping took ${took} ms`);
    assert.ok(said.some((s) => /local tracing \(azr-driver\): 1 span\(s\) .*(not confirmed|dropped)/.test(s)), said.join("\n"));
  });
});
