/**
 * Time and memory per actor for each step's metrics line (spec §8: "time per phase and per actor,
 * peak memory"). Each actor's process reports its cumulative busy time (the sum of its calls'
 * durations) and its peak resident memory (runtime stats); a step's share is the change since the
 * previous step; an actor's worker processes report their own peaks beside it, and an engine on a
 * GPU its device memory. A restarted actor starts its counters again (another `instance`): its whole count
 * is the step's. An actor that does not answer (restarting) is left out of that line, never the run.
 *
 * Covers: the deltas. Not: reading the stats (the CLI passes a reader over the cluster).
 */

/** What one actor's process says about itself (runtime/host.ts ActorStats, the fields used here). */
export interface ActorUsageReport {
  instance: string;
  busyMs: number;
  maxRssBytes: number;
  /** Absent from actors of older azr versions. */
  childrenMaxRssBytes?: number;
  /** Accelerator memory (a torch engine on CUDA); absent on CPU. */
  deviceMemory?: { peakReservedBytes: number };
}

/** One actor's share of a step. */
export interface ActorStepUsage {
  /** Time it spent serving calls during the step (overlapping calls each count). */
  busySeconds: number;
  /** Its process's peak resident memory so far. */
  peakMemoryMB: number;
  /**
   * Its worker processes' (a torch engine worker, the executor's Python workers) peak resident
   * memory so far, summed over those alive now; absent when it has none.
   */
  workersPeakMemoryMB?: number;
  /**
   * GPU memory its engine has reserved at peak so far (torch's caching allocator, summed over its
   * ranks' devices: what no other process could use); absent on CPU.
   */
  gpuPeakMemoryMB?: number;
}

export type ReadActorUsage = () => Promise<Record<string, ActorUsageReport | undefined>>;

export class ActorUsageTracker {
  #last = new Map<string, ActorUsageReport>();

  constructor(private readonly read: ReadActorUsage) {}

  /** The usage since the previous call (the first call counts from each actor's start). */
  async step(): Promise<Record<string, ActorStepUsage>> {
    let now: Record<string, ActorUsageReport | undefined>;
    try {
      now = await this.read();
    } catch {
      return {}; // a lost measurement, not a lost step
    }
    return this.delta(now);
  }

  delta(now: Record<string, ActorUsageReport | undefined>): Record<string, ActorStepUsage> {
    const out: Record<string, ActorStepUsage> = {};
    for (const [name, r] of Object.entries(now)) {
      if (!r) continue;
      const before = this.#last.get(name);
      const since = before && before.instance === r.instance ? before.busyMs : 0;
      const workers = Math.round((r.childrenMaxRssBytes ?? 0) / 2 ** 20);
      const gpu = r.deviceMemory && Math.round(r.deviceMemory.peakReservedBytes / 2 ** 20);
      out[name] = {
        busySeconds: Math.max(0, r.busyMs - since) / 1000,
        peakMemoryMB: Math.round(r.maxRssBytes / 2 ** 20),
        ...(workers > 0 ? { workersPeakMemoryMB: workers } : {}),
        ...(gpu !== undefined ? { gpuPeakMemoryMB: gpu } : {}),
      };
      this.#last.set(name, r);
    }
    return out;
  }
}
