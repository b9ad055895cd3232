/**
 * The torch engine's failures, one class per kind (Ray's split: the method raised vs the worker died):
 * - `TorchWorkerError`: Python raised inside a call; carries the Python type and traceback.
 * - `TorchWorkerDiedError`: the worker process ended (crash, OOM kill, signal); every pending call
 *   gets it, with the exit status and the tail of the worker's stderr.
 * - `TorchUnavailableError`: this Python cannot run the engine (no torch / msgpack / numpy, or a
 *   CPU-only torch asked for a GPU); the message names what to install.
 * `instanceof` works across copies of this module through a symbol marker.
 */
const MARK = Symbol.for("azr.torch.error");

export type TorchErrorKind = "raised" | "died" | "unavailable";

export abstract class TorchEngineError extends Error {
  abstract readonly kind: TorchErrorKind;
  readonly [MARK] = true;
  static override [Symbol.hasInstance](x: unknown): boolean {
    const marked = typeof x === "object" && x !== null && (x as Record<symbol, unknown>)[MARK] === true;
    // the base class matches any of ours; a subclass matches by name (same class in another copy)
    return marked && (this === TorchEngineError || (x as Error).name === this.name);
  }
}

export class TorchWorkerError extends TorchEngineError {
  readonly kind = "raised";
  override readonly name = "TorchWorkerError";
  constructor(readonly method: string, readonly pythonType: string, message: string, readonly pythonTraceback: string) {
    super(`${method}: ${pythonType}: ${message}`);
    // the Python frames are the useful stack; keep ours below them
    this.stack = `${this.name}: ${this.message}\n--- Python traceback ---\n${pythonTraceback}--- TypeScript ---\n${this.stack ?? ""}`;
  }
}

export class TorchWorkerDiedError extends TorchEngineError {
  readonly kind = "died";
  override readonly name = "TorchWorkerDiedError";
  constructor(readonly method: string, readonly exitCode: number | null, readonly signal: string | null, readonly stderrTail: string, options?: ErrorOptions) {
    const how = signal ? `was killed by ${signal}` : `exited with code ${exitCode}`;
    super(`torch engine worker ${how} during ${method}${stderrTail ? `; its stderr ended with:\n${stderrTail}` : ""}`, options);
  }
}

export class TorchUnavailableError extends TorchEngineError {
  readonly kind = "unavailable";
  override readonly name = "TorchUnavailableError";
  constructor(message: string, readonly python: string, options?: ErrorOptions) {
    super(`${message} (python: ${python})`, options);
  }
}
