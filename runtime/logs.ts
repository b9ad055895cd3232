/**
 * Per-actor logs. Covers: splitting a child's stdout/stderr into lines, prefixing each with the
 * actor's name, appending it with its ISO time to `<runDir>/logs/<actor>.log`, publishing it on
 * `azr.<cluster>.logs.<actor>` (what `azr logs` follows), optionally echoing it; and following
 * that subject. Not: log retention (the file grows for the run; the subject keeps no history).
 *
 * Bounds, because this runs in the node agent, whose death takes every actor on the node with it:
 * a line is kept up to MAX_LINE_CHARS (the cut is said on the line), live lines up to
 * MAX_LIVE_LINES_PER_SEC per actor, the file's backlog up to MAX_FILE_BACKLOG; nothing here
 * throws, and whatever a bound leaves out is counted and said, live and in the file.
 */
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { NatsConnection } from "@nats-io/nats-core";
import { decode, encode } from "./codec.ts";
import { connectionDown } from "./connection.ts";
import { subjects } from "./names.ts";

export interface LogLine {
  actor: string;
  stream: "stdout" | "stderr";
  line: string;
  at: number;
}

/** A line longer than this (UTF-16 units) is cut, the rest counted: it must fit one NATS message and the agent's memory. */
export const MAX_LINE_CHARS = 16 * 1024;
/** Live lines per actor per second; beyond it lines still go to the file, and followers are told how many they missed. */
export const MAX_LIVE_LINES_PER_SEC = 1000;
/** Bytes waiting for the disk; beyond it lines are counted as lost rather than held in the agent's memory. */
export const MAX_FILE_BACKLOG = 8 * 1024 * 1024;

export class ActorLog {
  readonly file: string;
  readonly #out: WriteStream;
  #fileError?: Error;
  /** Lines the file did not get since the last notice (disk slower than the actor, or failed). */
  #fileDropped = 0;
  #liveWindowAt = 0;
  #liveInWindow = 0;
  /** Lines not published in the current window (over the rate, or the publish failed). */
  #liveDropped = 0;
  #liveNoticeTimer?: NodeJS.Timeout;

  constructor(
    private readonly nc: NatsConnection,
    private readonly cluster: string,
    readonly actor: string,
    runDir: string,
    private readonly echo: boolean,
  ) {
    const dir = join(runDir, "logs");
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, `${actor}.log`);
    this.#out = createWriteStream(this.file, { flags: "a" });
    // Without a listener a write error (disk full) would be an uncaught 'error' and kill the node
    // agent with every actor on it; the lines go on live, and the loss is said there and on stderr.
    this.#out.on("error", (e) => {
      if (this.#fileError) return;
      this.#fileError = e;
      const say = `azr: writing ${this.file} failed (${e.message}); this actor's lines from here on are only live (azr logs -f), not in the file`;
      console.warn(`[${this.actor}] ${say}`);
      this.#publish("stderr", say, Date.now());
    });
  }

  /**
   * Reads `src` line by line until it ends (a partial last line is flushed at the end). A line
   * over MAX_LINE_CHARS keeps its head and says how much was cut; the rest is never held.
   * `onLine` sees each line too (its kept head), for a reader that needs them besides the log.
   */
  pipe(src: Readable, stream: LogLine["stream"], onLine?: (line: string) => void): void {
    let rest = "";
    let cut = 0;
    src.setEncoding("utf8");
    src.on("data", (chunk: string) => {
      for (let from = 0; ; ) {
        const nl = chunk.indexOf("\n", from);
        const piece = nl < 0 ? chunk.slice(from) : chunk.slice(from, nl);
        const room = MAX_LINE_CHARS - rest.length;
        if (cut > 0 || piece.length > room) {
          cut += piece.length - Math.max(0, room);
          if (room > 0) rest += piece.slice(0, room);
        } else rest += piece;
        if (nl < 0) break;
        onLine?.(rest);
        this.#emit(stream, rest, cut);
        rest = "";
        cut = 0;
        from = nl + 1;
      }
    });
    src.on("end", () => {
      if (rest || cut) {
        onLine?.(rest);
        this.#emit(stream, rest, cut);
      }
      rest = "";
      cut = 0;
    });
  }

  #emit(stream: LogLine["stream"], line: string, cut: number): void {
    this.write(stream, cut > 0 ? `${line} [azr: ${cut} more characters of this line cut; lines are kept up to ${MAX_LINE_CHARS}]` : line);
  }

  write(stream: LogLine["stream"], line: string): void {
    if (line.length > MAX_LINE_CHARS + 200) line = `${line.slice(0, MAX_LINE_CHARS)} [azr: ${line.length - MAX_LINE_CHARS} more characters of this line cut; lines are kept up to ${MAX_LINE_CHARS}]`;
    const at = Date.now();
    const text = `[${this.actor}] ${line}`;
    this.#toFile(at, text);
    if (this.echo) (stream === "stderr" ? process.stderr : process.stdout).write(text + "\n");
    this.#live(stream, line, at);
  }

  /** The file's lines carry their time so `azr logs --since` can filter past lines. */
  #toFile(at: number, text: string): void {
    if (this.#fileError) return;
    if (this.#out.writableLength > MAX_FILE_BACKLOG) {
      this.#fileDropped++;
      return;
    }
    if (this.#fileDropped > 0) {
      this.#out.write(`${new Date(at).toISOString()} [${this.actor}] azr: ${this.#fileDropped} line(s) of this actor are missing here: the disk did not keep up (over ${MAX_FILE_BACKLOG} bytes waiting)\n`);
      this.#fileDropped = 0;
    }
    this.#out.write(`${new Date(at).toISOString()} ${text}\n`);
  }

  /** Publishes within the per-second budget; what is left out is counted and announced once the second is over. */
  #live(stream: LogLine["stream"], line: string, at: number): void {
    if (at - this.#liveWindowAt >= 1000) {
      this.#liveNotice();
      this.#liveWindowAt = at;
      this.#liveInWindow = 0;
    }
    if (this.#liveInWindow >= MAX_LIVE_LINES_PER_SEC) {
      this.#liveDropped++;
      this.#liveNoticeTimer ??= setTimeout(() => this.#liveNotice(), 1000).unref();
      return;
    }
    this.#liveInWindow++;
    if (!this.#publish(stream, line, at)) {
      this.#liveDropped++;
      // Said once NATS takes lines again, even if the actor prints nothing more.
      this.#liveNoticeTimer ??= setTimeout(() => this.#liveNotice(), 1000).unref();
    }
  }

  #liveNotice(): void {
    clearTimeout(this.#liveNoticeTimer);
    this.#liveNoticeTimer = undefined;
    if (this.#liveDropped === 0) return;
    if (connectionDown(this.nc) && !this.nc.isClosed()) {
      // The notice would be lost like the lines: keep counting, and say it once the connection is back.
      this.#liveNoticeTimer = setTimeout(() => this.#liveNotice(), 1000).unref();
      return;
    }
    const n = this.#liveDropped;
    this.#liveDropped = 0;
    const where = this.#fileError ? "they are lost (the log file failed too)" : `they are in ${this.file}`;
    this.#publish("stderr", `azr: ${n} line(s) of this actor were not sent live (over ${MAX_LIVE_LINES_PER_SEC} lines/s, the NATS connection was down, or NATS refused them); ${where}`, Date.now());
  }

  /** False when the line could not be handed to NATS; never throws (this runs in the node agent). */
  #publish(stream: LogLine["stream"], line: string, at: number): boolean {
    // While the server is gone a line would only queue in the client (which discards its queue at
    // each reconnect attempt) and take room from replies and spans; the file has it, so count it.
    if (this.nc.isClosed() || connectionDown(this.nc)) return false;
    try {
      const l: LogLine = { actor: this.actor, stream, line, at };
      this.nc.publish(subjects(this.cluster).logs(this.actor), encode(l));
      return true;
    } catch {
      return false; // draining, or a payload over the server's limit
    }
  }

  close(): Promise<void> {
    this.#liveNotice();
    clearTimeout(this.#liveNoticeTimer); // still down: the count goes with the log
    if (this.#fileError || this.#out.destroyed) return Promise.resolve();
    return new Promise((r) => this.#out.end(r));
  }
}

/**
 * Bytes of live lines a follower holds that its reader has not taken yet (`azr logs -f` piped to a
 * slow reader). Past it lines are dropped and counted; the follower is told how many, in order, as
 * a line of its own once the reader catches up.
 */
export const MAX_FOLLOW_PENDING_BYTES = 8 * 1024 * 1024;

/**
 * Follows live log lines of one actor (or `*` for all) until `signal` aborts; subscribes at once.
 * Lines the reader is too slow for (over `maxPendingBytes` waiting) are dropped, and a line
 * saying how many comes where they would have been.
 */
export function followLogs(nc: NatsConnection, cluster: string, actor = "*", signal?: AbortSignal, maxPendingBytes = MAX_FOLLOW_PENDING_BYTES): AsyncGenerator<LogLine> {
  // A line's bytes, or how many lines were dropped at that point of the stream.
  const queue: (Uint8Array | { dropped: number })[] = [];
  let queuedBytes = 0;
  let wake: (() => void) | undefined;
  let ended = false;
  // A callback, not the subscription's own iterator, whose queue has no bound.
  const sub = nc.subscribe(subjects(cluster).logs(actor), {
    callback: (_e, m) => {
      if (queuedBytes + m.data.length <= maxPendingBytes) {
        queue.push(m.data);
        queuedBytes += m.data.length;
      } else {
        const last = queue.at(-1);
        if (last && !(last instanceof Uint8Array)) last.dropped++;
        else queue.push({ dropped: 1 });
      }
      wake?.();
    },
  });
  const stop = () => {
    ended = true;
    sub.unsubscribe();
    wake?.();
  };
  signal?.addEventListener("abort", stop, { once: true });
  void sub.closed.then(stop, stop);
  const bound = maxPendingBytes >= 1024 * 1024 ? `${maxPendingBytes / (1024 * 1024)} MiB` : `${maxPendingBytes} bytes`;
  return (async function* () {
    try {
      while (!signal?.aborted) {
        const item = queue.shift();
        if (item === undefined) {
          if (ended) return;
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
        } else if (!(item instanceof Uint8Array)) {
          // Stands where the missing lines were.
          yield { actor, stream: "stderr", at: Date.now(), line: `azr: ${item.dropped} live line(s) dropped here: this follower read slower than they came (over ${bound} waiting); they are in the actors' logs/ files` } satisfies LogLine;
        } else {
          queuedBytes -= item.length;
          try {
            yield decode<LogLine>(item);
          } catch {
            /* not a log line */
          }
        }
      }
    } finally {
      signal?.removeEventListener("abort", stop);
      sub.unsubscribe();
    }
  })();
}
