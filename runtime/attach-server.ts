/**
 * The serving side of attach: answers open requests for one target (an actor or a node) and
 * runs each session's terminal backend (attach-repl.ts, attach-shell.ts), bridging its bytes to
 * NATS subjects. Covers: sessions (several at once, each independent), coalescing output into
 * few messages, resize, detach, dropping sessions whose client vanished, ending every session
 * at stop. Not: what the terminal is (backends) or the client side (attach-client.ts).
 */
import { headers as natsHeaders, nuid, type Msg, type NatsConnection, type Subscription } from "@nats-io/nats-core";
import {
  attachSubject,
  clampSize,
  decodeJson,
  encodeJson,
  END_HEADER,
  SESSION_IDLE_MS,
  sessionSubjects,
  type AttachTarget,
  type Control,
  type OpenReply,
  type OpenRequest,
} from "./attach-protocol.ts";

/** A terminal one session talks to. */
export interface TerminalBackend {
  /** Bytes typed by the client. */
  write(data: Uint8Array): void;
  resize(cols: number, rows: number): void;
  /** The client detached or vanished: end the terminal (it must not call `end` back synchronously twice). */
  close(): void;
}

export interface BackendContext {
  cols: number;
  rows: number;
  colors: boolean;
  term: string;
  /** Terminal output to the client. */
  send(data: Uint8Array | string): void;
  /** The terminal ended by itself (REPL closed by Ctrl-D, shell exited). */
  end(reason: string): void;
}

/** Starts a terminal; it sends its banner as its first output (the reply repeats it for programs). */
export type BackendFactory = (ctx: BackendContext) => { backend: TerminalBackend; banner: string };

export interface AttachServerOptions {
  nc: NatsConnection;
  cluster: string;
  target: AttachTarget;
  open: BackendFactory;
  idleMs?: number;
}

interface Session {
  id: string;
  backend?: TerminalBackend;
  subs: Subscription[];
  idle?: NodeJS.Timeout;
  ended: boolean;
  end(reason: string): void;
}

const enc = new TextEncoder();

export class AttachServer {
  readonly #o: AttachServerOptions;
  readonly #sessions = new Map<string, Session>();
  #sub?: Subscription;

  private constructor(o: AttachServerOptions) {
    this.#o = o;
  }

  /** Subscribes to open requests; resolves once the server has the subscription. */
  static async start(o: AttachServerOptions): Promise<AttachServer> {
    const s = new AttachServer(o);
    s.#sub = o.nc.subscribe(attachSubject(o.cluster, o.target), { callback: (err, msg) => void (err || s.#onOpen(msg)) });
    await o.nc.flush();
    return s;
  }

  get sessions(): number {
    return this.#sessions.size;
  }

  /** Ends every session (clients see `reason`) and stops taking new ones. */
  stop(reason = "the attach server stopped"): void {
    this.#sub?.unsubscribe();
    for (const s of [...this.#sessions.values()]) s.end(reason);
  }

  async #onOpen(msg: Msg): Promise<void> {
    let req: OpenRequest;
    try {
      req = decodeJson<OpenRequest>(msg.data);
      if (typeof req.output !== "string" || !req.output) throw new Error("no output subject");
    } catch (e) {
      msg.respond(encodeJson({ ok: false, error: `malformed attach request: ${(e as Error).message}` } satisfies OpenReply));
      return;
    }
    const { nc, cluster } = this.#o;
    const id = nuid.next();
    const subj = sessionSubjects(cluster, id);
    const { cols, rows } = clampSize(req.cols, req.rows);
    const out = new OutputBatcher((b) => {
      if (!nc.isClosed()) nc.publish(req.output, b);
    });
    const session: Session = {
      id,
      subs: [],
      ended: false,
      end: (reason) => {
        if (session.ended) return;
        session.ended = true;
        clearTimeout(session.idle);
        for (const s of session.subs) s.unsubscribe();
        this.#sessions.delete(id);
        out.flush();
        if (!nc.isClosed()) {
          const h = natsHeaders();
          h.set(END_HEADER, reason);
          nc.publish(req.output, new Uint8Array(0), { headers: h });
        }
        try {
          session.backend?.close();
        } catch {
          /* the terminal is already gone */
        }
      },
    };
    const idleMs = this.#o.idleMs ?? SESSION_IDLE_MS;
    const touch = () => {
      clearTimeout(session.idle);
      session.idle = setTimeout(() => session.end(`no input or ping for ${idleMs} ms: session dropped`), idleMs);
      session.idle.unref();
    };
    let banner: string;
    try {
      const made = this.#o.open({
        cols,
        rows,
        colors: req.colors === true,
        term: typeof req.term === "string" && req.term ? req.term : "xterm-256color",
        send: (d) => out.push(typeof d === "string" ? enc.encode(d) : d),
        end: (reason) => session.end(reason),
      });
      session.backend = made.backend;
      banner = made.banner;
    } catch (e) {
      msg.respond(encodeJson({ ok: false, error: `could not open the terminal: ${(e as Error).message}` } satisfies OpenReply));
      return;
    }
    this.#sessions.set(id, session);
    session.subs.push(
      nc.subscribe(subj.input, {
        callback: (err, m) => {
          if (err || session.ended) return;
          touch();
          session.backend?.write(m.data);
        },
      }),
      nc.subscribe(subj.control, { callback: (err, m) => void (err || this.#onControl(session, m, touch)) }),
    );
    touch();
    // The client may type the moment it has the reply: be subscribed before answering.
    await nc.flush();
    if (session.ended) return;
    msg.respond(encodeJson({ ok: true, session: id, input: subj.input, control: subj.control, banner } satisfies OpenReply));
  }

  #onControl(session: Session, m: Msg, touch: () => void): void {
    if (session.ended) return;
    touch();
    let c: Control;
    try {
      c = decodeJson<Control>(m.data);
    } catch {
      return; // not a control message
    }
    if (c.t === "ping") m.respond(encodeJson({ ok: true }));
    else if (c.t === "resize") {
      const { cols, rows } = clampSize(c.cols, c.rows);
      session.backend?.resize(cols, rows);
    } else if (c.t === "detach") session.end("detached");
  }
}

/**
 * Terminal output arrives as many tiny writes (a prompt, an escape sequence, a character); one
 * NATS message per write would cost more than the bytes. Writes in the same turn of the event
 * loop go out as one message.
 */
class OutputBatcher {
  #parts: Uint8Array[] = [];
  #scheduled = false;

  constructor(private readonly publish: (b: Uint8Array) => void) {}

  push(b: Uint8Array): void {
    if (b.length === 0) return;
    this.#parts.push(b);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.#scheduled = false;
    if (this.#parts.length === 0) return;
    const parts = this.#parts;
    this.#parts = [];
    this.publish(parts.length === 1 ? parts[0] : Buffer.concat(parts));
  }
}
