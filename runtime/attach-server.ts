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
  FLOW_WINDOW,
  isPublishSubject,
  MAX_OUTPUT_MESSAGE,
  MAX_QUEUED_OUTPUT,
  MAX_SESSIONS,
  parseControl,
  SESSION_IDLE_MS,
  sessionSubjects,
  type AttachTarget,
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
  /** Stop producing output until `resume` (the client is behind); backends that cannot are capped instead. */
  pause?(): void;
  resume?(): void;
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
  /** Open sessions at most (MAX_SESSIONS). */
  maxSessions?: number;
}

interface Session {
  id: string;
  backend?: TerminalBackend;
  out?: OutputPump;
  subs: Subscription[];
  idle?: NodeJS.Timeout;
  ended?: string;
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
    s.#sub = o.nc.subscribe(attachSubject(o.cluster, o.target), {
      callback: (err, msg) => {
        if (!err) s.#onOpen(msg).catch((e: unknown) => s.#reply(msg, { ok: false, error: `could not open the session: ${(e as Error).message}` }));
      },
    });
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

  /** Answers a request; a reply that cannot be sent (no reply subject, connection closed) is nobody's loss. */
  #reply(msg: Msg, r: OpenReply): void {
    try {
      msg.respond(encodeJson(r));
    } catch {
      /* the requester is gone */
    }
  }

  /**
   * Everything here runs in NATS subscription callbacks, which share the actor's one connection:
   * a throw there stops nats.js reading from the socket (the actor goes deaf), so nothing a
   * client sends may throw.
   */
  async #onOpen(msg: Msg): Promise<void> {
    let req: OpenRequest;
    try {
      req = decodeJson<OpenRequest>(msg.data);
      if (typeof req !== "object" || req === null) throw new Error("not a JSON object");
      if (!isPublishSubject(req.output)) throw new Error(`output ${JSON.stringify(req.output)} is not a subject one can publish to`);
    } catch (e) {
      this.#reply(msg, { ok: false, error: `malformed attach request: ${(e as Error).message}` });
      return;
    }
    const { nc, cluster, target } = this.#o;
    const max = this.#o.maxSessions ?? MAX_SESSIONS;
    if (this.#sessions.size >= max) {
      const what = target.kind === "actor" ? `actor '${target.name}'` : `node '${target.id}'`;
      this.#reply(msg, {
        ok: false,
        error: `${what} already has ${max} attach sessions open: detach one (a session whose client vanished ends after ${Math.round((this.#o.idleMs ?? SESSION_IDLE_MS) / 1000)} s)`,
      });
      return;
    }
    const id = nuid.next();
    const subj = sessionSubjects(cluster, id);
    const { cols, rows } = clampSize(req.cols, req.rows);
    const session: Session = {
      id,
      subs: [],
      end: (reason) => {
        if (session.ended !== undefined) return;
        session.ended = reason;
        clearTimeout(session.idle);
        for (const s of session.subs) s.unsubscribe();
        this.#sessions.delete(id);
        session.out?.close();
        if (!nc.isClosed()) {
          const h = natsHeaders();
          h.set(END_HEADER, reason.replace(/[\r\n]+/g, " "));
          try {
            nc.publish(req.output, new Uint8Array(0), { headers: h });
          } catch {
            /* the connection is going away: the client's pings will notice */
          }
        }
        try {
          session.backend?.close();
        } catch {
          /* the terminal is already gone */
        }
      },
    };
    session.out = new OutputPump({
      publish: (b) => {
        if (!nc.isClosed()) nc.publish(req.output, b);
      },
      window: req.flow === true ? FLOW_WINDOW : Infinity,
      failed: (e) => queueMicrotask(() => session.end(`terminal output could not be sent: ${e.message}`)),
      pause: () => session.backend?.pause?.(),
      resume: () => session.backend?.resume?.(),
    });
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
        term: typeof req.term === "string" && /^[\w.+-]{1,64}$/.test(req.term) ? req.term : "xterm-256color",
        send: (d) => session.out?.push(typeof d === "string" ? enc.encode(d) : d),
        end: (reason) => session.end(reason),
      });
      session.backend = made.backend;
      banner = made.banner;
    } catch (e) {
      session.out.close();
      this.#reply(msg, { ok: false, error: `could not open the terminal: ${(e as Error).message}` });
      return;
    }
    this.#sessions.set(id, session);
    session.subs.push(
      nc.subscribe(subj.input, {
        callback: (err, m) => {
          if (err || session.ended !== undefined) return;
          touch();
          try {
            session.backend?.write(m.data);
          } catch (e) {
            session.end(`the terminal refused input: ${(e as Error).message}`);
          }
        },
      }),
      nc.subscribe(subj.control, { callback: (err, m) => void (err || this.#onControl(session, m, touch)) }),
    );
    touch();
    // The client may type the moment it has the reply: be subscribed before answering.
    await nc.flush();
    if (session.ended !== undefined) {
      this.#reply(msg, { ok: false, error: `the terminal ended at once: ${session.ended}` });
      return;
    }
    this.#reply(msg, { ok: true, session: id, input: subj.input, control: subj.control, banner });
  }

  #onControl(session: Session, m: Msg, touch: () => void): void {
    if (session.ended !== undefined) return;
    const c = parseControl(m.data);
    if (!c) return; // not a control message this version knows: ignored, and not proof of a live client
    touch();
    try {
      if (c.t === "ping") m.respond(encodeJson({ ok: true }));
      else if (c.t === "ack") session.out?.ack(c.bytes);
      else if (c.t === "resize") session.backend?.resize(c.cols, c.rows);
      else if (c.t === "detach") session.end("detached");
    } catch (e) {
      session.end(`control '${c.t}' failed: ${(e as Error).message}`);
    }
  }
}

/**
 * Carries a session's output to the client. Terminal output arrives as many tiny writes (a
 * prompt, an escape sequence, a character): writes in the same turn of the event loop go out
 * together, cut into messages of at most MAX_OUTPUT_MESSAGE bytes (one write may be larger
 * than the server's max_payload, and nats.js throws on those). With flow control, at most
 * `window` bytes are unacknowledged; beyond that the backend is asked to pause, and output it
 * produces anyway is held up to MAX_QUEUED_OUTPUT bytes and the rest dropped with a notice.
 */
class OutputPump {
  #parts: Uint8Array[] = [];
  #queued = 0;
  #dropped = 0;
  #sent = 0;
  #acked = 0;
  #scheduled = false;
  #paused = false;
  #closed = false;

  constructor(
    private readonly o: {
      publish(b: Uint8Array): void;
      window: number;
      failed(e: Error): void;
      pause(): void;
      resume(): void;
    },
  ) {}

  push(b: Uint8Array): void {
    if (b.length === 0 || this.#closed) return;
    const room = MAX_QUEUED_OUTPUT - this.#queued;
    if (b.length > room) {
      this.#dropped += b.length - Math.max(room, 0);
      b = b.subarray(0, Math.max(room, 0));
    }
    if (b.length > 0) {
      this.#parts.push(b);
      this.#queued += b.length;
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** The client has received `total` bytes in all. */
  ack(total: number): void {
    this.#acked = Math.max(this.#acked, Math.min(total, this.#sent));
    this.flush();
  }

  flush(ignoreWindow = false): void {
    this.#scheduled = false;
    try {
      while (this.#queued > 0 && (ignoreWindow || this.#sent - this.#acked < this.o.window)) this.#send(this.#take(MAX_OUTPUT_MESSAGE));
      if (this.#queued === 0 && this.#dropped > 0) {
        const notice = `\r\n[azr attach: ${this.#dropped} bytes of output dropped: the client could not keep up]\r\n`;
        this.#dropped = 0;
        this.#send(enc.encode(notice));
      }
    } catch (e) {
      this.#closed = true;
      this.#parts = [];
      this.#queued = 0;
      this.o.failed(e as Error);
      return;
    }
    const behind = this.#queued > 0 || this.#sent - this.#acked >= this.o.window;
    if (behind !== this.#paused && !this.#closed) {
      this.#paused = behind;
      if (behind) this.o.pause();
      else this.o.resume();
    }
  }

  /** Sends what is held (the end marker follows); later output is ignored. */
  close(): void {
    if (this.#closed) return;
    this.flush(true);
    this.#closed = true;
  }

  #take(max: number): Uint8Array {
    const out: Uint8Array[] = [];
    let n = 0;
    while (n < max && this.#parts.length > 0) {
      const p = this.#parts[0];
      const k = Math.min(p.length, max - n);
      out.push(k === p.length ? p : p.subarray(0, k));
      if (k === p.length) this.#parts.shift();
      else this.#parts[0] = p.subarray(k);
      n += k;
    }
    this.#queued -= n;
    return out.length === 1 ? out[0] : Buffer.concat(out, n);
  }

  #send(b: Uint8Array): void {
    this.o.publish(b);
    this.#sent += b.length;
  }
}
