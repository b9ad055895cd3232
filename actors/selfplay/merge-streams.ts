/**
 * Several streams read as one, items in the order they arrive: how a pool of replicas (rollout
 * engines, code executors) answers one streaming call with all of them at once.
 *
 * Covers: reading every part concurrently, mapping each item (the caller's index), the first
 * failure ending the merged stream (the other parts' calls are ended: an actor handle cancels its
 * call on return()), and a caller that stops reading ending them too. Not: how the work is split.
 */

export interface StreamPart<T> {
  /** The part's stream, opened once the merge starts. */
  stream: AsyncIterable<T>;
  /** An item as the merged stream yields it (the caller's index instead of the part's). */
  map(item: T): T;
  /** The part ended: done, failed, or stopped by the merge. */
  ended?(): void;
  /** What a failure of this part is to the caller (it names the replica). */
  failure(e: unknown): Error;
}

export async function* mergeStreams<T>(parts: readonly StreamPart<T>[]): AsyncGenerator<T> {
  const ready: T[] = [];
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  let running = parts.length;
  let stopped = false;
  const iterators = parts.map((p) => p.stream[Symbol.asyncIterator]());
  parts.forEach((p, j) => {
    void (async () => {
      try {
        for (;;) {
          const r = await iterators[j].next();
          if (r.done || stopped) break;
          ready.push(p.map(r.value));
          wake?.();
        }
      } catch (e) {
        failure ??= p.failure(e);
      } finally {
        p.ended?.();
        running--;
        wake?.();
      }
    })();
  });
  try {
    for (;;) {
      while (ready.length && !failure) yield ready.shift()!;
      if (failure) throw failure;
      if (running === 0) break;
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
    }
  } finally {
    // A failure or a caller that stopped reading: the other parts' calls are ended. Not awaited:
    // a part's return waits for its pending item, and the caller's error should not.
    stopped = true;
    if (running > 0) for (const it of iterators) void it.return?.().catch(() => {});
  }
}
