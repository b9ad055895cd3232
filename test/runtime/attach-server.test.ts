/**
 * The attach server against what a demanding user or a hostile client on the same NATS sends, on
 * a real nats-server: malformed frames on every attach subject leave the serving connection
 * working; output bigger than max_payload arrives; flow control holds a REPL's flood and pauses
 * a shell's; the session cap; a client whose NATS connection closes ends instead of hanging.
 */
import { strict as assert } from "node:assert";
import { after, before, describe, test } from "node:test";
import { connect } from "@nats-io/transport-node";
import { createInbox, type NatsConnection } from "@nats-io/nats-core";
import { attach, AttachError } from "../../runtime/attach-client.ts";
import { encodeJson, FLOW_WINDOW, MAX_OUTPUT_MESSAGE, MAX_QUEUED_OUTPUT, type OpenReply } from "../../runtime/attach-protocol.ts";
import { replBackend } from "../../runtime/attach-repl.ts";
import { AttachServer } from "../../runtime/attach-server.ts";
import { shellBackend } from "../../runtime/attach-shell.ts";
import { useNatsServer } from "../helpers/nats.ts";
import { Screen } from "../ops/helpers.ts";

const CLUSTER = "t-attach-server";

// Outside the suite: node runs `after` hooks in registration order, and the server must outlive the suite's.
const nats = useNatsServer();

describe("attach server", () => {
  let serverNc: NatsConnection;
  let clientNc: NatsConnection;
  let repl: AttachServer;
  before(async () => {
    serverNc = await connect({ servers: nats.url });
    clientNc = await connect({ servers: nats.url });
    repl = await AttachServer.start({ nc: serverNc, cluster: CLUSTER, target: { kind: "actor", name: "a" }, open: replBackend("a", { n: 7 }) });
    // Stands for the actor's real work on the same connection.
    serverNc.subscribe("work", { callback: (_e, m) => void m.respond("done") });
  });
  after(async () => {
    repl.stop();
    await serverNc.flush();
    await clientNc.close();
    await serverNc.close();
  });

  async function serving(): Promise<void> {
    const r = await clientNc.request("work", "", { timeout: 2000 });
    assert.equal(r.string(), "done", "the serving connection still answers");
  }

  async function openRepl(): Promise<{ s: Awaited<ReturnType<typeof attach>>; screen: Screen }> {
    const screen = new Screen();
    const s = await attach(clientNc, CLUSTER, { kind: "actor", name: "a" }, { onOutput: screen.push });
    await screen.waitFor(/a> /);
    return { s, screen };
  }

  /** An open request sent by hand: the client reads output but acks only when told. */
  async function rawOpen(subject: string, extra: object = {}): Promise<{ reply: OpenReply & { ok: true }; bytes: () => number; text: () => string; ack(): void }> {
    const output = createInbox();
    let n = 0;
    let text = "";
    clientNc.subscribe(output, {
      callback: (_e, m) => {
        n += m.data.length;
        text = (text + m.string()).slice(-4096);
      },
    });
    const r = await clientNc.request(subject, encodeJson({ output, cols: 80, rows: 24, flow: true, ...extra }));
    const reply = r.json<OpenReply>();
    assert.ok(reply.ok, JSON.stringify(reply));
    return { reply, bytes: () => n, text: () => text, ack: () => clientNc.publish(reply.control, encodeJson({ t: "ack", bytes: n })) };
  }

  test("hostile frames - malformed control, open and input frames are dropped or refused; the connection keeps serving", async () => {
    const { s, screen } = await openRepl();
    const raw = await rawOpen(`azr.${CLUSTER}.attach.actor.a`);
    for (const bad of ["null", "42", '"ping"', "{", '{"t":"resize","cols":"wide","rows":null}', '{"t":"ack","bytes":-5}', '{"t":"ack","bytes":"x"}', '{"t":"bogus"}'])
      clientNc.publish(raw.reply.control, bad);
    clientNc.publish(raw.reply.input, new Uint8Array([0xff, 0xfe, 0x00]));
    clientNc.publish(`azr.${CLUSTER}.attach.s.no-such-session.in`, "hello");
    await serving();
    for (const bad of ["null", "[]", "{}", '{"output":"has space"}', '{"output":">"}', '{"output":"a.*.b"}', '{"output":"a..b"}', `{"output":"x","cols":1e308,"rows":-1e308}`]) {
      const r = await clientNc.request(`azr.${CLUSTER}.attach.actor.a`, bad, { timeout: 2000 });
      const reply = r.json<OpenReply>();
      if (bad.startsWith('{"output":"x"')) assert.ok(reply.ok, "a valid subject with absurd sizes is clamped, not refused");
      else assert.ok(!reply.ok && /malformed attach request/.test(reply.error), `${bad} -> ${r.string()}`);
    }
    clientNc.publish(`azr.${CLUSTER}.attach.actor.a`, '{"output":"nobody.listens"}'); // no reply subject
    await serving();
    const m = screen.mark();
    s.write("actor.n * 6\r");
    await screen.waitFor(/\n42\n/, m);
    await s.detach();
    clientNc.publish(raw.reply.control, encodeJson({ t: "detach" }));
  });

  test("large output - a REPL line printing more than max_payload reaches the client whole; the process keeps serving", async () => {
    const { s } = await openRepl();
    let xs = 0;
    const seen = new Screen();
    const s2 = await attach(clientNc, CLUSTER, { kind: "actor", name: "a" }, {
      onOutput: (d) => {
        for (const b of d) if (b === 0x78) xs++;
        seen.push(d);
      },
    });
    await seen.waitFor(/a> /);
    const m = seen.mark();
    s2.write("console.log('x'.repeat(3_000_000)); 'after'\r");
    await seen.waitFor(/\n'after'\n/, m, 20_000);
    assert.ok(xs >= 3_000_000, `all 3 MB arrived (${xs} x)`);
    await serving();
    await s2.detach();
    await s.detach();
  });

  test("flow control - a REPL printing 50 MB to a client that stops acking: bounded in flight, the rest dropped with a notice", async () => {
    const raw = await rawOpen(`azr.${CLUSTER}.attach.actor.a`);
    await new Promise((r) => setTimeout(r, 200));
    raw.ack();
    clientNc.publish(raw.reply.input, "console.log('y'.repeat(50_000_000))\r");
    await new Promise((r) => setTimeout(r, 1500));
    const first = raw.bytes();
    assert.ok(first >= FLOW_WINDOW, `the window's worth arrived (${first})`);
    assert.ok(first <= FLOW_WINDOW + 2 * MAX_OUTPUT_MESSAGE + 4096, `no more than the window unacknowledged (${first} bytes)`);
    await serving();
    // Acking in turn drains what the server held (at most MAX_QUEUED_OUTPUT) and reports the rest as dropped.
    const deadline = Date.now() + 20_000;
    while (!/bytes of output dropped/.test(raw.text()) && Date.now() < deadline) {
      raw.ack();
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(raw.text(), /\[azr attach: \d+ bytes of output dropped: the client could not keep up\]/);
    assert.ok(raw.bytes() <= FLOW_WINDOW + MAX_QUEUED_OUTPUT + 2 * MAX_OUTPUT_MESSAGE + 8192, `held output is capped (${raw.bytes()} bytes)`);
    clientNc.publish(raw.reply.control, encodeJson({ t: "detach" }));
  });

  test("flow control - a shell running `yes` for a client that stops acking is paused, and resumes on ack", async () => {
    const ns = (await import("node-pty")) as typeof import("node-pty") & { default?: typeof import("node-pty") };
    const pty = typeof ns.spawn === "function" ? ns : ns.default!;
    const shell = await AttachServer.start({ nc: serverNc, cluster: CLUSTER, target: { kind: "node", id: "n" }, open: shellBackend(pty, "n", "/bin/sh") });
    try {
      const raw = await rawOpen(`azr.${CLUSTER}.attach.node.n`);
      clientNc.publish(raw.reply.input, "yes azr-flood\r");
      await new Promise((r) => setTimeout(r, 1500));
      const held = raw.bytes();
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(raw.bytes(), held, "nothing more arrives without an ack: the pty is paused");
      assert.ok(held <= FLOW_WINDOW + 2 * MAX_OUTPUT_MESSAGE + 65536, `no more than the window in flight (${held} bytes)`);
      raw.ack();
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(raw.bytes() > held, "an ack lets output flow again");
      clientNc.publish(raw.reply.input, "\x03");
      clientNc.publish(raw.reply.control, encodeJson({ t: "detach" }));
    } finally {
      shell.stop();
    }
  });

  test("session cap - an open beyond the limit is refused with the limit and the way out", async () => {
    const capped = await AttachServer.start({ nc: serverNc, cluster: CLUSTER, target: { kind: "actor", name: "capped" }, open: replBackend("capped", {}), maxSessions: 2 });
    try {
      const a = await attach(clientNc, CLUSTER, { kind: "actor", name: "capped" }, { onOutput: () => {} });
      const b = await attach(clientNc, CLUSTER, { kind: "actor", name: "capped" }, { onOutput: () => {} });
      await assert.rejects(
        attach(clientNc, CLUSTER, { kind: "actor", name: "capped" }, { onOutput: () => {} }),
        (e: Error) => e instanceof AttachError && /actor 'capped' already has 2 attach sessions open: detach one/.test(e.message),
      );
      await a.detach();
      const c = await attach(clientNc, CLUSTER, { kind: "actor", name: "capped" }, { onOutput: () => {} });
      await Promise.all([b.detach(), c.detach()]);
      assert.equal(capped.sessions, 0);
    } finally {
      capped.stop();
    }
  });

  test("client connection closed - the session ends with the reason instead of waiting forever", async () => {
    const own = await connect({ servers: nats.url });
    const s = await attach(own, CLUSTER, { kind: "actor", name: "a" }, { onOutput: () => {} });
    await own.close();
    const reason = await Promise.race([s.ended, new Promise<string>((r) => setTimeout(() => r("still waiting"), 3000))]);
    assert.match(reason, /the NATS connection closed/);
  });
});
