/**
 * The REPL backend of attach: a `node:repl` server inside the actor's process with the live
 * instance in scope as `actor`. Covers: top-level await, tab completion, colours when the
 * client renders them, line history shared by the process's sessions (up-arrow finds what an
 * earlier session typed), Ctrl-C clearing the line or abandoning an awaited expression (the
 * actor's own work carries on), Ctrl-D / `.exit` ending the session. Each session has its own
 * context, so variables one person defines do not appear in another's. Not: the transport
 * (attach-server.ts). Code typed here runs with the actor's full authority: `process.exit()`
 * ends the actor like any other code would.
 */
import { PassThrough, Writable } from "node:stream";
import repl from "node:repl";
import { AttachServer, type BackendFactory } from "./attach-server.ts";
import type { NatsConnection } from "@nats-io/nats-core";

const HISTORY_SIZE = 1000;

/** Lines typed in any session of this process, newest first (readline's order). */
const sharedHistory: string[] = [];

/** A writable that looks like a terminal of a given size to readline, forwarding what it gets. */
class RemoteTerminal extends Writable {
  columns: number;
  rows: number;
  readonly isTTY = true;

  constructor(
    cols: number,
    rows: number,
    private readonly forward: (b: Uint8Array | string) => void,
  ) {
    super({ decodeStrings: false });
    this.columns = cols;
    this.rows = rows;
  }

  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.forward(chunk);
    cb();
  }

  resize(cols: number, rows: number): void {
    this.columns = cols;
    this.rows = rows;
    this.emit("resize");
  }

  getColorDepth(): number {
    return 8;
  }

  hasColors(): boolean {
    return true;
  }
}

export function replBackend(actorName: string, instance: object): BackendFactory {
  return (ctx) => {
    const banner =
      `attached to actor '${actorName}' (pid ${process.pid}). The instance is \`actor\`; top-level await works.\r\n` +
      `Tab completes, Ctrl-C cancels the line, Ctrl-D detaches (the actor keeps running).\r\n` +
      // Code typed here runs on the actor's own event loop, and Ctrl-C reaches it as a byte, not a
      // signal: a synchronous loop that never ends cannot be interrupted from here.
      `Code runs on the actor's event loop: a synchronous loop that never ends freezes the actor (azr restart ${actorName}).\r\n`;
    ctx.send(banner); // before the REPL writes its first prompt
    const input = new PassThrough();
    const output = new RemoteTerminal(ctx.cols, ctx.rows, ctx.send);
    const server = repl.start({
      prompt: `${actorName}> `,
      input,
      output,
      terminal: true,
      useColors: ctx.colors,
      useGlobal: false,
      ignoreUndefined: true,
      preview: true,
      // Makes Ctrl-C abandon a pending top-level await (the REPL stops waiting; the promise's
      // work, e.g. an actor method, carries on). For synchronous code it only reacts to a real
      // SIGINT of the process, which a remote Ctrl-C is not: a busy loop typed here blocks the actor.
      breakEvalOnSigint: true,
    });
    const expose = (context: object) =>
      Object.defineProperty(context, "actor", { value: instance, enumerable: true, configurable: false, writable: false });
    expose(server.context);
    server.on("reset", expose); // `.clear` makes a fresh context: the instance stays in scope

    const rl = server as unknown as { history: string[] } & NodeJS.EventEmitter;
    rl.history.push(...sharedHistory);
    rl.on("history", (h: string[]) => {
      sharedHistory.splice(0, sharedHistory.length, ...h.slice(0, HISTORY_SIZE));
    });
    let closing = false;
    server.on("exit", () => {
      if (!closing) ctx.end("detached (Ctrl-D)");
    });
    return {
      banner,
      backend: {
        write: (d) => input.write(d),
        resize: (c, r) => output.resize(c, r),
        close: () => {
          closing = true;
          server.close();
          input.end();
        },
      },
    };
  };
}

/** Serves `azr attach <actor>` for the instance hosted by this process. */
export function serveActorRepl(o: { nc: NatsConnection; cluster: string; name: string; instance: object }): Promise<AttachServer> {
  return AttachServer.start({ nc: o.nc, cluster: o.cluster, target: { kind: "actor", name: o.name }, open: replBackend(o.name, o.instance) });
}
