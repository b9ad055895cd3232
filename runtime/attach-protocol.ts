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
 */

export const ATTACH_PING_MS = 5_000;
export const SESSION_IDLE_MS = 30_000;
export const OPEN_TIMEOUT_MS = 5_000;
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
}

export type OpenReply = { ok: true; session: string; input: string; control: string; banner: string } | { ok: false; error: string };

export type Control = { t: "resize"; cols: number; rows: number } | { t: "ping" } | { t: "detach" };

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
