/**
 * Task types, roles and the (task type × role) groups of Absolute Zero (azr-spec §1).
 *
 * Covers: the names azr uses, the reference code's names for them (for reading its logs and
 * seed files), the group keys TRR++ normalises over, and the plain-data shapes of buffer entries.
 * Not: how entries are validated (executor) or stored (task-buffer actor).
 *
 * Departures from the paper / reference:
 * - the optional `error` type (reference `code_e`, abandoned by the paper) exists but is off
 *   unless a recipe lists it in `selfplay.taskTypes`.
 */

export const TASK_TYPES = ["deduction", "abduction", "induction", "error"] as const;
export type TaskType = (typeof TASK_TYPES)[number];

/** The three types every published recipe trains on. */
export const DEFAULT_TASK_TYPES: readonly TaskType[] = ["deduction", "abduction", "induction"];

export const ROLES = ["propose", "solve"] as const;
export type Role = (typeof ROLES)[number];

/** Reference code names (`code_o` etc.), for logs and for reading reference artefacts. */
export const REFERENCE_NAME: Record<TaskType, string> = {
  deduction: "code_o",
  abduction: "code_i",
  induction: "code_f",
  error: "code_e",
};

export interface Group {
  type: TaskType;
  role: Role;
}

/** `propose/deduction`, `solve/abduction`, … — the key of one TRR++ group and one metric prefix. */
export type GroupKey = `${Role}/${TaskType}`;

export function groupKey(role: Role, type: TaskType): GroupKey {
  return `${role}/${type}`;
}

export function parseGroupKey(key: string): Group {
  const [role, type] = key.split("/");
  if (!(ROLES as readonly string[]).includes(role) || !(TASK_TYPES as readonly string[]).includes(type)) {
    throw new Error(`'${key}' is not a group key; expected '<propose|solve>/<${TASK_TYPES.join("|")}>'`);
  }
  return { role: role as Role, type: type as TaskType };
}

/** Every (role × type) group for the given task types, proposers first: 3 types → 6 groups. */
export function groupsFor(types: readonly TaskType[] = DEFAULT_TASK_TYPES): Group[] {
  const seen = new Set<TaskType>();
  for (const t of types) {
    if (!(TASK_TYPES as readonly string[]).includes(t)) throw new Error(`unknown task type '${t}'; known: ${TASK_TYPES.join(", ")}`);
    if (seen.has(t)) throw new Error(`task type '${t}' listed twice`);
    seen.add(t);
  }
  return ROLES.flatMap((role) => types.map((type) => ({ role, type })));
}

/** Which buffer a task type reads references from and writes proposals to. */
export type BufferName = "deduction" | "abduction" | "induction" | "error";

/** A (program, input, output) triplet: the unit of the deduction, abduction and error buffers. */
export interface Triplet {
  /** Python source defining the entry function `f` (imports kept in the text). */
  program: string;
  /** A literal argument list, e.g. `'abc', [1, 2]`. */
  input: string;
  /** `repr()` of `f(input)`; for the error type, the exception type name or `NoError`. */
  output: string;
  /** The program's import lines (recorded, never prepended a second time). */
  imports: string[];
  /** Self-play step that admitted the entry; seeds are step 0. */
  step: number;
}

/** An induction entry: one program with N input/output pairs and a message for the solver. */
export interface InductionEntry {
  program: string;
  inputs: string[];
  outputs: string[];
  message: string;
  imports: string[];
  step: number;
}

export type BufferEntry = Triplet | InductionEntry;

export function isInductionEntry(e: BufferEntry): e is InductionEntry {
  return Array.isArray((e as InductionEntry).inputs);
}
