/**
 * `azr attach` on the library level, against a spawned actor process and the node agent, on a
 * real nats-server: evaluate on the live instance with top-level await, change a field and see
 * the actor's calls use it, Ctrl-C mid-line and during an await, tab completion, two sessions
 * at once, Ctrl-D detaches with the actor still serving; a shell on the node through node-pty,
 * refused where the node's shell is switched off; no attach without the cluster's credentials.
 */
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { connect as natsConnect } from "@nats-io/transport-node";
import { attach, AttachError, type AttachSession } from "../../runtime/attach-client.ts";
import { replBackend } from "../../runtime/attach-repl.ts";
import { AttachServer } from "../../runtime/attach-server.ts";
import { nodeShellEnabled } from "../../runtime/attach-shell.ts";
import { NodeAgent } from "../../runtime/node-agent.ts";
import { startAgentProcess, stopAgentProcess } from "../runtime/helpers.ts";
import { Greeter } from "./fixtures/actors.ts";
import { Screen, useOpsCluster } from "./helpers.ts";

describe("attach", () => {
  const t = useOpsCluster("t-attach");

  async function open(name: string): Promise<{ s: AttachSession; screen: Screen }> {
    const screen = new Screen();
    const s = await attach(t.cluster.nc, t.cluster.name, { kind: "actor", name }, { onOutput: screen.push, cols: 100, rows: 30 });
    await screen.waitFor(new RegExp(`${name}> `));
    return { s, screen };
  }

  test("repl - evaluates on the live instance; a changed field is what the actor's calls use", async () => {
    const g = await t.cluster.spawn(Greeter, [], { name: "g1" });
    const pid = await g.pid();
    const { s, screen } = await open("g1");
    assert.match(s.banner, /attached to actor 'g1'/);
    let m = screen.mark();
    s.write("await actor.greet('repl')\r");
    await screen.waitFor(/'hello, repl'/, m);
    m = screen.mark();
    s.write("process.pid\r");
    await screen.waitFor(new RegExp(`\\n${pid}\\n`), m);
    s.write("actor.greeting = 'howdy'\r");
    m = screen.mark();
    s.write("actor.calls\r");
    await screen.waitFor(/\n1\n/, m);
    assert.equal(await g.greet("caller"), "howdy, caller", "the field set in the REPL is the one the actor uses");
    assert.equal(await s.detach(), "detached");
  });

  test("Ctrl-C - clears the typed line and abandons an awaited expression; the actor keeps serving", async () => {
    const g = await t.cluster.getActor<Greeter>("g1");
    const { s, screen } = await open("g1");
    s.write("actor.greeting = 'never-set'");
    s.write("\x03");
    let m = screen.mark();
    s.write("actor.greeting\r");
    await screen.waitFor(/'howdy'/, m);
    // An await that never settles: Ctrl-C gives the prompt back; the actor is untouched.
    s.write("await new Promise(() => {})\r");
    const during = await g.greet("during"); // the actor answers while the REPL is waiting
    assert.equal(during, "howdy, during");
    m = screen.mark();
    s.write("\x03");
    await screen.waitFor(/interrupted/i, m);
    m = screen.mark();
    s.write("1 + 41\r");
    await screen.waitFor(/\n42\n/, m);
    assert.equal(await g.greet("after"), "howdy, after");
    await s.detach();
  });

  test("tab completion - completes the instance's members", async () => {
    const { s, screen } = await open("g1");
    const m = screen.mark();
    s.write("actor.gree");
    s.write("\t"); // readline completes only on a tab that arrives as its own keypress, as typed
    s.write("\t");
    await screen.waitFor(/greeting/, m);
    await screen.waitFor(/greet\b/, m);
    await s.detach();
  });

  test("two sessions at once - each has its own variables; Ctrl-D detaches one, the actor and the other stay", async () => {
    const g = await t.cluster.getActor<Greeter>("g1");
    const pid = await g.pid();
    const a = await open("g1");
    const b = await open("g1");
    a.s.write("let mine = 'from-a'\r");
    let m = b.screen.mark();
    b.s.write("typeof mine\r");
    await b.screen.waitFor(/'undefined'/, m);
    a.s.write("\x04"); // Ctrl-D on an empty line
    assert.equal(await a.s.ended, "detached (Ctrl-D)");
    b.s.write(".clear\r"); // a fresh context keeps `actor`
    m = b.screen.mark();
    b.s.write("await actor.greet('b')\r");
    await b.screen.waitFor(/'howdy, b'/, m);
    assert.equal(await g.pid(), pid, "same process: detaching never stops the actor");
    assert.equal(await g.greet("x"), "howdy, x");
    await b.s.detach();
  });

  test("history - a later session's up-arrow finds what an earlier one typed", async () => {
    const a = await open("g1");
    a.s.write("'remember-me'.length\r");
    await a.screen.waitFor(/\n11\n/);
    await a.s.detach();
    const b = await open("g1");
    const m = b.screen.mark();
    b.s.write("\x1b[A\r"); // up arrow, enter
    await b.screen.waitFor(/\n11\n/, m);
    await b.s.detach();
  });

  test("shell - a terminal on the node through node-pty: commands run, resize reaches it, exit ends it", async () => {
    const screen = new Screen();
    const s = await attach(t.cluster.nc, t.cluster.name, { kind: "node", id: "n1" }, { onOutput: screen.push, cols: 80, rows: 24 });
    s.write("echo azr-$((40+2)) $AZR_NODE\r");
    await screen.waitFor(/azr-42 n1/);
    s.resize(123, 37);
    s.write("stty size\r");
    await screen.waitFor(/37 123/);
    s.write("exit\r");
    assert.match(await s.ended, /the shell exited with code 0/);
  });

  test("shell off - a node with its shell switched off refuses `attach --shell` and says how to switch it on", async () => {
    const agent = await NodeAgent.start({ nc: t.cluster.nc, connection: t.spec, cluster: t.cluster.name, runDir: t.runDir, id: "n-noshell", shell: false });
    try {
      const screen = new Screen();
      await assert.rejects(
        attach(t.cluster.nc, t.cluster.name, { kind: "node", id: "n-noshell" }, { onOutput: screen.push }),
        (e: Error) =>
          e instanceof AttachError &&
          /node 'n-noshell' refused the attach: the shell is switched off on node 'n-noshell': .*--shell on \(or AZR_NODE_SHELL=on\)/.test(e.message),
      );
      assert.equal(screen.text, "", "no terminal output: no shell was started");
    } finally {
      await agent.close();
    }
  });

  test("shell switch - explicit option, then AZR_NODE_SHELL, then the default; standalone agents default to off", async () => {
    assert.equal(nodeShellEnabled(undefined, {}, true), true);
    assert.equal(nodeShellEnabled(undefined, {}, false), false);
    assert.equal(nodeShellEnabled(undefined, { AZR_NODE_SHELL: "off" }, true), false);
    assert.equal(nodeShellEnabled(undefined, { AZR_NODE_SHELL: "on" }, false), true);
    assert.equal(nodeShellEnabled(false, { AZR_NODE_SHELL: "on" }, true), false);
    assert.throws(() => nodeShellEnabled(undefined, { AZR_NODE_SHELL: "maybe" }, true), /AZR_NODE_SHELL='maybe': use on or off/);
    // A standalone agent process without --shell: refused, with the fix named.
    const env = { ...t.env(), AZR_NODE_SHELL: "" };
    const proc = await startAgentProcess({ cluster: t.cluster.name, id: "n-standalone", runDir: t.runDir, env });
    try {
      await assert.rejects(attach(t.cluster.nc, t.cluster.name, { kind: "node", id: "n-standalone" }, { onOutput: () => {} }), /the shell is switched off on node 'n-standalone'/);
    } finally {
      await stopAgentProcess(proc);
    }
  });

  test("restart - an open session ends with the reason when the actor's process is replaced", async () => {
    const { s } = await open("g1");
    await t.cluster.restart("g1");
    assert.equal(await s.ended, "actor 'g1' is stopping");
    const again = await open("g1"); // the new incarnation serves attach too
    await again.s.detach();
  });

  test("idle - a session whose client vanished (no input, no ping) is dropped by the server", async () => {
    const server = await AttachServer.start({
      nc: t.cluster.nc,
      cluster: t.cluster.name,
      target: { kind: "actor", name: "idle-probe" },
      open: replBackend("idle-probe", { x: 1 }),
      idleMs: 300,
    });
    try {
      const s = await attach(t.cluster.nc, t.cluster.name, { kind: "actor", name: "idle-probe" }, { onOutput: () => {}, pingMs: 60_000 });
      assert.equal(server.sessions, 1);
      assert.match(await s.ended, /no input or ping for 300 ms: session dropped/);
      assert.equal(server.sessions, 0);
    } finally {
      server.stop();
    }
  });

  test("no target - attaching to an actor that does not run names it", async () => {
    await assert.rejects(
      attach(t.cluster.nc, t.cluster.name, { kind: "actor", name: "nobody" }, { onOutput: () => {} }),
      (e: Error) => e instanceof AttachError && /nothing serves attach for actor 'nobody'/.test(e.message),
    );
  });

  test("credentials - a client without the cluster's credentials cannot even connect", async () => {
    await assert.rejects(natsConnect({ servers: t.server.url, reconnect: false }), /Authorization Violation/i);
    await assert.rejects(natsConnect({ servers: t.server.url, user: "azr", pass: "wrong", reconnect: false }), /Authorization Violation/i);
  });
});
