/**
 * The shell backend of attach: `azr attach --shell <node>` opens a real terminal on the node's
 * machine through node-pty (a pseudo-terminal, so colours, resizing and full-screen programs
 * such as `top` or `vim` work). Covers: starting the user's shell ($SHELL, else /bin/bash) in
 * the node agent's working folder with TERM from the client, resize, ending the session when
 * the shell exits, hanging the shell up when the client detaches. Not: the transport
 * (attach-server.ts). The shell runs as the node agent's user: whoever holds the cluster's NATS
 * credentials gets that user's shell on every node that serves one, as with `ssh` keys shared by
 * a team; nodeShellEnabled says which nodes do.
 */
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { attachSubject, encodeJson, type OpenReply } from "./attach-protocol.ts";
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
        // Bytes as they came: decoding each message alone would garble a character split across two.
        write: (d) => p.write(Buffer.from(d.buffer, d.byteOffset, d.byteLength)),
        resize: (c, r) => p.resize(c, r),
        // Stops reading the pty: the kernel's buffer fills and a flooding program (`yes`) blocks.
        pause: () => p.pause(),
        resume: () => p.resume(),
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

/**
 * Whether a node agent serves `azr attach --shell`: its explicit option, else AZR_NODE_SHELL
 * (on/off), else `defaultOn`. The defaults, chosen deliberately: the agent inside the process
 * that starts a run (`connect({ agent })`, `azr selfplay`) serves a shell, since it is the
 * machine of the user who started the run; a standalone agent (node-agent-main.ts), which joins
 * someone's machine to a cluster, does not unless its operator says so. A shell is an
 * interactive login for everyone holding the cluster's credentials; on a shared GPU machine that
 * should be its operator's explicit choice, not a side effect of joining a cluster.
 */
export function nodeShellEnabled(option: boolean | undefined, env: NodeJS.ProcessEnv, defaultOn: boolean): boolean {
  if (option !== undefined) return option;
  const v = (env.AZR_NODE_SHELL ?? "").trim().toLowerCase();
  if (v === "") return defaultOn;
  if (/^(on|1|true|yes)$/.test(v)) return true;
  if (/^(off|0|false|no)$/.test(v)) return false;
  throw new Error(`AZR_NODE_SHELL='${env.AZR_NODE_SHELL}': use on or off`);
}

/**
 * A node with its shell switched off still answers `azr attach --shell`, with a refusal that
 * says how to switch it on (no answer at all would read as "the node is not running").
 */
export async function refuseNodeShell(o: { nc: NatsConnection; cluster: string; nodeId: string }): Promise<{ stop(reason?: string): void }> {
  const error =
    `the shell is switched off on node '${o.nodeId}': its operator can allow \`azr attach --shell\` by restarting the node agent ` +
    `with --shell on (or AZR_NODE_SHELL=on)`;
  const sub: Subscription = o.nc.subscribe(attachSubject(o.cluster, { kind: "node", id: o.nodeId }), {
    callback: (err, msg) => {
      if (!err) msg.respond(encodeJson({ ok: false, error } satisfies OpenReply));
    },
  });
  await o.nc.flush();
  return { stop: () => sub.unsubscribe() };
}
