/**
 * The REPL backend of attach: a `node:repl` server inside the actor's process with the live
 * instance in scope as `actor`. Covers: top-level await, tab completion, colours when the
 * client renders them, line history shared by the process's sessions (up-arrow finds what an
 * earlier session typed), Ctrl-C clearing the line or abandoning an awaited expression (the
 * actor's own work carries on), Ctrl-D / `.exit` ending the session, and interrupting an
 * evaluation that runs synchronously for longer than a limit (10 s, AZR_ATTACH_EVAL_LIMIT_MS;
 * see EvalGuard): code typed here runs on the actor's own event loop, where a remote Ctrl-C (a
 * byte on NATS) is not read while it runs, so `while (true) {}` would otherwise freeze the
 * actor until the node agent kills it for missing heartbeats. Each session has its own context,
 * so variables one person defines do not appear in another's. Not: the transport
 * (attach-server.ts); code that runs synchronously after an `await` (a later turn of the event
 * loop, not the evaluation: that still freezes the actor). Code typed here runs with the
 * actor's full authority: `process.exit()` ends the actor like any other code would.
 */
import { PassThrough, Writable } from "node:stream";
import repl, { type REPLEval, type REPLServer } from "node:repl";
import { Worker } from "node:worker_threads";
import { AttachServer, type BackendFactory } from "./attach-server.ts";
import type { NatsConnection } from "@nats-io/nats-core";

const HISTORY_SIZE = 1000;

/** Lines typed in any session of this process, newest first (readline's order). */
const sharedHistory: string[] = [];

/**
 * How long an evaluation may run synchronously before it is interrupted. The node agent takes
 * an actor whose heartbeats (every HEARTBEAT_MS = 1 s) stopped for DEFAULT_HANG_MS = 60 s for
 * hung, kills it and restarts it without its in-memory state; 10 s gives a deliberate heavy
 * computation room, stalls the actor's callers for at most that long, and stays far from the
 * 60 s (and from the attach session's own 30 s idle drop, SESSION_IDLE_MS).
 */
export const DEFAULT_EVAL_LIMIT_MS = 10_000;
/** Overrides DEFAULT_EVAL_LIMIT_MS for the actor processes an agent starts (tests use ~1 s). */
export const EVAL_LIMIT_ENV = "AZR_ATTACH_EVAL_LIMIT_MS";

export function evalLimitMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[EVAL_LIMIT_ENV];
  if (raw === undefined || raw === "") return DEFAULT_EVAL_LIMIT_MS;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms <= 0) throw new Error(`${EVAL_LIMIT_ENV}='${raw}': use a whole number of milliseconds above 0`);
  return ms;
}

/** Slots of the shared Int32Array. */
const RUNNING = 0; // id of the evaluation running (0: none; -id: the worker is interrupting it)
const SIGNALLED = 1; // id of the last evaluation the worker sent SIGINT for

// Plain JavaScript run with `eval` (no tsx loader in the worker, so it starts in milliseconds).
// It sleeps in Atomics.wait: nothing runs while no evaluation does.
const WATCHDOG = `
const { workerData } = require("node:worker_threads");
const { state, limitMs } = workerData;
for (;;) {
  Atomics.wait(state, ${RUNNING}, 0); // until an evaluation starts
  const id = Atomics.load(state, ${RUNNING});
  if (id < 0) { Atomics.wait(state, ${RUNNING}, id); continue; }
  if (id === 0 || Atomics.wait(state, ${RUNNING}, id, limitMs) !== "timed-out") continue; // it ended in time
  // Claim it; failing means the main thread ended it just now, when a SIGINT would find no watchdog.
  if (Atomics.compareExchange(state, ${RUNNING}, id, -id) !== id) continue;
  try { process.kill(process.pid, "SIGINT"); } finally {
    Atomics.store(state, ${SIGNALLED}, id); // the main thread waits for this once it has seen the claim
    Atomics.notify(state, ${SIGNALLED});
  }
  Atomics.wait(state, ${RUNNING}, -id); // until the main thread has seen it end
}
`;

/**
 * Interrupts REPL evaluations that run synchronously for longer than `limitMs`. The REPL runs
 * with `breakEvalOnSigint`: while it evaluates, a SIGINT of the process interrupts the script
 * (it prints "Script execution was interrupted" and gives the prompt back). The main thread
 * cannot send that signal while it is busy, so a worker thread, which has its own event loop,
 * does: `arm` stores the evaluation's id in shared memory, the worker waits on it for the limit
 * and, if it is still there, claims it and sends SIGINT; `disarm` ends the window, waiting for a
 * signal the worker has claimed to be sent, so it never lands after the REPL's watchdog is gone.
 * One worker per process (the first session starts it), shared by all its sessions: only one
 * evaluation runs synchronously at a time.
 */
class EvalGuard {
  static #shared?: EvalGuard;
  readonly limitMs: number;
  readonly #state = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
  #last = 0;
  /** An evaluation is armed (a nested one, e.g. a session typing into another, runs unguarded). */
  busy = false;

  private constructor(limitMs: number) {
    this.limitMs = limitMs;
    const w = new Worker(WATCHDOG, { eval: true, execArgv: [], workerData: { state: this.#state, limitMs } });
    w.unref(); // it never keeps the process alive
  }

  static get(): EvalGuard {
    return (EvalGuard.#shared ??= new EvalGuard(evalLimitMs()));
  }

  arm(): number {
    this.#last = (this.#last % 0x7fffffff) + 1;
    Atomics.store(this.#state, RUNNING, this.#last);
    Atomics.notify(this.#state, RUNNING);
    return this.#last;
  }

  /** Ends evaluation `id`'s window; true when the worker interrupted it (then the signal has been sent). No-op once ended. */
  disarm(id: number): boolean {
    const s = this.#state;
    const was = Atomics.compareExchange(s, RUNNING, id, 0);
    if (was !== -id) {
      if (was === id) Atomics.notify(s, RUNNING);
      return false;
    }
    // Claimed: the worker sends the signal in a moment (usually it has, and it interrupted the script).
    for (let seen = Atomics.load(s, SIGNALLED); seen !== id; seen = Atomics.load(s, SIGNALLED)) Atomics.wait(s, SIGNALLED, seen, 50);
    Atomics.store(s, RUNNING, 0);
    Atomics.notify(s, RUNNING);
    return true;
  }
}

/**
 * Puts `server`'s evaluations under `guard`. The window in which the worker may send SIGINT must
 * lie inside the one in which the REPL's SIGINT watchdog is running, or the signal ends the
 * process (SIGINT's default, or the watchdog's own "exit" handler it leaves behind). So:
 * - it opens when the evaluation starts (in `server.eval`, which also runs the synchronous part
 *   of top-level-await code) and closes when node:repl is about to stop the watchdog — its
 *   defaultEval calls `_setRawMode` right after starting the watchdog and again right before
 *   stopping it (as of Node 20) — or, should that change, when `server.eval` returns;
 * - the process's SIGINT listeners (actor-main.ts ignores SIGINT) are taken off for the
 *   evaluation and put back after it. Left on, the vm's breakOnSigint would take them off itself
 *   after the REPL's watchdog had started, and removing the last listener resets SIGINT to its
 *   default (exit); and putting them back after the watchdog has stopped is what re-installs
 *   the listener's handler over the watchdog's, so an idle SIGINT stays harmless.
 */
function guardEvaluations(server: REPLServer, guard: EvalGuard, onInterrupted: () => void): void {
  const evaluate = server.eval;
  const rl = server as unknown as { _setRawMode?: (mode: boolean) => boolean };
  const setRawMode = rl._setRawMode;
  let current: { id: number; rawModeCalls: number; interrupted: boolean } | undefined;
  const end = (e: NonNullable<typeof current>) => {
    if (guard.disarm(e.id)) e.interrupted = true;
  };
  if (typeof setRawMode === "function") {
    rl._setRawMode = function (this: unknown, mode: boolean): boolean {
      if (current && ++current.rawModeCalls === 2) end(current); // before stopSigintWatchdog
      return setRawMode.call(this, mode);
    };
  }
  const guarded: REPLEval = function (this: REPLServer, code, context, file, cb) {
    if (guard.busy) return evaluate.call(this, code, context, file, cb);
    const listeners = process.rawListeners("SIGINT") as ((...a: unknown[]) => void)[];
    process.removeAllListeners("SIGINT");
    guard.busy = true;
    const e = (current = { id: guard.arm(), rawModeCalls: 0, interrupted: false });
    try {
      return evaluate.call(this, code, context, file, cb);
    } finally {
      end(e);
      current = undefined;
      guard.busy = false;
      for (const l of listeners) process.on("SIGINT", l);
      if (e.interrupted) onInterrupted();
    }
  };
  (server as { eval: REPLEval }).eval = guarded; // typed readonly; node:repl calls whatever the property holds
}

/** A writable that looks like a terminal of a given size to readline, forwarding what it gets. */
class RemoteTerminal extends Writable {
  columns: number;
  rows: number;
  readonly isTTY = true;

  constructor(
    cols: number,
    rows: number,
    private readonly forward: (b: Uint8Array | string) => void,
  ) {
    super({ decodeStrings: false });
    this.columns = cols;
    this.rows = rows;
  }

  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.forward(chunk);
    cb();
  }

  resize(cols: number, rows: number): void {
    this.columns = cols;
    this.rows = rows;
    this.emit("resize");
  }

  getColorDepth(): number {
    return 8;
  }

  hasColors(): boolean {
    return true;
  }
}

export function replBackend(actorName: string, instance: object): BackendFactory {
  return (ctx) => {
    const guard = EvalGuard.get(); // throws on a malformed AZR_ATTACH_EVAL_LIMIT_MS: the open is refused, saying so
    const banner =
      `attached to actor '${actorName}' (pid ${process.pid}). The instance is \`actor\`; top-level await works.\r\n` +
      `Tab completes, Ctrl-C cancels the line, Ctrl-D detaches (the actor keeps running).\r\n` +
      // Ctrl-C reaches the actor as a byte, which its busy event loop does not read: the guard
      // (EvalGuard) is what stops a synchronous loop that never ends.
      `Code runs on the actor's event loop: an input still running synchronously after ${guard.limitMs / 1000} s is interrupted (${EVAL_LIMIT_ENV}); code after an await is not.\r\n`;
    ctx.send(banner); // before the REPL writes its first prompt
    const input = new PassThrough();
    const output = new RemoteTerminal(ctx.cols, ctx.rows, ctx.send);
    const server = repl.start({
      prompt: `${actorName}> `,
      input,
      output,
      terminal: true,
      useColors: ctx.colors,
      useGlobal: false,
      ignoreUndefined: true,
      preview: true,
      // Makes Ctrl-C abandon a pending top-level await (the REPL stops waiting; the promise's
      // work, e.g. an actor method, carries on). For synchronous code it only reacts to a real
      // SIGINT of the process, which a remote Ctrl-C is not: the guard sends that one.
      breakEvalOnSigint: true,
    });
    guardEvaluations(server, guard, () => {
      // The REPL has printed "Script execution was interrupted" and a prompt: say why above the prompt.
      output.write(
        `\x1b[1G\x1b[0Jazr: interrupted: it ran synchronously for more than ${guard.limitMs} ms (${EVAL_LIMIT_ENV}), ` +
          `which freezes the actor; the actor carries on.\r\n`,
      );
      server.displayPrompt(true);
    });
    const expose = (context: object) =>
      Object.defineProperty(context, "actor", { value: instance, enumerable: true, configurable: false, writable: false });
    expose(server.context);
    server.on("reset", expose); // `.clear` makes a fresh context: the instance stays in scope

    const rl = server as unknown as { history: string[] } & NodeJS.EventEmitter;
    rl.history.push(...sharedHistory);
    rl.on("history", (h: string[]) => {
      sharedHistory.splice(0, sharedHistory.length, ...h.slice(0, HISTORY_SIZE));
    });
    let closing = false;
    server.on("exit", () => {
      if (!closing) ctx.end("detached (Ctrl-D)");
    });
    return {
      banner,
      backend: {
        write: (d) => input.write(d),
        resize: (c, r) => output.resize(c, r),
        close: () => {
          closing = true;
          server.close();
          input.end();
        },
      },
    };
  };
}

/** Serves `azr attach <actor>` for the instance hosted by this process. */
export function serveActorRepl(o: { nc: NatsConnection; cluster: string; name: string; instance: object }): Promise<AttachServer> {
  return AttachServer.start({ nc: o.nc, cluster: o.cluster, target: { kind: "actor", name: o.name }, open: replBackend(o.name, o.instance) });
}
