/**
 * PromptFeed: prompts handed to a running generateBatch after it started. The engine gives each
 * batch lane a first share of a request and feeds it the rest one prompt per finished sequence,
 * so a lane whose sequences end early takes the queued prompts instead of idling while another
 * lane still works through a fixed share. Covers: queueing indices, closing, waiting for either.
 * Not: which lane gets what (model/ort/engine.ts).
 */
export class PromptFeed {
  private queue: number[] = [];
  private wake: (() => void) | undefined;
  /** More prompts may still come. */
  open = true;

  /** Request-wide prompt indices to decode; `last`: nothing follows. */
  push(indices: number[], last: boolean): void {
    this.queue.push(...indices);
    if (last) this.open = false;
    this.wake?.();
    this.wake = undefined;
  }

  /** The indices pushed since the last call. */
  take(): number[] {
    const q = this.queue;
    this.queue = [];
    return q;
  }

  /** Resolves when prompts arrive, the feed closes, or `signal` aborts (the caller checks which). */
  wait(signal?: AbortSignal): Promise<void> {
    if (this.queue.length || !this.open || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener("abort", done);
        resolve();
      };
      this.wake = done;
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}
