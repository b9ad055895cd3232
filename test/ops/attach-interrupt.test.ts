/**
 * `azr attach`'s guard against a synchronous evaluation that never ends, against spawned actor
 * processes and the node agent on a real nats-server: `while (true) {}` typed in the REPL is
 * interrupted after the limit (AZR_ATTACH_EVAL_LIMIT_MS, set small here before the actors are
 * spawned: they inherit the agent's environment, and the agent runs in this process), with a
 * line saying why; the prompt comes back, the REPL evaluates again, and the actor still answers
 * calls as the same instance. Also: the synchronous part of top-level-await code is covered, and
 * a SIGINT sent to an idle actor process (before and after REPL evaluations) does not kill it.
 */
import { strict as assert } from "node:assert";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { attach, type AttachSession } from "../../runtime/attach-client.ts";
import { DEFAULT_EVAL_LIMIT_MS, EVAL_LIMIT_ENV, evalLimitMs } from "../../runtime/attach-repl.ts";
import { DEFAULT_HANG_MS } from "../../runtime/node-agent.ts";
import { Greeter } from "./fixtures/actors.ts";
import { Screen, useOpsCluster } from "./helpers.ts";

const LIMIT_MS = 1500;
/** Time on top of the limit for the interruption to show (a loaded 2-core machine, NATS hops). */
const MARGIN_MS = 4000;

describe("attach: a synchronous evaluation is interrupted", () => {
  const saved = process.env[EVAL_LIMIT_ENV];
  before(() => {
    process.env[EVAL_LIMIT_ENV] = String(LIMIT_MS);
  });
  after(() => {
    if (saved === undefined) delete process.env[EVAL_LIMIT_ENV];
    else process.env[EVAL_LIMIT_ENV] = saved;
  });
  const t = useOpsCluster("t-attach-int");

  async function open(name: string): Promise<{ s: AttachSession; screen: Screen }> {
    const screen = new Screen();
    const s = await attach(t.cluster.nc, t.cluster.name, { kind: "actor", name }, { onOutput: screen.push, cols: 100, rows: 30 });
    await screen.waitFor(new RegExp(`${name}> `));
    return { s, screen };
  }

  /** Types `line`, and resolves with the ms until the interruption and a fresh prompt showed. */
  async function interrupted(name: string, s: AttachSession, screen: Screen, line: string): Promise<number> {
    const m = screen.mark();
    const t0 = Date.now();
    s.write(`${line}\r`);
    await screen.waitFor(/Script execution was interrupted/, m, LIMIT_MS + MARGIN_MS);
    await screen.waitFor(new RegExp(`interrupted: it ran synchronously for more than ${LIMIT_MS} ms \\(${EVAL_LIMIT_ENV}\\)[^\\n]*\\n${name}> $`), m, LIMIT_MS + MARGIN_MS);
    return Date.now() - t0;
  }

  test("while (true) {} - interrupted after the limit with a line saying why; the prompt returns, the REPL and the actor carry on as the same instance", async () => {
    const g = await t.cluster.spawn(Greeter, [], { name: "gi" });
    const pid = await g.pid();
    const { s, screen } = await open("gi");
    assert.match(s.banner, new RegExp(`synchronously after ${LIMIT_MS / 1000} s is interrupted \\(${EVAL_LIMIT_ENV}\\)`), "the banner says what happens to a long synchronous evaluation");
    let m = screen.mark();
    s.write("actor.greeting = 'kept'\r");
    await screen.waitFor(/'kept'/, m);

    const took = await interrupted("gi", s, screen, "while (true) {}");
    assert.ok(took >= LIMIT_MS - 100, `interrupted after ${took} ms: not before the limit (${LIMIT_MS} ms)`);
    assert.ok(took < LIMIT_MS + MARGIN_MS, `interrupted after ${took} ms: within the limit plus ${MARGIN_MS} ms`);

    m = screen.mark();
    s.write("1+1\r");
    await screen.waitFor(/\n2\n/, m);
    assert.equal(await g.greet("after"), "kept, after", "the same instance: the field set before the loop is still there");
    assert.equal(await g.pid(), pid, "the same process");
    assert.equal(await s.detach(), "detached");
  });

  test("top-level await - the synchronous part of awaiting code is interrupted too", async () => {
    const g = await t.cluster.spawn(Greeter, [], { name: "ga" });
    const pid = await g.pid();
    const { s, screen } = await open("ga");
    await interrupted("ga", s, screen, "while (true) {}; await actor.greet('never')");
    const m = screen.mark();
    s.write("await actor.greet('again')\r");
    await screen.waitFor(/'hello, again'/, m);
    assert.equal(await g.pid(), pid);
    await s.detach();
  });

  test("SIGINT to an idle actor process - ignored, before and after REPL evaluations; the actor keeps its state", async () => {
    const g = await t.cluster.spawn(Greeter, [], { name: "gs" });
    const pid = await g.pid();
    await g.greet("one"); // calls: 1
    process.kill(pid, "SIGINT");
    await sleep(300);
    assert.equal(await g.pid(), pid, "a SIGINT before any attach leaves the process running");

    // A REPL evaluation starts and stops the REPL's SIGINT watchdog, which leaves SIGINT's
    // disposition at "exit" unless the actor's listener is installed again afterwards.
    const { s, screen } = await open("gs");
    const m = screen.mark();
    s.write("actor.calls\r");
    await screen.waitFor(/\n1\n/, m);
    process.kill(pid, "SIGINT");
    await sleep(300);
    assert.equal(await g.pid(), pid, "a SIGINT after a REPL evaluation leaves the process running");
    await interrupted("gs", s, screen, "for (;;) {}");
    process.kill(pid, "SIGINT");
    await sleep(300);
    assert.equal(await g.pid(), pid, "a SIGINT after an interrupted evaluation leaves the process running");
    assert.equal(await g.greet("two"), "hello, two");
    const m2 = screen.mark();
    s.write("actor.calls\r");
    await screen.waitFor(/\n2\n/, m2); // the same instance counted both calls
    await s.detach();
  });

  test("limit - from AZR_ATTACH_EVAL_LIMIT_MS, else well under the node agent's hang limit", () => {
    assert.equal(evalLimitMs({}), DEFAULT_EVAL_LIMIT_MS);
    assert.equal(evalLimitMs({ [EVAL_LIMIT_ENV]: "2500" }), 2500);
    assert.throws(() => evalLimitMs({ [EVAL_LIMIT_ENV]: "soon" }), /AZR_ATTACH_EVAL_LIMIT_MS='soon': use a whole number of milliseconds above 0/);
    assert.throws(() => evalLimitMs({ [EVAL_LIMIT_ENV]: "0" }), /above 0/);
    // The actor must get its event loop back (and send a heartbeat) long before the agent
    // would take it for hung and kill it.
    assert.ok(DEFAULT_EVAL_LIMIT_MS * 4 <= DEFAULT_HANG_MS, `${DEFAULT_EVAL_LIMIT_MS} ms vs ${DEFAULT_HANG_MS} ms`);
  });
});
