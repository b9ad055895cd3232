/**
 * The run's web view: a small node:http server that serves one plain HTML page (cli/web/
 * index.html + app.js, no build step) and the JSON it polls. `azr web <run-dir>` starts it
 * alone; `azr selfplay --web` calls `startWebView` with its own cluster.
 *
 * Endpoints:
 *   GET /               the page
 *   GET /app.js         its script
 *   GET /app.css        its styles
 *   GET /favicon.ico    204 (there is none; answered so no browser logs a 404)
 *   GET /api/top        the `azr top` snapshot (actors with call and process figures, NATS figures, nodes)
 *   GET /api/metrics?from=N   metrics.jsonl lines N.. as {steps, next, generation}: step, time, groups, train, seconds
 *   GET /api/samples    the latest step's proposed tasks with their verdicts
 * Covers: serving, reading metrics.jsonl incrementally (a half-written last line waits for the
 * next poll), caching the top snapshot so many open pages cost one reading per second. Not:
 * authentication — it listens on 127.0.0.1 unless told otherwise (and then answers loopback Host
 * names only, against DNS rebinding); reach it over an SSH tunnel.
 *
 * Every answer carries a strict Content-Security-Policy (SECURITY_HEADERS): the page loads only
 * its own script and styles from this server and fetches only from it, so text from the run (a
 * program a model proposed, an error message) that ever reached the DOM as markup could not run
 * script or send data elsewhere; it may not be framed (clickjacking) nor sniffed as another type.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Cluster } from "../../runtime/index.ts";
import { readServerFile } from "../../runtime/monitor-server-file.ts";
import { readNatsFigures } from "../../runtime/monitor.ts";
import { watchConnection } from "../commands/run-connection.ts";
import { collectTop, RegistryView, type TopSnapshot } from "../commands/top.ts";

export interface WebViewOptions {
  /** The run folder holding metrics.jsonl. */
  runDir: string;
  /** The live cluster; without it the page shows the metrics only. */
  cluster?: Cluster;
  /** nats-server monitoring URL; default: NATS_MONITOR_URL, else the embedded server's from nats.json. */
  monitorUrl?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: any free port (read `url`). */
  port?: number;
}

export interface WebView {
  url: string;
  close(): Promise<void>;
}

export const TOP_CACHE_MS = 900;
/** NATS rates span at most this long: an older last reading (no page polled meanwhile) is replaced by a fresh one 250 ms before. */
export const RATE_WINDOW_MS = 5_000;
const STATIC = fileURLToPath(new URL(".", import.meta.url));
const PAGES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/index.html": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/app.css": { file: "app.css", type: "text/css; charset=utf-8" },
};

/**
 * On every answer. The page has no inline script or style, no eval, no data: URLs (app.js sets
 * colours through the CSSOM, which style-src does not govern), so nothing needs 'unsafe-*'.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY", // frame-ancestors' older spelling, for browsers without CSP level 2
  "referrer-policy": "no-referrer",
};

/** One metrics.jsonl line as the charts need it (samples are served separately: they are large). */
export interface StepPoint {
  step: number;
  time?: string;
  groups: Record<string, Record<string, unknown>>;
  train: Record<string, unknown> | null;
  seconds: Record<string, number>;
  /** In-training evaluation scores, on the steps that ran one. */
  eval?: { benchmarks: Record<string, { accuracy: number; n: number }> };
  /** Why the step's in-training evaluation failed (training went on without its scores). */
  evalError?: string;
}

/** A line longer than this is not a step's (12 samples are kilobytes): answered as an empty step, not read. */
const MAX_LINE_BYTES = 64 * 2 ** 20;
const CHUNK_BYTES = 2 ** 20;
const MARK_BYTES = 128;

/**
 * Where each complete line of metrics.jsonl starts, kept between polls so that a poll reads only
 * what was appended since: reading the whole file each time (twice per poll, per open page, in
 * the driver's process under `selfplay --web`) grew with the run, and a file past V8's 512 MiB
 * string limit could not be read at all (every endpoint answered 500).
 */
export class MetricsFile {
  /** Byte offset of each non-empty complete line, and (last) just past the last one's newline. */
  #starts: number[] = [];
  #end = 0;
  #ino = -1;
  /** The first bytes of the last indexed line (its time and step): other bytes there mean the file was rewritten. */
  #mark = "";
  /** Counts the times the file was found rewritten: a page that read the old one reads it again from line 0. */
  generation = 0;
  constructor(readonly file: string) {}

  #lastLineMark(fd: number): string {
    const last = this.#starts.at(-1);
    return last === undefined ? "" : readRange(fd, last, Math.min(last + MARK_BYTES, this.#end));
  }

  /**
   * Indexes what was appended; starts over when the file was replaced or rewritten (a resume
   * rewrites it with the lines up to its checkpoint, and it may have grown past the old size
   * again by the time it is read: hence the mark, not only the size).
   */
  #scan(fd: number): void {
    const st = fstatSync(fd);
    const rewritten = st.ino !== this.#ino || st.size < this.#end || this.#lastLineMark(fd) !== this.#mark;
    if (rewritten) {
      if (this.#end > 0) this.generation++;
      [this.#starts, this.#end, this.#ino] = [[], 0, st.ino];
    }
    const buf = Buffer.alloc(CHUNK_BYTES);
    let lineStart = this.#end;
    for (let pos = this.#end; pos < st.size; ) {
      const n = readSync(fd, buf, 0, Math.min(CHUNK_BYTES, st.size - pos), pos);
      if (n <= 0) break;
      for (let i = buf.indexOf(0x0a); i !== -1 && i < n; i = buf.indexOf(0x0a, i + 1)) {
        if (pos + i > lineStart) this.#starts.push(lineStart); // blank lines are not numbered
        lineStart = pos + i + 1;
        this.#end = lineStart;
      }
      pos += n;
    }
    this.#mark = this.#lastLineMark(fd);
  }

  /** Lines `from`.. (negative: from the end) as objects; stops before a last line that is still being written. */
  read(from: number): { lines: Record<string, unknown>[]; next: number } {
    let fd: number;
    try {
      fd = openSync(this.file, "r");
    } catch {
      if (this.#end > 0) this.generation++;
      [this.#starts, this.#end, this.#ino, this.#mark] = [[], 0, -1, ""];
      return { lines: [], next: 0 };
    }
    try {
      this.#scan(fd);
      const count = this.#starts.length;
      const lines: Record<string, unknown>[] = [];
      for (let i = from < 0 ? Math.max(0, count + from) : from; i < count; i++) {
        const start = this.#starts[i];
        const end = (i + 1 < count ? this.#starts[i + 1] : this.#end) - 1; // before the newline
        lines.push(end - start > MAX_LINE_BYTES ? {} : parseLine(readRange(fd, start, end)));
      }
      return { lines, next: count };
    } finally {
      closeSync(fd);
    }
  }
}

function readRange(fd: number, start: number, end: number): string {
  const buf = Buffer.alloc(end - start);
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, start + got);
    if (n <= 0) break;
    got += n;
  }
  return buf.toString("utf8", 0, got);
}

function parseLine(l: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(l);
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {}; // `null`, `3`: not a step
  } catch {
    return {}; // keep numbering aligned with the file
  }
}

function toPoint(l: Record<string, unknown>): StepPoint {
  return {
    step: typeof l.step === "number" ? l.step : NaN,
    time: typeof l.time === "string" ? l.time : undefined,
    groups: (l.groups ?? {}) as StepPoint["groups"],
    train: (l.train ?? null) as StepPoint["train"],
    seconds: (l.seconds ?? {}) as StepPoint["seconds"],
    eval: (l.eval ?? undefined) as StepPoint["eval"],
    evalError: typeof l.evalError === "string" ? l.evalError : undefined,
  };
}

/** The Host header names this machine's loopback (any port): what a browser sends for http://127.0.0.1:port or localhost. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  try {
    return ["localhost", "127.0.0.1", "[::1]"].includes(new URL(`http://${host}`).hostname);
  } catch {
    return false;
  }
}

function send(res: ServerResponse, status: number, body: string | Buffer, type = "application/json; charset=utf-8"): void {
  res.writeHead(status, { ...SECURITY_HEADERS, "content-type": type, "cache-control": "no-store" });
  res.end(body);
}

export async function startWebView(o: WebViewOptions): Promise<WebView> {
  const metricsFile = join(o.runDir, "metrics.jsonl");
  const metrics = new MetricsFile(metricsFile);
  const monitorUrl =
    o.monitorUrl ??
    process.env.NATS_MONITOR_URL ??
    (o.cluster ? readServerFile(o.cluster.runDir)?.monitorUrl : undefined) ??
    readServerFile(o.runDir)?.monitorUrl ??
    "";
  let top: { at: number; snap?: TopSnapshot; pending?: Promise<TopSnapshot> } = { at: 0 };
  const registry = o.cluster ? await RegistryView.start(o.cluster) : undefined;
  // A lost connection (a NATS restart) or an ended run is said on the page, not shown as stale live figures.
  const watch = o.cluster ? watchConnection({ cluster: o.cluster, runDir: o.runDir, serverPid: readServerFile(o.runDir)?.pid }, () => {}) : undefined;

  const readTop = async (): Promise<TopSnapshot | { error: string }> => {
    if (!o.cluster) return { error: "no live cluster: this web view shows the run folder only" };
    if (watch?.state.ended) return { error: `${watch.state.ended}; the curves below are the run folder's` };
    if (watch?.state.down) return { error: `lost the connection to NATS at ${watch.state.down.server} at ${new Date(watch.state.down.since).toISOString()}; reconnecting` };
    if (top.snap && Date.now() - top.at < TOP_CACHE_MS) return top.snap;
    // One reading at a time however many pages poll.
    top.pending ??= (async () => {
      let prev = top.snap;
      if (!prev?.nats.figures || Date.now() - prev.nats.figures.at > RATE_WINDOW_MS) {
        // Rates over the gap since the last poll (minutes, with the tab in the background) would be an average, not the current rate.
        const figures = await readNatsFigures(monitorUrl).catch(() => undefined);
        if (figures) await new Promise((r) => setTimeout(r, 250));
        prev = figures && ({ nats: { monitorUrl, figures } } as TopSnapshot);
      }
      return collectTop(o.cluster!, monitorUrl, prev, registry);
    })().finally(() => (top.pending = undefined));
    const snap = await top.pending;
    top = { at: Date.now(), snap };
    return snap;
  };

  const host0 = o.host ?? "127.0.0.1";
  const loopbackOnly = ["127.0.0.1", "::1", "localhost"].includes(host0);
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (req.method !== "GET") return send(res, 405, JSON.stringify({ error: "GET only" }));
    // DNS rebinding: a web page the user visits can point its own name at 127.0.0.1 and read this
    // server's answers from the user's browser; a loopback-only server answers loopback names only.
    if (loopbackOnly && !isLoopbackHost(req.headers.host))
      return send(res, 403, JSON.stringify({ error: `host ${JSON.stringify(req.headers.host ?? "")} refused: this web view answers http://127.0.0.1 or http://localhost (start it with --host to serve other names)` }));
    const page = PAGES[url.pathname];
    if (page) return send(res, 200, readFileSync(join(STATIC, page.file)), page.type);
    if (url.pathname === "/favicon.ico") return send(res, 204, "", "image/x-icon");
    if (url.pathname === "/api/top") return send(res, 200, JSON.stringify(await readTop()));
    if (url.pathname === "/api/metrics") {
      const from = Math.max(0, Number(url.searchParams.get("from") ?? 0) || 0);
      const { lines, next } = metrics.read(from);
      return send(res, 200, JSON.stringify({ runDir: o.runDir, steps: lines.map(toPoint), next, generation: metrics.generation }));
    }
    if (url.pathname === "/api/samples") {
      const { lines } = metrics.read(-1); // the last line alone: a long run's file is large, and every line has its samples
      const last = lines.at(-1);
      const mtime = existsSync(metricsFile) ? statSync(metricsFile).mtimeMs : null;
      return send(res, 200, JSON.stringify({ step: last?.step ?? null, samples: (last?.samples as unknown[]) ?? [], updatedAt: mtime }));
    }
    send(res, 404, JSON.stringify({ error: `no such page: ${url.pathname}` }));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: Error) => {
      if (!res.headersSent) send(res, 500, JSON.stringify({ error: e.message }));
      else res.destroy(e);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(new Error(`the web view cannot listen on ${host0}:${o.port ?? 0} (${e.code ?? e.message}): pass another --port, or --port 0 for any free one`, { cause: e })),
    );
    server.listen(o.port ?? 0, host0, () => resolve());
  }).catch((e: Error) => {
    watch?.stop();
    registry?.stop();
    throw e;
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}/`,
    close: () =>
      new Promise<void>((r) => {
        watch?.stop();
        registry?.stop();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
