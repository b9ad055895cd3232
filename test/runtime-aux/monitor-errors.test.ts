/**
 * The monitoring client's error when nats-server's monitoring port cannot be read (`azr top`, the
 * web view): Node's fetch says only "fetch failed"; the one-line message must carry the cause
 * (refused, unknown host, no answer in time) with the fix.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { readNatsFigures } from "../../runtime/monitor.ts";

async function listen(s: Server): Promise<number> {
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return (s.address() as { port: number }).port;
}

describe("nats-server monitoring errors", () => {
  test("monitor - refused: the message says ECONNREFUSED, the URL and the fix", async () => {
    const s = createServer();
    const port = await listen(s);
    await new Promise((r) => s.close(r)); // a port nothing listens on
    const url = `http://127.0.0.1:${port}`;
    await assert.rejects(readNatsFigures(url, 1000), (e: Error) => {
      assert.equal(e.name, "NatsMonitorError");
      assert.match(e.message, new RegExp(`^nats-server monitoring at ${url} did not answer \\w+ \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${port}: nothing listens on that port\\): start the server with an http monitoring port`));
      assert.doesNotMatch(e.message, /fetch failed/);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
  });

  test("monitor - no answer in time: the message says so, with the deadline", async () => {
    const held: import("node:net").Socket[] = [];
    const s = createServer((c) => held.push(c)); // accepts, never answers
    const port = await listen(s);
    try {
      await assert.rejects(readNatsFigures(`http://127.0.0.1:${port}`, 300), (e: Error) => {
        assert.match(e.message, /did not answer \w+ \(no answer within 300 ms: is the host reachable/);
        return true;
      });
    } finally {
      for (const c of held) c.destroy();
      await new Promise((r) => s.close(r));
    }
  });

  test("monitor - unknown host: the message names the lookup failure", async () => {
    // .invalid never resolves (RFC 2606); a resolver that cannot be reached says EAI_AGAIN instead.
    await assert.rejects(readNatsFigures("http://no-such-host.invalid:8222", 5000), (e: Error) => {
      assert.match(e.message, /\((getaddrinfo )?(ENOTFOUND|EAI_AGAIN) no-such-host\.invalid: the host name does not resolve\)|no answer within 5000 ms/);
      return true;
    });
  });
});
