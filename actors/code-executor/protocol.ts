/**
 * The Node ↔ Python worker wire: a 4-byte big-endian length, then one msgpack map.
 *
 * Covers: encoding a frame, reassembling frames from arbitrary pipe chunks, the message shapes
 * both sides exchange. Not: what the observations mean (see verdicts.ts) or process control
 * (see worker-process.ts).
 */
import { Decoder, Encoder } from "@msgpack/msgpack";

/** Frames above this are a broken or hostile worker, not a result: the worker is replaced. */
export const MAX_FRAME_BYTES = 64 << 20;

// One of each for the process: the free functions build a new Encoder (and its 2 KiB buffer) or
// Decoder per frame. Both are re-entrant (a nested call clones), and a frame is copied out of
// the shared encode buffer before anything else can encode.
const encoder = new Encoder();
const decoder = new Decoder();

export function encodeFrame(msg: unknown): Buffer {
  const body = encoder.encodeSharedRef(msg);
  const frame = Buffer.allocUnsafe(4 + body.byteLength);
  frame.writeUInt32BE(body.byteLength, 0);
  frame.set(body, 4);
  return frame;
}

export class FrameError extends Error {
  override name = "FrameError";
}

/** Accumulates pipe chunks; `push` returns the complete messages they finish. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): unknown[] {
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
    const out: unknown[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      const head = this.chunks.length === 1 ? this.chunks[0] : this.flatten();
      const n = head.readUInt32BE(0);
      if (n > MAX_FRAME_BYTES) throw new FrameError(`frame of ${n} bytes exceeds ${MAX_FRAME_BYTES}`);
      if (this.buffered < 4 + n) break;
      out.push(decoder.decode(head.subarray(4, 4 + n)));
      const rest = head.subarray(4 + n);
      this.chunks = rest.byteLength ? [rest] : [];
      this.buffered = rest.byteLength;
    }
    return out;
  }

  private flatten(): Buffer {
    const all = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [all];
    return all;
  }
}

/** One unit of work for a worker: load `code`, call `f` on each argument list `runs` times. */
export interface Job {
  id: number;
  code: string;
  /** Literal argument-list texts, already validated by the trusted parser. */
  calls: string[];
  /** Calls per argument list on freshly built arguments (2 = the determinism check). */
  runs: number;
  /** Banned-word entries (azr-spec §5.3 check 2); empty skips the check. */
  banned: readonly string[];
  maxOutputChars: number;
  timeoutMs: number;
  /** Run in a fresh child forked by the worker instead of in the worker's own process. */
  strict: boolean;
  /** Import lines run before `code` and exempt from the ban check (induction answers, §6.2). */
  prelude?: string;
}

export type Stage =
  | "ok" | "syntax" | "banned" | "input" | "no-f" | "arity" | "error" | "memory"
  | "timeout" | "crash" | "threads";

/** One call's result as the worker saw it: a capped repr of a literal, or the culprit type. */
export interface CallOutput {
  literal: boolean;
  repr?: string;
  /** Full repr length (the repr itself is cut at maxOutputChars + 1). */
  len?: number;
  type?: Uint8Array | string;
}

/** What a worker reports for one job. Untrusted: it came out of the sandbox. */
export interface Observation {
  id: number;
  stage: Stage;
  error?: { type: Uint8Array | string; message: Uint8Array | string };
  banned?: string;
  /** outputs[call][run] */
  outputs?: CallOutput[][];
  /** What the task printed (capped), absent when it printed nothing; stdoutLen is the full length. */
  stdout?: Uint8Array;
  stderr?: Uint8Array;
  stdoutLen?: number;
  wallMs?: number;
  signal?: number;
  exitCode?: number;
  retire?: string;
}

export interface ReadyMessage {
  t: "ready";
  pid: number;
  uid: number;
  limits: { as?: number; nproc?: number; cpu?: boolean; as_error?: string; nproc_error?: string };
  python: string;
  hashSeed: string | null;
}

export type WorkerMessage = ReadyMessage | { t: "result"; r: Observation } | { t: "fatal"; why: string };

const utf8 = new TextDecoder("utf-8", { fatal: false });

/** Text of a field the worker may send as bytes (untrusted strings are encoded in the sandbox). */
export function text(x: Uint8Array | string | undefined): string {
  if (x === undefined) return "";
  return typeof x === "string" ? x : utf8.decode(x);
}
