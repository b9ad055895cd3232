/**
 * Starts one Python engine worker and talks to it over its stdin/stdout with msgpack frames.
 * Covers: request ids, unary calls and streams (`item`… `end`), cancel of a stream by AbortSignal,
 * Python exceptions re-thrown as `TorchWorkerError` with the traceback, worker death failing every
 * pending call with `TorchWorkerDiedError` (never a hang), the fatal start-up line
 * (`AZR_WORKER_FATAL`) turned into `TorchUnavailableError`, a bounded stderr tail for diagnostics.
 * Not: retries or restarts (the actor's supervisor restarts a dead actor), concurrency inside the
 * worker (it runs calls in arrival order).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { encodeFrame, FrameReader } from "./frames.ts";
import { TorchUnavailableError, TorchWorkerDiedError, TorchWorkerError } from "./errors.ts";

/** Folder holding the `azr_torch` Python package. */
export const PYTHON_PACKAGE_ROOT = fileURLToPath(new URL(".", import.meta.url));
const STDERR_TAIL_BYTES = 16 * 1024;
const FATAL_PREFIX = "AZR_WORKER_FATAL ";

export interface WorkerClientOptions {
  python: string;
  env?: NodeJS.ProcessEnv;
  /** Called with each chunk of the worker's stderr (its logs and warnings); the tail is kept regardless. */
  onStderr?: (text: string) => void;
}

/** The worker's CUDA memory after a call (torch's caching allocator, its current device). */
export interface WorkerDeviceMemory {
  /** Peak bytes reserved from the device: what no other process can have. */
  peakReserved: number;
  /** Peak bytes held by live tensors. */
  peakAllocated: number;
}

interface Reply {
  id: number;
  ok?: unknown;
  item?: unknown;
  end?: boolean;
  error?: { type: string; message: string; traceback: string };
  /** On a call's last frame, when the worker has initialised CUDA. */
  mem?: WorkerDeviceMemory;
}

interface Pending {
  method: string;
  onItem?: (v: unknown) => void;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class WorkerClient {
  readonly #child: ChildProcess;
  readonly #python: string;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #stderrTail = "";
  #dead: Error | null = null;
  #deviceMemory: WorkerDeviceMemory | undefined;
  readonly #exited: Promise<void>;

  constructor(opts: WorkerClientOptions) {
    this.#python = opts.python;
    const env = { ...process.env, ...opts.env };
    env.PYTHONPATH = [PYTHON_PACKAGE_ROOT, env.PYTHONPATH].filter(Boolean).join(":");
    env.PYTHONUNBUFFERED = "1";
    this.#child = spawn(opts.python, ["-m", "azr_torch.worker"], { env, stdio: ["pipe", "pipe", "pipe"] });
    const reader = new FrameReader();
    this.#child.stdout!.on("data", (chunk: Buffer) => {
      for (const msg of reader.push(chunk)) this.#dispatch(msg as Reply);
    });
    this.#child.stderr!.on("data", (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      this.#stderrTail = (this.#stderrTail + text).slice(-STDERR_TAIL_BYTES);
      opts.onStderr?.(text);
    });
    // a write to a worker that just died must not crash the host: the exit handler reports it
    this.#child.stdin!.on("error", () => {});
    this.#exited = new Promise((resolve) => {
      this.#child.once("error", (err: NodeJS.ErrnoException) => {
        this.#fail((method) => err.code === "ENOENT"
          ? new TorchUnavailableError(`cannot start the engine worker: ${opts.python} not found; install python3 or set AZR_PYTHON`, opts.python, { cause: err })
          : new TorchWorkerDiedError(method, null, null, err.message, { cause: err }));
        resolve();
      });
      // "close" comes after exit *and* the end of stderr, so the tail holds the worker's last words
      this.#child.once("close", (code, signal) => {
        this.#fail((method) => this.#deathError(method, code, signal));
        resolve();
      });
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get alive(): boolean {
    return this.#dead === null;
  }

  /** CUDA memory as of the last call that finished; undefined on a CPU worker (or before its first call). */
  get deviceMemory(): WorkerDeviceMemory | undefined {
    return this.#deviceMemory;
  }

  /** Resolves once the process is gone (never rejects). */
  exited(): Promise<void> {
    return this.#exited;
  }

  call<T>(method: string, args: unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#send(method, args, { method, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  /** A streaming call: items arrive as the worker sends them; `signal` cancels it in the worker. */
  async *stream<T>(method: string, args: unknown, signal?: AbortSignal): AsyncGenerator<T> {
    signal?.throwIfAborted();
    const items: T[] = [];
    let done = false;
    let failure: Error | null = null;
    let wake: (() => void) | null = null;
    const poke = () => { wake?.(); wake = null; };
    const id = this.#send(method, args, {
      method,
      onItem: (v) => { items.push(v as T); poke(); },
      resolve: () => { done = true; poke(); },
      reject: (e) => { failure = e; poke(); },
    });
    const onAbort = () => {
      this.#write({ cancel: id });
      failure ??= signal!.reason instanceof Error ? signal!.reason : new DOMException("generate aborted", "AbortError");
      poke();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        if (failure) throw failure;
        if (items.length) { yield items.shift()!; continue; }
        if (done) return;
        await new Promise<void>((r) => { wake = r; });
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      if (!done && !failure) this.#write({ cancel: id }); // the consumer stopped early: stop the work too
    }
  }

  /** Closes stdin (the worker exits its loop) and waits; kills it after `graceMs`. */
  async close(graceMs = 5000): Promise<void> {
    if (this.#dead === null) this.#child.stdin!.end();
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  #send(method: string, args: unknown, p: Pending): number {
    const id = this.#nextId++;
    if (this.#dead) {
      p.reject(this.#dead);
      return id;
    }
    this.#pending.set(id, p);
    this.#write({ id, method, args });
    return id;
  }

  #write(msg: unknown): void {
    if (this.#dead || !this.#child.stdin!.writable) return;
    this.#child.stdin!.write(encodeFrame(msg));
  }

  #dispatch(r: Reply): void {
    const p = this.#pending.get(r.id);
    if (!p) return; // a late item of a cancelled stream
    if (r.item !== undefined) return p.onItem?.(r.item);
    this.#pending.delete(r.id);
    if (isDeviceMemory(r.mem)) this.#deviceMemory = r.mem;
    if (!r.error) return p.resolve(r.ok);
    const raised = new TorchWorkerError(p.method, r.error.type, r.error.message, r.error.traceback);
    // the engine's own "this torch cannot do that" (e.g. CUDA asked of a CPU-only build) is not a bug in the call
    p.reject(r.error.type === "TorchUnavailable" ? new TorchUnavailableError(r.error.message, this.#python, { cause: raised }) : raised);
  }

  #deathError(method: string, code: number | null, signal: NodeJS.Signals | null): Error {
    const fatal = this.#stderrTail.split("\n").find((l) => l.startsWith(FATAL_PREFIX));
    if (fatal) {
      const { message } = JSON.parse(fatal.slice(FATAL_PREFIX.length)) as { type: string; message: string };
      return new TorchUnavailableError(message, this.#python);
    }
    return new TorchWorkerDiedError(method, code, signal, this.#stderrTail.trim().split("\n").slice(-20).join("\n"));
  }

  /** Marks the worker dead: each pending call gets an error naming its own method, later calls too. */
  #fail(make: (method: string) => Error): void {
    if (this.#dead) return;
    this.#dead = make("a call after the worker ended");
    for (const p of this.#pending.values()) p.reject(make(p.method));
    this.#pending.clear();
  }
}

function isDeviceMemory(m: unknown): m is WorkerDeviceMemory {
  const x = m as WorkerDeviceMemory | undefined;
  return typeof x?.peakReserved === "number" && typeof x.peakAllocated === "number";
}
