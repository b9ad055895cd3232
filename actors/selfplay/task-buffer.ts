/**
 * The `task-buffer` actor: the deduction, abduction and induction buffers of azr-spec §4.
 * Covers: storage, the draws (through azr/buffers.ts rules, one RNG per call derived from the
 * caller's seed so a resumed run replays them), admission (de-duplication, cap), the value
 * counters of every buffer (how often each input / output value and type entered it, for the
 * diversity rewards of §6.3 and the buffer statistics of §8), and the state
 * the runtime persists after every call (`saveState`/`loadState`) so a restart loses nothing.
 * Not: validation (the executor's job; the driver admits only validated entries).
 */
import { createHash } from "node:crypto";
import {
  admitEntries, countValue, createRng, emptyCounters, isInductionEntry, type ValueCounters, pickSolverTasks, sampleInductionProgram, sampleReferencesBy,
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

/** Values seen in one buffer's entries: inputs (argument lists) and outputs, by type and by value. */
export interface BufferCounters {
  inputs: ValueCounters;
  outputs: ValueCounters;
}

/** Per buffer: size, and distinct types / unique values of its inputs and outputs (metrics §8). */
export interface BufferValueStats {
  size: number;
  inputTypes: number;
  inputValues: number;
  outputTypes: number;
  outputValues: number;
}

export interface TaskBufferState {
  version: 2;
  buffers: Partial<Record<TaskType, Entry[]>>;
  /** Entries admitted over the run. */
  admittedTotal: number;
  /** Counted at admission and never decremented (an evicted value was still seen); version 1 states recount from the entries. */
  counters: Partial<Record<TaskType, BufferCounters>>;
  /** Per buffer, the last admission's key and answer, so a repeated `admit` is answered, not applied twice. */
  lastAdmit?: Partial<Record<TaskType, { key: string; admitted: Entry[] }>>;
}

/** Identifies one admission: the step and the entries (a caller's retry sends the same ones). */
const admitKey = (step: number, entries: Entry[]) => `${step}:${createHash("sha256").update(JSON.stringify(entries)).digest("hex")}`;

const emptyBufferCounters = (): BufferCounters => ({ inputs: emptyCounters(), outputs: emptyCounters() });

function countEntry(c: BufferCounters, e: Entry): void {
  for (const x of isInductionEntry(e) ? e.inputs : [e.input]) countValue(c.inputs, x);
  for (const y of isInductionEntry(e) ? e.outputs : [e.output]) countValue(c.outputs, y);
}

const uniqueValues = (c: ValueCounters) => Object.values(c.values).reduce((n, byKey) => n + Object.keys(byKey).length, 0);

export class TaskBuffer implements BufferPort {
  private buffers: Partial<Record<TaskType, Entry[]>> = { deduction: [], abduction: [], induction: [] };
  private admittedTotal = 0;
  private counters: Partial<Record<TaskType, BufferCounters>> = {};
  private lastAdmit: NonNullable<TaskBufferState["lastAdmit"]> = {};

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

  /**
   * Idempotent: the driver re-sends an admission whose answer it lost (the actor died after
   * saving its state, before replying); the same entries at the same step get the first answer
   * back instead of being admitted again (which would report none as new, or, with
   * `dedupe: none`, store them twice).
   */
  async admit(buffer: TaskType, entries: Entry[], step: number): Promise<Entry[]> {
    const key = admitKey(step, entries);
    const last = this.lastAdmit[buffer];
    if (last?.key === key) return last.admitted;
    const r = admitEntries(this.list(buffer), entries, { dedupe: this.cfg.dedupe, maxEntries: this.cfg.maxEntries, capPolicy: this.cfg.capPolicy });
    this.buffers[buffer] = r.entries;
    this.admittedTotal += r.admitted.length;
    const c = (this.counters[buffer] ??= emptyBufferCounters());
    for (const e of r.admitted) countEntry(c, e);
    this.lastAdmit[buffer] = { key, admitted: r.admitted };
    return r.admitted;
  }

  async solverTasks(buffer: TaskType, fresh: Entry[], count: number, seed: number): Promise<Entry[]> {
    return pickSolverTasks(createRng(seed), fresh, this.list(buffer), count, this.cfg.solverMix);
  }

  /** The named buffer's value counters (empty when nothing entered it yet). */
  async valueCounters(buffer: TaskType): Promise<BufferCounters> {
    return this.counters[buffer] ?? emptyBufferCounters();
  }

  async valueStats(): Promise<Record<string, BufferValueStats>> {
    return Object.fromEntries(Object.entries(this.buffers).map(([k, v]) => {
      const c = this.counters[k as TaskType] ?? emptyBufferCounters();
      return [k, {
        size: v?.length ?? 0,
        inputTypes: Object.keys(c.inputs.types).length, inputValues: uniqueValues(c.inputs),
        outputTypes: Object.keys(c.outputs.types).length, outputValues: uniqueValues(c.outputs),
      }];
    }));
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
    return { version: 2, buffers: this.buffers, admittedTotal: this.admittedTotal, counters: this.counters, lastAdmit: this.lastAdmit };
  }

  loadState(s: TaskBufferState | { version: 1; buffers: TaskBufferState["buffers"]; admittedTotal: number }): void {
    if (s?.version !== 1 && s?.version !== 2) throw new Error(`task-buffer state has version ${String((s as { version?: unknown })?.version)}; this build reads versions 1 and 2`);
    this.buffers = s.buffers;
    this.admittedTotal = s.admittedTotal;
    this.lastAdmit = (s.version === 2 && s.lastAdmit) || {};
    if (s.version === 2) {
      this.counters = s.counters;
      return;
    }
    // Version 1 kept no counters: recount what the buffers hold (values already evicted are lost).
    this.counters = {};
    for (const [k, entries] of Object.entries(s.buffers)) {
      const c = (this.counters[k as TaskType] = emptyBufferCounters());
      for (const e of entries ?? []) countEntry(c, e);
    }
  }
}
defineActor(import.meta.url, TaskBuffer);
