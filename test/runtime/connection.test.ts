/**
 * Connecting: the NATS_* environment parsed in one place, and the embedded default (no NATS_URL:
 * a nats-server with its store in the run folder, stopped at close). Credentials against servers
 * that require them are in credentials.test.ts.
 */
import { strict as assert } from "node:assert";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { connectionSpecFromEnv, connectOrEmbed, openConnection } from "../../runtime/connection.ts";

describe("connection spec from the environment", () => {
  test("unset NATS_URL means the embedded server", () => {
    assert.equal(connectionSpecFromEnv({}), undefined);
  });

  test("servers, user/password, token, creds, nkey and TLS files are read", () => {
    assert.deepEqual(
      connectionSpecFromEnv({
        NATS_URL: "nats://a:4222, nats://b:4222",
        NATS_USER: "u",
        NATS_PASSWORD: "p",
        NATS_TOKEN: "t",
        NATS_CREDS: "/x.creds",
        NATS_CA: "/ca.pem",
      }),
      { servers: ["nats://a:4222", "nats://b:4222"], user: "u", pass: "p", token: "t", credsFile: "/x.creds", tls: { caFile: "/ca.pem", certFile: undefined, keyFile: undefined } },
    );
  });

  test("an unreadable creds file is named in the error", async () => {
    await assert.rejects(openConnection({ servers: ["nats://127.0.0.1:1"], credsFile: "/nonexistent/azr.creds" }), /cannot read NATS_CREDS '\/nonexistent\/azr\.creds'/);
  });
});

describe("embedded default", () => {
  test("no NATS_URL - a nats-server with its store in the run folder, stopped at close", async () => {
    const runDir = mkdtempSync(join(tmpdir(), "azr-embedded-"));
    try {
      const c = await connectOrEmbed({ runDir, env: {} });
      assert.ok(c.server, "an embedded server was started");
      assert.equal(c.server.storeDir, join(runDir, "nats"));
      await c.nc.flush();
      const pid = c.server.pid;
      await c.close();
      assert.throws(() => process.kill(pid, 0), { code: "ESRCH" }, "the server is gone after close");
      assert.ok(existsSync(join(runDir, "nats")), "the store stays in the run folder");
    } finally {
      rmSync(runDir, { recursive: true, force: true });
    }
  });
});
