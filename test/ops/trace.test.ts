/**
 * Local step traces end to end: the test process is the driver (its telemetry and the run's
 * span collector from recordRunTraces), actors run in their own processes under the node agent,
 * and a call chain driver → relay → greeter inside a step span lands in the run folder's
 * traces/spans.jsonl as one trace across three processes, which `azr trace` prints as a tree.
 */
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, test } from "node:test";
import { readSpans, recordRunTraces, stepTraces, type StepTrace } from "../../runtime/telemetry-collector.ts";
import { localTracesEnabled, startProcessTelemetry, withStepSpan, type SpanRecord } from "../../runtime/telemetry-local.ts";
import { Greeter, Relay } from "./fixtures/actors.ts";
import { useOpsCluster } from "./helpers.ts";

const run = promisify(execFile);
const CLI = ["--import", "tsx", "cli/main.ts"];

function span(t: StepTrace, name: string, kind: SpanRecord["kind"]): SpanRecord {
  const s = t.spans.find((x) => x.name === name && x.kind === kind);
  assert.ok(s, `no ${kind} span '${name}' in step ${t.step}: ${t.spans.map((x) => `${x.name}/${x.kind}`).join(", ")}`);
  return s;
}

describe("azr trace", () => {
  const t = useOpsCluster("t-trace");
  let traces: StepTrace[] = [];
  let all: SpanRecord[] = [];

  test("record - a step's calls across actor processes are one trace in the run folder; calls outside steps record nothing", async () => {
    const rec = await recordRunTraces(t.cluster.nc, t.cluster.name, t.runDir, "azr-driver");
    assert.equal(rec.telemetry.mode, "local");
    try {
      await t.cluster.spawn(Greeter, [], { name: "tg" });
      const relay = await t.cluster.spawn(Relay, [], { name: "tr" });
      assert.equal(await relay.forward("tg", "outside"), "hello, outside");
      assert.equal(await withStepSpan(1, () => relay.forward("tg", "world")), "hello, world");
      await withStepSpan(2, async () => {
        await assert.rejects(relay.fail("boom"), /boom/);
        const got: number[] = [];
        for await (const x of relay.count(3)) got.push(x);
        assert.deepEqual(got, [0, 1, 2]);
      });
    } finally {
      await rec[Symbol.asyncDispose]();
    }
    all = readSpans(t.runDir);
    traces = stepTraces(all);
    assert.deepEqual(traces.map((x) => x.step), [1, 2]);
    assert.equal(traces[0].spans.length + traces[1].spans.length, all.length, "every recorded span belongs to a step's trace");
    assert.ok(!all.some((s) => s.attrs["azr.method"] === "forward" && s.start < traces[0].root.start), "the call before the first step was not recorded");
  });

  test("tree - driver → relay → greeter: parents, processes, actor attributes", () => {
    const step1 = traces[0];
    const chain = [
      span(step1, "selfplay.step", "internal"),
      span(step1, "tr.forward", "client"),
      span(step1, "tr.forward", "server"),
      span(step1, "tg.greet", "client"),
      span(step1, "tg.greet", "server"),
    ];
    for (let i = 1; i < chain.length; i++) assert.equal(chain[i].parent, chain[i - 1].span, `${chain[i].name} (${chain[i].kind}) has the right parent`);
    assert.deepEqual(chain.map((s) => s.service), ["azr-driver", "azr-driver", "azr-actor-tr", "azr-actor-tr", "azr-actor-tg"]);
    assert.equal(chain[4].attrs["azr.actor"], "tg");
    assert.ok(chain[0].ms >= chain[1].ms && chain[1].ms >= chain[2].ms, "each span lasts at least as long as its child");
  });

  test("errors and streams - a failed call is marked on both sides; a streamed call has its client span, parent of its server span", () => {
    const step2 = traces[1];
    assert.match(span(step2, "tr.fail", "server").error ?? "", /RangeError: boom/);
    assert.match(span(step2, "tr.fail", "client").error ?? "", /boom/);
    // The stream's client span lives as long as the stream; the actor's server span is its child.
    const client = span(step2, "tr.count", "client");
    assert.equal(client.parent, step2.root.span);
    assert.equal(span(step2, "tr.count", "server").parent, client.span);
  });

  test("cli - azr trace lists the steps, prints one step's tree, and names what is missing", async () => {
    const env = { ...process.env, NATS_URL: "" };
    const list = await run(process.execPath, [...CLI, "trace", "--run-dir", t.runDir], { env });
    assert.match(list.stdout, /^STEP\s+STARTED\s+SECONDS\s+SPANS\s+PROCESSES\s+ERRORS$/m);
    assert.match(list.stdout, /^\s*2\s+\S+Z\s+[\d.]+\s+\d+\s+2\s+2$/m, "step 2: driver and relay processes, two error spans");
    const one = await run(process.execPath, [...CLI, "trace", "1", "--run-dir", t.runDir], { env });
    assert.match(one.stdout, /^step 1 {2}trace [0-9a-f]{32} {2}5 spans in 3 processes/m);
    assert.match(one.stdout, /selfplay\.step\s+azr-driver/);
    assert.match(one.stdout, /└─ tg\.greet \(server\)\s+azr-actor-tg/);
    const missing = await run(process.execPath, [...CLI, "trace", "7", "--run-dir", t.runDir], { env }).then(
      () => assert.fail("azr trace 7 should fail"),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /step 7 has no recorded trace in .*spans\.jsonl \(recorded: steps 1–2/);
    const none = await run(process.execPath, [...CLI, "trace", "1", "--run-dir", "/nonexistent-run"], { env }).catch((e: { code: number; stderr: string }) => e);
    assert.match((none as { stderr: string }).stderr, /^azr trace: no step traces in \/nonexistent-run\/traces\/spans\.jsonl: pass --run-dir/);
    const word = await run(process.execPath, [...CLI, "trace", "abc", "--run-dir", t.runDir], { env }).catch((e: { code: number; stderr: string }) => e);
    assert.equal((word as { code: number }).code, 2);
    assert.match((word as { stderr: string }).stderr, /^azr trace: the step must be a whole number ≥ 0/, "not 'step NaN has no recorded trace'");
  });

  test("switch - AZR_TRACES=off turns local traces off", async () => {
    assert.equal(localTracesEnabled({}), true);
    assert.equal(localTracesEnabled({ AZR_TRACES: "off" }), false);
    assert.equal((await startProcessTelemetry("x", { AZR_TRACES: "0" })).mode, "off");
  });
});
