/**
 * runtime/monitor.ts + `azr top`'s NATS lines against real servers: a standalone one, a server
 * of a two-server cluster (whose figures are its own, not the cluster's: the view must say so),
 * and a URL where no monitoring port listens.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { startNatsServer, type NatsServerHandle } from "../../runtime/nats-server.ts";
import { readNatsFigures } from "../../runtime/monitor.ts";
import { renderTop, type TopSnapshot } from "../../cli/commands/top.ts";

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

const snapshot = (nats: TopSnapshot["nats"]): TopSnapshot => ({ at: new Date().toISOString(), cluster: "c", actors: [], nodes: [], nats });

describe("nats monitoring figures", () => {
  let solo: NatsServerHandle;
  const pair: NatsServerHandle[] = [];
  before(async () => {
    solo = await startNatsServer();
    const [pa, pb] = [await freePort(), await freePort()];
    const cluster = (name: string, own: number, peer: number) =>
      `server_name: ${name}\ncluster { name: azrc, listen: "127.0.0.1:${own}", routes: ["nats-route://127.0.0.1:${peer}"] }`;
    pair.push(...(await Promise.all([startNatsServer({ extraConfig: cluster("sa", pa, pb) }), startNatsServer({ extraConfig: cluster("sb", pb, pa) })])));
  });
  after(async () => {
    await Promise.all([solo?.stop(), ...pair.map((s) => s.stop())]);
  });

  test("a standalone server: no cluster note", async () => {
    const f = await readNatsFigures(solo.monitorUrl);
    assert.equal(f.cluster, undefined);
    assert.doesNotMatch(renderTop(snapshot({ monitorUrl: solo.monitorUrl, figures: f })), /of cluster/);
  });

  test("a server of a cluster: the view names it and says its figures are its alone", async () => {
    let f = await readNatsFigures(pair[0].monitorUrl);
    for (let i = 0; i < 50 && (f.cluster?.routes ?? 0) < 1; i++) {
      await new Promise((r) => setTimeout(r, 100)); // the route forms a moment after start
      f = await readNatsFigures(pair[0].monitorUrl);
    }
    assert.deepEqual(f.cluster, { name: "azrc", routes: f.cluster?.routes });
    assert.ok((f.cluster?.routes ?? 0) >= 1, "the route to the peer is up");
    assert.equal(f.serverName, "sa");
    assert.match(renderTop(snapshot({ monitorUrl: pair[0].monitorUrl, figures: f })), /server 'sa' of cluster 'azrc' \(\d+ route\(s\)\): these figures are this server's alone/);
  });

  test("no monitoring port: the error names the URL and the fix", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    await assert.rejects(readNatsFigures(url, 1000), (e: Error) => e.name === "NatsMonitorError" && e.message.includes(url) && /start the server with an http monitoring port/.test(e.message));
  });
});
