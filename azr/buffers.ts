/**
 * Buffer rules as pure functions over plain arrays (azr-spec §4): drawing the K references,
 * the induction program, the solver's task mix; admitting entries (de-duplication, cap);
 * the identity seeds; reading the published seed JSONL lines.
 *
 * Covers: rules only; the task-buffer actor owns storage, persistence and counters' lifetime.
 * Every draw takes an explicit {@link Rng}, so a checkpointed RNG state replays the same draws.
 * Not: validation of seed entries (the executor re-validates each one, §4.2).
 *
 * Departures from the reference:
 * - (Decision `buffer.capPolicy`, default `evict-oldest`) a full buffer drops its oldest entry;
 *   `keep-first` reproduces the reference, which silently drops every new entry after the cap;
 * - (Decision `buffer.dedupe`, default `exact`) an entry whose whitespace-normalised program and
 *   input(s) equal an existing entry's is not added again; `none` reproduces the reference;
 * - the identity induction seed is written with literals only (the reference's file has
 *   `dict(a=1, b=2)`, a call).
 */
import { nextInt, sampleIndices, sampleWeightedWithoutReplacement, sampleWithoutReplacement, type Rng } from "./rng.ts";
import { argsKey, tryParseArgs } from "./literal.ts";
import { normalisedProgramKey } from "./pysource.ts";
import { isInductionEntry, type BufferEntry, type InductionEntry, type Triplet } from "./tasks.ts";

// ------------------------------------------------------------------ drawing
/** K references uniformly without replacement; K = min(k, buffer size). Independent per call. */
export function sampleReferences<T>(rng: Rng, buffer: readonly T[], k: number): T[] {
  return sampleWithoutReplacement(rng, buffer, k);
}

export type ReferenceSampling = "uniform" | "recency";

/**
 * K references under `selfplay.referenceSampling`: `uniform` (published), or `recency` — the
 * reference's `step` strategy, weight = creation step + 1, drawn without replacement (reported
 * as prone to collapse; off by default).
 */
export function sampleReferencesBy<T extends { step: number }>(rng: Rng, buffer: readonly T[], k: number, mode: ReferenceSampling): T[] {
  if (mode === "uniform") return sampleWithoutReplacement(rng, buffer, k);
  return sampleWeightedWithoutReplacement(rng, buffer, buffer.map((e) => e.step + 1), k);
}

export class PromptLimitError extends Error {
  override name = "PromptLimitError";
}

/**
 * Draw references until the proposer prompt built from them fits (§4.3): `fits(refs)` measures
 * the prompt; after `maxRedraws` re-draws the step fails with an error naming the buffer (the
 * reference loops forever). Returns the references and how many re-draws it took.
 */
export function drawFittingReferences<T extends { step: number }>(
  rng: Rng, buffer: readonly T[], k: number, mode: ReferenceSampling, fits: (refs: T[]) => boolean, maxRedraws: number, bufferName: string,
): { references: T[]; redraws: number } {
  for (let redraws = 0; redraws <= maxRedraws; redraws++) {
    const references = sampleReferencesBy(rng, buffer, k, mode);
    if (fits(references)) return { references, redraws };
  }
  throw new PromptLimitError(
    `no proposer prompt from the ${bufferName} buffer fits prompt.maxTokens after ${maxRedraws} re-draws of ${k} references; ` +
      "raise prompt.maxTokens (and data.maxPromptTokens), lower selfplay.references, or lower validation.maxOutputChars",
  );
}

/** One program for an induction proposer, uniform over the deduction and abduction buffers together. */
export function sampleInductionProgram(rng: Rng, deduction: readonly Triplet[], abduction: readonly Triplet[]): Triplet {
  const n = deduction.length + abduction.length;
  if (n === 0) throw new Error("cannot draw an induction program: the deduction and abduction buffers are both empty (seed them first)");
  const i = nextInt(rng, n);
  return i < deduction.length ? deduction[i] : abduction[i - deduction.length];
}

export type SolverMix = "max-new" | "half-new" | "uniform";

/**
 * L solver tasks of one type (§4.3): up to `cap` new entries (chosen uniformly without
 * replacement when there are more), the rest uniformly without replacement from the whole
 * buffer (which may draw a new one again). `max-new`: cap = L; `half-new`: ⌊L/2⌋; `uniform`: 0.
 * When the buffer has fewer than the remaining count, it is drawn from in full.
 */
export function pickSolverTasks<T>(rng: Rng, newEntries: readonly T[], buffer: readonly T[], L: number, mix: SolverMix): T[] {
  const cap = mix === "max-new" ? L : mix === "half-new" ? Math.floor(L / 2) : 0;
  const fresh = sampleWithoutReplacement(rng, newEntries, Math.min(cap, L));
  const rest = sampleWithoutReplacement(rng, buffer, L - fresh.length);
  return [...fresh, ...rest];
}

/** Indices to re-draw for prompts over the length limit (§4.3): one more independent draw. */
export function redrawIndex(rng: Rng, size: number): number {
  return nextInt(rng, size);
}

// ------------------------------------------------------------------ admitting
export type DedupeMode = "exact" | "none";
export type CapPolicy = "evict-oldest" | "keep-first";

/** Input text → a key equal for equal argument lists (falls back to whitespace-collapsed text). */
function inputKey(input: string): string {
  const a = tryParseArgs(input);
  return a ? argsKey(a) : `text:${input.replace(/\s+/g, " ").trim()}`;
}

/** The identity of an entry for de-duplication: normalised program + parsed input(s). */
export function entryKey(e: BufferEntry): string {
  const inputs = isInductionEntry(e) ? e.inputs.map(inputKey).join("|") : inputKey(e.input);
  return `${normalisedProgramKey(e.program)}\u0000${inputs}`;
}

export interface AdmitOptions {
  dedupe: DedupeMode;
  maxEntries: number;
  capPolicy: CapPolicy;
}

export interface AdmitResult<T> {
  /** The buffer after the batch. */
  entries: T[];
  /** Entries that entered (the "new" tasks of §4.3). */
  admitted: T[];
  rejected: { entry: T; reason: "duplicate" | "buffer full" }[];
  evicted: T[];
}

/** Add a batch of entries in order, applying de-duplication and the cap. Does not mutate `buffer`. */
export function admitEntries<T extends BufferEntry>(buffer: readonly T[], batch: readonly T[], o: AdmitOptions): AdmitResult<T> {
  if (!(Number.isInteger(o.maxEntries) && o.maxEntries >= 1)) throw new Error(`buffer.maxEntries must be a positive integer, got ${o.maxEntries}`);
  const entries = [...buffer];
  const keys = o.dedupe === "exact" ? new Map<string, number>() : undefined;
  if (keys) for (const e of entries) { const k = entryKey(e); keys.set(k, (keys.get(k) ?? 0) + 1); }
  const admitted: T[] = [], evicted: T[] = [];
  const rejected: AdmitResult<T>["rejected"] = [];
  let head = 0; // evict-oldest removes from the front lazily
  for (const e of batch) {
    const k = keys ? entryKey(e) : "";
    if (keys && (keys.get(k) ?? 0) > 0) { rejected.push({ entry: e, reason: "duplicate" }); continue; }
    if (entries.length - head >= o.maxEntries) {
      if (o.capPolicy === "keep-first") { rejected.push({ entry: e, reason: "buffer full" }); continue; }
      const old = entries[head++];
      evicted.push(old);
      if (keys) { const ok = entryKey(old); keys.set(ok, (keys.get(ok) ?? 1) - 1); }
    }
    entries.push(e);
    admitted.push(e);
    if (keys) keys.set(k, (keys.get(k) ?? 0) + 1);
  }
  // A batch larger than the cap evicts some of its own entries: those never stayed in the buffer,
  // so they are neither new tasks (§4.3's "admitted") nor evictions of earlier ones, but refused.
  const kept = new Set(entries.slice(head));
  for (const e of admitted) if (!kept.has(e)) rejected.push({ entry: e, reason: "buffer full" });
  const fromBatch = new Set(batch);
  return { entries: entries.slice(head), admitted: admitted.filter((e) => kept.has(e)), rejected, evicted: evicted.filter((e) => !fromBatch.has(e)) };
}

// ------------------------------------------------------------------ seeds
const IDENTITY_PROGRAM = "def f(a):\n    return a";

/** The identity triplet every run starts from (§4.2). */
export function identityTriplet(): Triplet {
  return { program: IDENTITY_PROGRAM, input: "'Hello world'", output: "'Hello world'", imports: [], step: 0 };
}

/** The identity induction seed: inputs of different types, written as literals, equal to their outputs. */
export function identityInductionEntry(): InductionEntry {
  const values = ["'Hello world'", "1", "{'a': 1, 'b': 2}", "(1.1, 1.2, 1.3)", "'[[1, 0, 0], [0, 0, 0], [0, 0, 0]]'", "1001101100010001"];
  return { program: IDENTITY_PROGRAM, inputs: values, outputs: [...values], message: "The function returns its input unchanged.", imports: [], step: 0 };
}

export class SeedShortfallError extends Error {
  override name = "SeedShortfallError";
}

/**
 * How many model-made seeds to add after loading a seed file (§4.2): when fewer than B entries
 * survive re-validation, top up to S·B (logged by the caller); with `topUp` off that is an error
 * naming the file. Enough entries → 0.
 */
export function seedTopUp(kept: number, o: { batchSize: number; factor: number; topUp: boolean; file: string }): number {
  if (kept >= o.batchSize) return 0;
  if (!o.topUp) {
    throw new SeedShortfallError(
      `${o.file}: only ${kept} seed entries survived re-validation, fewer than the batch size ${o.batchSize}; ` +
        "turn seed.topUp on to add model-made seeds, or give a larger seed file",
    );
  }
  return o.batchSize * o.factor - kept;
}

export class SeedFormatError extends Error {
  override name = "SeedFormatError";
}

/** One line of a published triplet seed file (`*_seed_io.jsonl`). */
export function parseTripletSeedLine(line: string, where: string): Triplet {
  const o = parseJsonObject(line, where);
  for (const k of ["snippet", "input", "output"] as const) {
    if (typeof o[k] !== "string") throw new SeedFormatError(`${where}: field '${k}' must be a string (triplet seed lines have snippet, input, output, imports)`);
  }
  return { program: o.snippet as string, input: o.input as string, output: o.output as string, imports: stringList(o.imports, "imports", where), step: 0 };
}

/** One line of a published induction seed file (`*_code_f_seed_io.jsonl`). */
export function parseInductionSeedLine(line: string, where: string): InductionEntry {
  const o = parseJsonObject(line, where);
  if (typeof o.snippet !== "string") throw new SeedFormatError(`${where}: field 'snippet' must be a string`);
  const inputs = stringList(o.inputs, "inputs", where), outputs = stringList(o.outputs, "outputs", where);
  if (inputs.length !== outputs.length) throw new SeedFormatError(`${where}: ${inputs.length} inputs but ${outputs.length} outputs`);
  if (typeof o.message !== "string") throw new SeedFormatError(`${where}: field 'message' must be a string`);
  return { program: o.snippet, inputs, outputs, message: o.message, imports: stringList(o.imports, "imports", where), step: 0 };
}

/**
 * A triplet as a seed-file line in the published format (§4.2): `snippet`, `input`, `output`,
 * `imports`, `original_snippet` (the program before seeding stripped it), `composite_functions`
 * (always empty: composites are off). {@link parseTripletSeedLine} reads it back.
 */
export function tripletSeedLine(t: Triplet, originalProgram = t.program): string {
  return JSON.stringify({ snippet: t.program, input: t.input, output: t.output, imports: t.imports, original_snippet: originalProgram, composite_functions: [] });
}

/** An induction entry as a seed-file line (`snippet`, `inputs`, `outputs`, `message`, `imports`). */
export function inductionSeedLine(e: InductionEntry): string {
  return JSON.stringify({ snippet: e.program, inputs: e.inputs, outputs: e.outputs, message: e.message, imports: e.imports });
}

/**
 * Parse a seed file's text, keeping the first `limit` entries (S·B; §4.2). Blank lines are
 * skipped; a malformed line is an error naming the file and line.
 */
export function parseSeedFile<T>(text: string, file: string, limit: number, parseLine: (line: string, where: string) => T): T[] {
  const out: T[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length && out.length < limit; i++) {
    if (lines[i].trim() === "") continue;
    out.push(parseLine(lines[i], `${file}:${i + 1}`));
  }
  return out;
}

function parseJsonObject(line: string, where: string): Record<string, unknown> {
  let o: unknown;
  try { o = JSON.parse(line); } catch (e) { throw new SeedFormatError(`${where}: not JSON (${(e as Error).message})`, { cause: e }); }
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw new SeedFormatError(`${where}: expected a JSON object per line`);
  return o as Record<string, unknown>;
}

function stringList(v: unknown, field: string, where: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw new SeedFormatError(`${where}: field '${field}' must be a list of strings`);
  return v as string[];
}

/** Draw order helper for tests and the driver: k distinct indices of a buffer. */
export { sampleIndices };
