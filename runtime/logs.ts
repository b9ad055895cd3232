/**
 * Per-actor logs. Covers: splitting a child's stdout/stderr into lines, prefixing each with the
 * actor's name, appending it with its ISO time to `<runDir>/logs/<actor>.log`, publishing it on
 * `azr.<cluster>.logs.<actor>` (what `azr logs` follows), optionally echoing it; and following
 * that subject. Not: log retention (the file grows for the run; the subject keeps no history).
 */
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { NatsConnection } from "@nats-io/nats-core";
import { decode, encode } from "./codec.ts";
import { subjects } from "./names.ts";

export interface LogLine {
  actor: string;
  stream: "stdout" | "stderr";
  line: string;
  at: number;
}

export class ActorLog {
  readonly file: string;
  readonly #out: WriteStream;

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
  }

  /** Reads `src` line by line until it ends (a partial last line is flushed at the end). */
  pipe(src: Readable, stream: LogLine["stream"]): void {
    let rest = "";
    src.setEncoding("utf8");
    src.on("data", (chunk: string) => {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      for (const p of parts) this.write(stream, p);
    });
    src.on("end", () => {
      if (rest) this.write(stream, rest);
      rest = "";
    });
  }

  write(stream: LogLine["stream"], line: string): void {
    const at = Date.now();
    const text = `[${this.actor}] ${line}`;
    // The file's lines carry their time so `azr logs --since` can filter past lines.
    this.#out.write(`${new Date(at).toISOString()} ${text}\n`);
    if (this.echo) (stream === "stderr" ? process.stderr : process.stdout).write(text + "\n");
    if (!this.nc.isClosed()) {
      const l: LogLine = { actor: this.actor, stream, line, at };
      this.nc.publish(subjects(this.cluster).logs(this.actor), encode(l));
    }
  }

  close(): Promise<void> {
    return new Promise((r) => this.#out.end(r));
  }
}

/** Follows live log lines of one actor (or `*` for all) until `signal` aborts; subscribes at once. */
export function followLogs(nc: NatsConnection, cluster: string, actor = "*", signal?: AbortSignal): AsyncGenerator<LogLine> {
  const sub = nc.subscribe(subjects(cluster).logs(actor));
  const stop = () => sub.unsubscribe();
  signal?.addEventListener("abort", stop, { once: true });
  return (async function* () {
    try {
      for await (const m of sub) {
        try {
          yield decode<LogLine>(m.data);
        } catch {
          /* not a log line */
        }
      }
    } finally {
      signal?.removeEventListener("abort", stop);
      sub.unsubscribe();
    }
  })();
}
