/**
 * Credentials against a real nats-server that requires them: user/password, token, an nkey
 * seed file, a `.creds` file (operator JWTs, memory resolver), TLS with a CA file and TLS with a
 * client certificate. For each,
 * connect() with the NATS_* settings reaches the server, spawns an actor (its own process, which
 * must connect back with the same credentials) and calls it; a wrong secret is refused with an
 * error naming the setting to fix. Last, a node agent in its own process, configured only by
 * its environment, runs an actor on a TLS + password server.
 */
import { strict as assert } from "node:assert";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, connectionSpecFromEnv, type ConnectionSpec } from "../../runtime/index.ts";
import { CONNECT_TIMEOUT_MS, openConnection } from "../../runtime/connection.ts";
import { serverAddress, serversVerifyClients } from "../../runtime/server-info.ts";
import { startNatsServer, type NatsServerOptions } from "../../runtime/nats-server.ts";
import { makeOperator, makeTls, nkeyServerConfig, writeNkeySeed, type TlsFiles } from "./fixtures/credentials.ts";
import { Counter } from "./fixtures/actors.ts";
import { startAgentProcess, stopAgentProcess } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "azr-creds-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The spec the NATS_* variables describe (the same parser connect() uses on process.env). */
function specOf(env: NodeJS.ProcessEnv): ConnectionSpec {
  const spec = connectionSpecFromEnv(env);
  assert.ok(spec, "NATS_URL is set");
  return spec;
}

/**
 * connect() with `spec` and an in-process node agent, spawn a Counter in its own process and
 * call it: proves both this process and the actor process authenticate.
 */
async function spawnAndCall(spec: ConnectionSpec, cluster: string): Promise<void> {
  const runDir = mkdtempSync(join(dir, `${cluster}-`));
  await using c = await connect({ cluster, connection: spec, runDir, agent: true });
  const counter = await c.spawn(Counter, [41], { name: "counter" });
  assert.equal(await counter.add(1), 42);
  assert.notEqual(await counter.pid(), process.pid, "the actor runs in its own process, connected with the same credentials");
}

async function refused(spec: ConnectionSpec, expected: RegExp, timeoutMs?: number): Promise<void> {
  await assert.rejects(openConnection(spec, undefined, { timeoutMs }), (e: Error) => {
    assert.match(e.message, /^cannot connect to NATS at /);
    assert.match(e.message, expected);
    return true;
  });
}

/** A nats-server with `opts` for the tests of one describe block. */
function useServer(opts: () => NatsServerOptions | Promise<NatsServerOptions>): { readonly url: string } {
  let server: Awaited<ReturnType<typeof startNatsServer>> | undefined;
  before(async () => {
    server = await startNatsServer(await opts());
  });
  after(() => server?.stop());
  return {
    get url() {
      return server!.url;
    },
  };
}

describe("user and password", () => {
  const s = useServer(() => ({ auth: { user: "azr", pass: "s3cret" } }));

  test("connects, spawns an actor and calls it", async () => {
    await spawnAndCall(specOf({ NATS_URL: s.url, NATS_USER: "azr", NATS_PASSWORD: "s3cret" }), "t-userpass");
  });

  test("a wrong password names NATS_USER and NATS_PASSWORD; none at all lists the settings", async () => {
    await refused(specOf({ NATS_URL: s.url, NATS_USER: "azr", NATS_PASSWORD: "wrong" }), /refused user 'azr': check NATS_USER and NATS_PASSWORD/);
    await refused(specOf({ NATS_URL: s.url }), /requires credentials and none were given: set NATS_USER and NATS_PASSWORD, NATS_TOKEN, NATS_NKEY or NATS_CREDS/);
  });
});

describe("token", () => {
  const s = useServer(() => ({ auth: { token: "tok-123" } }));

  test("connects, spawns an actor and calls it", async () => {
    await spawnAndCall(specOf({ NATS_URL: s.url, NATS_TOKEN: "tok-123" }), "t-token");
  });

  test("a wrong token names NATS_TOKEN", async () => {
    await refused(specOf({ NATS_URL: s.url, NATS_TOKEN: "tok-456" }), /refused the token: check NATS_TOKEN/);
  });
});

describe("nkey seed file", () => {
  const good = writeNkeySeed(dir, "good");
  const s = useServer(() => ({ extraConfig: nkeyServerConfig(good.publicKey) }));

  test("connects, spawns an actor and calls it", async () => {
    await spawnAndCall(specOf({ NATS_URL: s.url, NATS_NKEY: good.file }), "t-nkey");
  });

  test("an unknown key names NATS_NKEY, the file and its public key; a file without a seed says so", async () => {
    const other = writeNkeySeed(dir, "other");
    await refused(specOf({ NATS_URL: s.url, NATS_NKEY: other.file }), new RegExp(`refused the nkey in NATS_NKEY '${other.file}' \\(public key ${other.publicKey}\\)`));
    const garbage = join(dir, "garbage.nk");
    writeFileSync(garbage, "not a seed\n");
    await assert.rejects(openConnection(specOf({ NATS_URL: s.url, NATS_NKEY: garbage })), /NATS_NKEY '.*garbage\.nk' does not hold an nkey seed/);
    await assert.rejects(openConnection(specOf({ NATS_URL: s.url, NATS_NKEY: join(dir, "missing.nk") })), /cannot read NATS_NKEY '.*missing\.nk'/);
  });
});

describe(".creds file (operator JWTs, memory resolver)", () => {
  const setup = makeOperator(dir);
  const s = useServer(async () => ({ extraConfig: (await setup).serverConfig }));

  test("connects, spawns an actor and calls it (JetStream enabled by the account JWT)", async () => {
    await spawnAndCall(specOf({ NATS_URL: s.url, NATS_CREDS: (await setup).credsFile }), "t-creds");
  });

  test("a user of an account the server does not trust names NATS_CREDS; a file that is no .creds says so", async () => {
    const { foreignCredsFile } = await setup;
    await refused(specOf({ NATS_URL: s.url, NATS_CREDS: foreignCredsFile }), new RegExp(`refused the user JWT in NATS_CREDS '${foreignCredsFile}'`));
    const seedOnly = writeNkeySeed(dir, "not-creds").file;
    await assert.rejects(openConnection(specOf({ NATS_URL: s.url, NATS_CREDS: seedOnly })), /NATS_CREDS '.*not-creds\.nk' is not a \.creds file/);
  });
});

describe("TLS", () => {
  let tls: TlsFiles;
  let wrong: TlsFiles;
  const s = useServer(() => {
    tls = makeTls(dir, "right");
    wrong = makeTls(dir, "wrong");
    return { extraConfig: tls.serverConfig };
  });

  test("the server's URL is tls://; with NATS_CA it connects, spawns an actor and calls it", async () => {
    assert.match(s.url, /^tls:\/\//);
    await spawnAndCall(specOf({ NATS_URL: s.url, NATS_CA: tls.caFile }), "t-tls");
    // No certificate is needed here: its INFO does not claim tls_verify, so nothing is refused early.
    assert.equal(await serversVerifyClients([s.url]), false);
  });

  test("server addresses as NATS_URL gives them", () => {
    assert.deepEqual(serverAddress("tls://a.example:4443"), { host: "a.example", port: 4443 });
    assert.deepEqual(serverAddress("nats://10.0.0.2"), { host: "10.0.0.2", port: 4222 });
    assert.deepEqual(serverAddress("localhost:5222"), { host: "localhost", port: 5222 });
    assert.deepEqual(serverAddress("tls://[::1]:4222"), { host: "::1", port: 4222 });
    assert.equal(serverAddress("nats://"), undefined);
  });

  test("a CA that did not sign the server's certificate names NATS_CA and the file; no CA at all says to set it", async () => {
    await refused(specOf({ NATS_URL: s.url, NATS_CA: wrong.caFile }), new RegExp(`not signed by the CA in NATS_CA '${wrong.caFile}'.*set NATS_CA`));
    await refused(specOf({ NATS_URL: s.url }), /could not be verified .*set NATS_CA/);
    await assert.rejects(openConnection(specOf({ NATS_URL: s.url, NATS_CA: join(dir, "missing-ca.pem") })), /cannot read NATS_CA '.*missing-ca\.pem'/);
  });
});

describe("TLS with client certificates (the server verifies clients)", () => {
  let tls: TlsFiles;
  const s = useServer(() => {
    tls = makeTls(dir, "mutual");
    return { extraConfig: tls.verifyingServerConfig };
  });

  test("with NATS_CERT and NATS_KEY it connects, spawns an actor and calls it", async () => {
    await spawnAndCall(specOf({ NATS_URL: s.url, NATS_CA: tls.caFile, NATS_CERT: tls.clientCertFile, NATS_KEY: tls.clientKeyFile }), "t-mtls");
  });

  test("without a client certificate the error says to set NATS_CERT and NATS_KEY; one without the other is refused at once", async () => {
    // The server drops the connection after the handshake, which the client alone only reports
    // after its whole connect timeout (20 s); the server's INFO line (tls_verify) tells at once.
    const started = Date.now();
    await refused(specOf({ NATS_URL: s.url, NATS_CA: tls.caFile }), /verifies client certificates \(its INFO says tls_verify\) and no client certificate is set: set NATS_CERT and NATS_KEY to a client certificate its CA signed/);
    assert.ok(Date.now() - started < CONNECT_TIMEOUT_MS / 2, `refused after ${Date.now() - started} ms: the connect timeout, not the server's INFO`);
    assert.equal(await serversVerifyClients([s.url]), true);
    await assert.rejects(openConnection(specOf({ NATS_URL: s.url, NATS_CA: tls.caFile, NATS_CERT: tls.clientCertFile })), /NATS_CERT and NATS_KEY go together/);
  });
});

describe("a node agent in its own process, configured by NATS_* only (TLS + password)", () => {
  // Registered before the server's hook, so the agent stops while the server is still up.
  let agent: ChildProcess | undefined;
  after(async () => agent && (await stopAgentProcess(agent)));
  let tls: TlsFiles;
  const s = useServer(() => {
    tls = makeTls(dir, "agent");
    return { extraConfig: tls.serverConfig, auth: { user: "agent", pass: "pw" } };
  });

  test("the agent joins, and the actor it starts connects back and answers", async () => {
    const env = { NATS_URL: s.url, NATS_CA: tls.caFile, NATS_USER: "agent", NATS_PASSWORD: "pw" };
    agent = await startAgentProcess({ cluster: "t-agent-tls", id: "tls-node", runDir: mkdtempSync(join(dir, "agent-")), env });
    await using c = await connect({ cluster: "t-agent-tls", connection: specOf(env), runDir: mkdtempSync(join(dir, "driver-")) });
    const counter = await c.spawn(Counter, [1], { name: "remote", node: "tls-node" });
    assert.equal(await counter.add(1), 2);
    const e = await c.registry.get("remote");
    assert.equal(e?.node, "tls-node");
    assert.equal(e?.pid, await counter.pid());
    assert.notEqual(e?.pid, agent.pid, "the actor is the agent's child, not the agent");
  });
});
