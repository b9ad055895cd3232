/**
 * The client side of attach: opens a session on an actor's REPL or a node's shell and exposes
 * it as a byte pipe — `write`, `resize`, `detach`, an `output` callback and `ended`. Covers:
 * the open handshake with clear errors (no such actor, not attachable), pings that keep the
 * session alive and notice when the server's process is gone. Not: the local terminal (the
 * CLI's attach command bridges the TTY), the server side.
 */
import { createInbox, type NatsConnection, type Subscription } from "@nats-io/nats-core";
import {
  ATTACH_PING_MS,
  attachSubject,
  decodeJson,
  encodeJson,
  END_HEADER,
  FLOW_ACK_EVERY,
  OPEN_TIMEOUT_MS,
  type AttachTarget,
  type Control,
  type OpenReply,
  type OpenRequest,
} from "./attach-protocol.ts";

/** Opening a session failed: nothing serves the target, or it refused. */
export class AttachError extends Error {
  override name = "AttachError";
}

export interface AttachOptions {
  cols?: number;
  rows?: number;
  colors?: boolean;
  term?: string;
  /** Receives the terminal's output bytes, in order. */
  onOutput: (data: Uint8Array) => void;
  pingMs?: number;
}

export interface AttachSession {
  readonly banner: string;
  write(data: string | Uint8Array): void;
  resize(cols: number, rows: number): void;
  /** Ends the session; the target keeps running. Resolves with the reason once it has ended. */
  detach(): Promise<string>;
  /** Resolves with the reason the session ended (detached, the REPL closed, the shell exited, the process went away). */
  readonly ended: Promise<string>;
}

function targetName(t: AttachTarget): string {
  return t.kind === "actor" ? `actor '${t.name}'` : `node '${t.id}'`;
}

export async function attach(nc: NatsConnection, cluster: string, target: AttachTarget, o: AttachOptions): Promise<AttachSession> {
  const output = createInbox();
  let endReason: ((r: string) => void) | undefined;
  const ended = new Promise<string>((r) => (endReason = r));
  let done = false;
  let timer: NodeJS.Timeout | undefined;
  let sub: Subscription | undefined;
  let control: string | undefined;
  // Running total of output bytes received, acked to the server so it keeps sending (flow control).
  let received = 0;
  let acked = 0;
  const finish = (reason: string) => {
    if (done) return;
    done = true;
    clearInterval(timer);
    sub?.unsubscribe();
    endReason!(reason);
  };
  sub = nc.subscribe(output, {
    callback: (err, m) => {
      if (err) return finish(`connection error: ${err.message}`);
      const end = m.headers?.get(END_HEADER);
      if (end) finish(end);
      else if (m.data.length > 0) {
        received += m.data.length;
        if (received - acked >= FLOW_ACK_EVERY) ack();
        o.onOutput(m.data);
      }
    },
  });
  const ack = () => {
    // Before the open reply arrives there is no control subject yet: the first ack after it covers these bytes.
    if (done || !control || nc.isClosed()) return;
    acked = received;
    nc.publish(control, encodeJson({ t: "ack", bytes: received } satisfies Control));
  };
  // A connection that closes for good (the NATS server went away, reconnects exhausted) ends the session
  // instead of leaving the terminal waiting for output that cannot come.
  void nc.closed().then((e) => finish(`the NATS connection closed${e ? `: ${e.message}` : ""}: detached`));
  const req: OpenRequest = { output, cols: o.cols ?? 80, rows: o.rows ?? 24, colors: o.colors ?? false, term: o.term, flow: true };
  let reply: OpenReply;
  try {
    const m = await nc.request(attachSubject(cluster, target), encodeJson(req), { timeout: OPEN_TIMEOUT_MS });
    reply = decodeJson<OpenReply>(m.data);
  } catch (e) {
    sub.unsubscribe();
    const what = targetName(target);
    const noOne = /no responders|503/i.test(String((e as Error).message)) || (e as { code?: string }).code === "503";
    throw new AttachError(
      noOne
        ? `nothing serves attach for ${what} in cluster '${cluster}': is it running? (\`azr actors\` / \`azr nodes\` list what is)`
        : `attach to ${what} failed: ${(e as Error).message}`,
      { cause: e },
    );
  }
  if (!reply.ok) {
    sub.unsubscribe();
    throw new AttachError(`${targetName(target)} refused the attach: ${reply.error}`);
  }
  const { input } = reply;
  control = reply.control;
  if (received - acked >= FLOW_ACK_EVERY) ack();
  const ctl = (c: Control) => {
    if (!done && !nc.isClosed()) nc.publish(reply.control, encodeJson(c));
  };
  timer = setInterval(() => {
    if (done || nc.isClosed()) return;
    nc.request(reply.control, encodeJson({ t: "ping" } satisfies Control), { timeout: ATTACH_PING_MS }).catch(() =>
      finish(`${targetName(target)} stopped answering (its process ended or restarted): detached`),
    );
  }, o.pingMs ?? ATTACH_PING_MS);
  const enc = new TextEncoder();
  return {
    banner: reply.banner,
    ended,
    write: (d) => {
      if (!done && !nc.isClosed()) nc.publish(input, typeof d === "string" ? enc.encode(d) : d);
    },
    resize: (cols, rows) => ctl({ t: "resize", cols, rows }),
    detach: () => {
      ctl({ t: "detach" });
      // If the server is gone there is no end marker to wait for.
      const t = setTimeout(() => finish("detached"), OPEN_TIMEOUT_MS);
      return ended.finally(() => clearTimeout(t));
    },
  };
}
