/**
 * The `task-buffer` actor: the deduction, abduction and induction buffers of azr-spec §4.
 * Covers: storage, the draws (through azr/buffers.ts rules, one RNG per call derived from the
 * caller's seed so a resumed run replays them), admission (de-duplication, cap), and the state
 * the runtime persists after every call (`saveState`/`loadState`) so a restart loses nothing.
 * Not: validation (the executor's job; the driver admits only validated entries).
 */
import {
  admitEntries, createRng, pickSolverTasks, sampleInductionProgram, sampleReferencesBy,
  type InductionEntry, type TaskType, type Triplet, type ReferenceSampling, type SolverMix, type CapPolicy, type DedupeMode,
} from "../../azr/index.ts";
import { defineActor } from "../../runtime/index.ts";
import type { BufferPort, TripletBufferName } from "./ports.ts";

type Entry = Triplet | InductionEntry;

export interface TaskBufferConfig {
  maxEntries: number;
  capPolicy: CapPolicy;
  dedupe: DedupeMode;
  referenceSampling: ReferenceSampling;
  solverMix: SolverMix;
}

export interface TaskBufferState {
  version: 1;
  buffers: Partial<Record<TaskType, Entry[]>>;
  /** Entries admitted per step, kept for the last steps only (for metrics and views). */
  admittedTotal: number;
}

export class TaskBuffer implements BufferPort {
  private buffers: Partial<Record<TaskType, Entry[]>> = { deduction: [], abduction: [], induction: [] };
  private admittedTotal = 0;

  constructor(private readonly cfg: TaskBufferConfig) {
    if (!(cfg.maxEntries >= 1)) throw new Error(`buffer.maxEntries must be ≥ 1, got ${cfg.maxEntries}`);
  }

  private list(name: TaskType): Entry[] {
    return (this.buffers[name] ??= []);
  }

  async drawReferences(buffer: TripletBufferName, count: number, k: number, seed: number): Promise<Triplet[][]> {
    const entries = this.list(buffer) as Triplet[];
    if (entries.length === 0) throw new Error(`the ${buffer} buffer is empty: seed it before the first step (identity triplet or seed files)`);
    const rng = createRng(seed);
    return Array.from({ length: count }, () => sampleReferencesBy(rng, entries, k, this.cfg.referenceSampling));
  }

  async drawInductionPrograms(count: number, seed: number): Promise<Triplet[]> {
    const rng = createRng(seed);
    const d = this.list("deduction") as Triplet[];
    const a = this.list("abduction") as Triplet[];
    return Array.from({ length: count }, () => sampleInductionProgram(rng, d, a));
  }

  async admit(buffer: TaskType, entries: Entry[], _step: number): Promise<Entry[]> {
    const r = admitEntries(this.list(buffer), entries, { dedupe: this.cfg.dedupe, maxEntries: this.cfg.maxEntries, capPolicy: this.cfg.capPolicy });
    this.buffers[buffer] = r.entries;
    this.admittedTotal += r.admitted.length;
    return r.admitted;
  }

  async solverTasks(buffer: TaskType, fresh: Entry[], count: number, seed: number): Promise<Entry[]> {
    return pickSolverTasks(createRng(seed), fresh, this.list(buffer), count, this.cfg.solverMix);
  }

  async sizes(): Promise<Record<string, number>> {
    return Object.fromEntries(Object.entries(this.buffers).map(([k, v]) => [k, v?.length ?? 0]));
  }

  /** The entries of one buffer (newest last), for views and export. */
  async entries(buffer: TaskType, limit = 50): Promise<Entry[]> {
    return this.list(buffer).slice(-limit);
  }

  async stats(): Promise<{ sizes: Record<string, number>; admittedTotal: number }> {
    return { sizes: await this.sizes(), admittedTotal: this.admittedTotal };
  }

  /** The whole state, for the driver's run checkpoints (the runtime also persists it after every call). */
  async snapshot(): Promise<TaskBufferState> {
    return this.saveState();
  }

  async restore(s: TaskBufferState): Promise<void> {
    this.loadState(s);
  }

  saveState(): TaskBufferState {
    return { version: 1, buffers: this.buffers, admittedTotal: this.admittedTotal };
  }

  loadState(s: TaskBufferState): void {
    if (s?.version !== 1) throw new Error(`task-buffer state has version ${String(s?.version)}; this build reads version 1`);
    this.buffers = s.buffers;
    this.admittedTotal = s.admittedTotal;
  }
}
defineActor(import.meta.url, TaskBuffer);
