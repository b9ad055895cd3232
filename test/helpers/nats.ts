/** Test helper: a real `nats-server -js` on a free loopback port with a temp store, per test file. */
import { after, before } from "node:test";
import { startNatsServer, type NatsServerHandle, type NatsServerOptions } from "../../runtime/nats-server.ts";

/** Starts a server before the file's tests and stops it after; read `.url` inside tests. */
export function useNatsServer(opts: NatsServerOptions = {}): { readonly url: string; readonly server: NatsServerHandle } {
  let server: NatsServerHandle | undefined;
  before(async () => {
    server = await startNatsServer(opts);
  });
  after(async () => {
    await server?.stop();
  });
  return {
    get url() {
      if (!server) throw new Error("nats-server not started yet: read .url inside a test, not at module load");
      return server.url;
    },
    get server() {
      if (!server) throw new Error("nats-server not started yet");
      return server;
    },
  };
}
