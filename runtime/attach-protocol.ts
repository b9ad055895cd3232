/**
 * The attach protocol: a terminal session (a REPL inside an actor, or a shell on a node) carried
 * over the cluster's NATS connection, so only clients holding the cluster's credentials can
 * open one. Covers: subjects, the open request/reply, control messages, the end marker, and
 * timing constants shared by both sides. Not: either side's behaviour (attach-server.ts,
 * attach-client.ts).
 *
 * One session:
 *   client → `azr.<c>.attach.actor.<name>` (or `.node.<id>`)  request  OpenRequest (JSON)
 *   server → reply                                                      OpenReply (JSON)
 *   client → OpenReply.input       raw terminal bytes (keys, pasted text)
 *   client → OpenReply.control     Control (JSON); `ping` is a request the server answers
 *   server → OpenRequest.output    raw terminal bytes; a message with header END_HEADER ends it
 * The server drops a session that sent nothing (not even a ping) for SESSION_IDLE_MS, so a
 * client killed without detaching leaves nothing behind; the client ends the session when a
 * ping finds no server (the actor's process ended).
 *
 * Flow control (OpenRequest.flow): the client acks the output bytes it has received (control
 * `ack`, a running total); the server keeps at most FLOW_WINDOW bytes unacknowledged, pauses a
 * backend that can pause (the shell's pty, so `yes` blocks as it would over ssh) and holds at
 * most MAX_QUEUED_OUTPUT bytes of a backend that cannot (a REPL printing 50 MB), dropping the
 * rest with a notice. Without it a fast producer fills the actor's memory and CPU with output
 * and gets the client cut off by the NATS server as a slow consumer.
 */

export const ATTACH_PING_MS = 5_000;
export const SESSION_IDLE_MS = 30_000;
export const OPEN_TIMEOUT_MS = 5_000;
export const FLOW_WINDOW = 1 << 20;
/** The client acks after this many new bytes; well under FLOW_WINDOW so the window reopens. */
export const FLOW_ACK_EVERY = 64 << 10;
export const MAX_QUEUED_OUTPUT = 4 << 20;
/** One output message at most; smaller than max_payload keeps a busy terminal interactive. */
export const MAX_OUTPUT_MESSAGE = 64 << 10;
/** Open sessions per server; each REPL session holds a context, each shell a pty. */
export const MAX_SESSIONS = 16;
/** On an output message, says the session ended; its value is the reason. */
export const END_HEADER = "Azr-Attach-End";

export type AttachTarget = { kind: "actor"; name: string } | { kind: "node"; id: string };

export interface OpenRequest {
  /** Subject the server publishes the terminal's output on (the client's inbox). */
  output: string;
  cols: number;
  rows: number;
  /** The client's terminal renders ANSI colours. */
  colors: boolean;
  /** TERM for shells, e.g. xterm-256color. */
  term?: string;
  /** The client acks output (control `ack`); the server then applies flow control. */
  flow?: boolean;
}

export type OpenReply = { ok: true; session: string; input: string; control: string; banner: string } | { ok: false; error: string };

export type Control = { t: "resize"; cols: number; rows: number } | { t: "ping" } | { t: "detach" } | { t: "ack"; bytes: number };

/** A control message from the wire, or undefined for anything else (another version, garbage, hostile). */
export function parseControl(data: Uint8Array): Control | undefined {
  let v: unknown;
  try {
    v = decodeJson<unknown>(data);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const c = v as Record<string, unknown>;
  switch (c.t) {
    case "ping":
    case "detach":
      return { t: c.t };
    case "resize":
      return { t: "resize", ...clampSize(c.cols, c.rows) };
    case "ack":
      return typeof c.bytes === "number" && Number.isFinite(c.bytes) && c.bytes >= 0 ? { t: "ack", bytes: c.bytes } : undefined;
    default:
      return undefined;
  }
}

/**
 * Whether `s` is a subject one may publish to: dot-separated non-empty tokens, no wildcards, no
 * whitespace. nats.js throws on publish to anything else, and a throw there would end the
 * serving process.
 */
export function isPublishSubject(s: unknown): s is string {
  if (typeof s !== "string" || s.length === 0 || s.length > 1024) return false;
  return s.split(".").every((tok) => tok.length > 0 && tok !== "*" && tok !== ">" && !/[\s\x00-\x1f\x7f]/.test(tok));
}

export function attachSubject(cluster: string, target: AttachTarget): string {
  return target.kind === "actor" ? `azr.${cluster}.attach.actor.${target.name}` : `azr.${cluster}.attach.node.${target.id}`;
}

export function sessionSubjects(cluster: string, session: string): { input: string; control: string } {
  return { input: `azr.${cluster}.attach.s.${session}.in`, control: `azr.${cluster}.attach.s.${session}.ctl` };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeJson(v: unknown): Uint8Array {
  return enc.encode(JSON.stringify(v));
}

export function decodeJson<T>(b: Uint8Array): T {
  return JSON.parse(dec.decode(b)) as T;
}

/** Terminal size bounds; a hostile or broken client cannot make the server allocate huge screens. */
export function clampSize(cols: unknown, rows: unknown): { cols: number; rows: number } {
  const c = typeof cols === "number" && Number.isFinite(cols) ? Math.round(cols) : 80;
  const r = typeof rows === "number" && Number.isFinite(rows) ? Math.round(rows) : 24;
  return { cols: Math.min(Math.max(c, 10), 1000), rows: Math.min(Math.max(r, 2), 500) };
}
