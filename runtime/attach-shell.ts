/**
 * The shell backend of attach: `azr attach --shell <node>` opens a real terminal on the node's
 * machine through node-pty (a pseudo-terminal, so colours, resizing and full-screen programs
 * such as `top` or `vim` work). Covers: starting the user's shell ($SHELL, else /bin/bash) in
 * the node agent's working folder with TERM from the client, resize, ending the session when
 * the shell exits, hanging the shell up when the client detaches. Not: the transport
 * (attach-server.ts). The shell runs as the node agent's user: whoever holds the cluster's NATS
 * credentials gets that user's shell on every node, as with `ssh` keys shared by a team.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { AttachServer, type BackendFactory } from "./attach-server.ts";

type PtyModule = typeof import("node-pty");

export function shellBackend(pty: PtyModule, nodeId: string, shell = process.env.SHELL || "/bin/bash"): BackendFactory {
  return (ctx) => {
    const banner = `shell on node '${nodeId}' (${shell}); exit the shell to detach.\r\n`;
    ctx.send(banner);
    const p = pty.spawn(shell, [], {
      name: ctx.term,
      cols: ctx.cols,
      rows: ctx.rows,
      cwd: process.cwd(),
      env: { ...process.env, TERM: ctx.term, AZR_NODE: nodeId } as Record<string, string>,
    });
    let closing = false;
    p.onData((d) => ctx.send(d));
    p.onExit(({ exitCode, signal }) => {
      if (!closing) ctx.end(signal ? `the shell ended by signal ${signal}` : `the shell exited with code ${exitCode}`);
    });
    return {
      banner,
      backend: {
        write: (d) => p.write(Buffer.from(d).toString("utf8")),
        resize: (c, r) => p.resize(c, r),
        close: () => {
          closing = true;
          p.kill("SIGHUP");
        },
      },
    };
  };
}

/** Serves `azr attach --shell <node>` from this node agent's process. */
export async function serveNodeShell(o: { nc: NatsConnection; cluster: string; nodeId: string }): Promise<AttachServer> {
  // Loaded here, not at module load: only node agents need the native module.
  // node-pty is CommonJS: depending on the loader its functions sit on the namespace or on `default`.
  const ns = (await import("node-pty")) as Partial<PtyModule> & { default?: PtyModule };
  const pty = (typeof ns.spawn === "function" ? ns : ns.default) as PtyModule;
  return AttachServer.start({
    nc: o.nc,
    cluster: o.cluster,
    target: { kind: "node", id: o.nodeId },
    open: shellBackend(pty, o.nodeId),
  });
}
