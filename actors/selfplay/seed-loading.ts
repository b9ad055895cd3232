/**
 * The seed buffers a run starts from (spec §4.2): the recipe's seed files (or the identity seeds)
 * re-validated with the executor, topped up with model-made seeds when fewer than B survive
 * (`seed.topUp`, seeding.ts), the model-made ones written to the run folder beside the config.
 *
 * Covers: reading, re-validating and topping up the seeds. Not: making seeds (seeding.ts).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  admitEntries, errorGold, identityInductionEntry, identityTriplet, inductionSeedLine, NO_ERROR, parseInductionSeedLine, parseSeedFile, parseTripletSeedLine, seedTopUp, SeedShortfallError, tripletSeedLine,
  type InductionEntry, type Triplet,
} from "../../azr/index.ts";
import type { ProposalCheck, ProposalVerdict } from "../code-executor/index.ts";
import type { DriverConfig, DriverPorts } from "./driver.ts";
import type { ExecutorPort } from "./ports.ts";
import { RunFolderError } from "./run-folder.ts";
import { makeInductionSeeds, makeTripletSeeds, type MadeSeeds } from "./seeding.ts";

type Entry = Triplet | InductionEntry;
type Judged<E> = { ok: true; entry: E } | { ok: false; reason: string };

/**
 * Re-validate seed entries with our executor (§4.2): `judge` turns each verdict into the entry
 * to keep (outputs recomputed) or the reason it is dropped; exact duplicates are dropped too;
 * reasons are counted into `dropped`.
 */
async function revalidate<E extends Entry>(
  executor: ExecutorPort, entries: E[], check: (e: E) => ProposalCheck, judge: (e: E, v: ProposalVerdict) => Judged<E>, dropped: Map<string, number>,
): Promise<E[]> {
  const kept: E[] = [];
  const drop = (reason: string, n = 1) => dropped.set(reason, (dropped.get(reason) ?? 0) + n);
  for await (const v of executor.validateProposals(entries.map(check))) {
    const j = judge(entries[v.index], v);
    if (j.ok) kept[v.index] = j.entry;
    else drop(j.reason);
  }
  // De-duplication is part of re-validation (§4.2): the count that decides the top-up is of distinct entries.
  const distinct = admitEntries([], kept.filter(Boolean), { dedupe: "exact", maxEntries: Number.MAX_SAFE_INTEGER, capPolicy: "keep-first" });
  if (distinct.rejected.length) drop("duplicate", distinct.rejected.length);
  return distinct.entries;
}

const tripletCheck = (t: Triplet): ProposalCheck => ({ type: "deduction", program: t.program, input: t.input });
const judgeTriplet = (t: Triplet, v: ProposalVerdict): Judged<Triplet> => (v.ok && v.outputs ? { ok: true, entry: { ...t, output: v.outputs[0], step: 0 } } : { ok: false, reason: v.reason });
const judgeInduction = (e: InductionEntry, v: ProposalVerdict): Judged<InductionEntry> => (v.ok && v.outputs ? { ok: true, entry: { ...e, outputs: v.outputs, step: 0 } } : { ok: false, reason: v.reason });
const judgeError = (t: Triplet, v: ProposalVerdict): Judged<Triplet> => {
  const g = errorGold(v);
  return g.ok ? { ok: true, entry: { ...t, output: g.gold, step: 0 } } : { ok: false, reason: g.reason };
};

export interface Seeds {
  triplets: Triplet[];
  induction: InductionEntry[];
  /** Only when `error` is a task type. */
  errors?: Triplet[];
}

/**
 * The seed buffers: the recipe's seed files (or the identity seeds), re-validated, then topped
 * up with model-made seeds when fewer than B survive (`seed.topUp`, §4.2) — the model-made ones
 * are written to the run folder beside the config. With no seed file and `seed.topUp` off the
 * run starts from the identity seeds alone.
 */
export async function loadSeeds(cfg: DriverConfig, ports: DriverPorts, runDir: string, log: (s: string) => void, signal?: AbortSignal): Promise<Seeds> {
  const limit = cfg.seed.factor * cfg.selfplay.batchSize;
  const read = <T>(file: string | null, key: string, parse: (l: string, w: string) => T): T[] | undefined => {
    if (!file) return undefined;
    const path = resolve(cfg.seed.dir, file);
    if (!existsSync(path)) throw new RunFolderError(`seed file ${path} not found: fix seed.${key} in the recipe (or set it to null to start from the identity seed)`);
    return parseSeedFile(readFileSync(path, "utf8"), path, limit, parse);
  };
  const dropped = new Map<string, number>();
  const triplets = read(cfg.seed.triplets, "triplets", parseTripletSeedLine) ?? [identityTriplet()];
  const induction = read(cfg.seed.induction, "induction", parseInductionSeedLine) ?? [identityInductionEntry()];
  let t = await revalidate(ports.executor, triplets, tripletCheck, judgeTriplet, dropped);
  // checkBans: a seed file's induction programs come from no triplet buffer, so nothing has applied
  // the ban list to them yet; §4.2 re-validates seeds with §5.3 checks 1–7, check 2 included.
  let i = await revalidate(ports.executor, induction, (e) => ({ type: "induction", program: e.program, inputs: e.inputs, checkBans: true }), judgeInduction, dropped);
  log(`seeds: ${t.length}/${triplets.length} triplets and ${i.length}/${induction.length} induction entries re-validated` +
    (dropped.size ? ` (dropped: ${[...dropped].map(([r, n]) => `${r} ×${n}`).join(", ")})` : ""));
  if (t.length === 0) throw new RunFolderError("no seed triplet survived re-validation: check the seed file or the executor (`azr doctor`)");

  const fileName = (f: string | null) => f ?? "(no seed file: the identity seed)";
  const topUp = (kept: number, file: string | null) => {
    if (file === null && !cfg.seed.topUp) return 0;
    try {
      return seedTopUp(kept, { batchSize: cfg.selfplay.batchSize, factor: cfg.seed.factor, topUp: cfg.seed.topUp, file: fileName(file) });
    } catch (e) {
      // a short seed file with the top-up off is a setting to fix, reported like the other run-folder problems
      if (e instanceof SeedShortfallError) throw new RunFolderError(e.message, { cause: e });
      throw e;
    }
  };
  const moreT = topUp(t.length, cfg.seed.triplets);
  if (moreT > 0) {
    log(`seeds: ${t.length} triplets < B = ${cfg.selfplay.batchSize}; topping up to ${t.length + moreT} with model-made seeds (seed.topUp)`);
    const made = await makeTripletSeeds(cfg, ports, t, t.length + moreT, log, signal);
    logMade("triplet", made, t.length + moreT, log);
    writeFileSync(join(runDir, "seed-triplets.jsonl"), made.entries.map((x) => tripletSeedLine(x, made.originals.get(x))).join("\n") + "\n");
    t = made.entries;
  }
  const moreI = topUp(i.length, cfg.seed.induction);
  if (moreI > 0) {
    log(`seeds: ${i.length} induction entries < B = ${cfg.selfplay.batchSize}; topping up to ${i.length + moreI} with model-made seeds (seed.topUp)`);
    const made = await makeInductionSeeds(cfg, ports, t, i, i.length + moreI, log, signal);
    logMade("induction", made, i.length + moreI, log);
    writeFileSync(join(runDir, "seed-induction.jsonl"), made.entries.map((x) => inductionSeedLine(x)).join("\n") + "\n");
    i = made.entries;
  }
  if (!cfg.selfplay.taskTypes.includes("error")) return { triplets: t, induction: i };
  // The error buffer: the seed.errors file (triplet lines whose output is the exception name), else the identity program (NoError).
  const errors = read(cfg.seed.errors, "errors", parseTripletSeedLine) ?? [{ ...identityTriplet(), output: NO_ERROR }];
  const e = await revalidate(ports.executor, errors, tripletCheck, judgeError, dropped);
  log(`seeds: ${e.length}/${errors.length} error-type entries re-validated`);
  if (e.length === 0) throw new RunFolderError(`no error-type seed survived re-validation${cfg.seed.errors ? `: check ${cfg.seed.errors}` : ""}`);
  return { triplets: t, induction: i, errors: e };
}

function logMade(what: string, m: MadeSeeds<unknown>, target: number, log: (s: string) => void): void {
  const why = Object.entries(m.rejected).map(([r, n]) => `${r} ×${n}`).join(", ");
  log(`seeds: the model made ${m.made} ${what} seeds in ${m.rounds} round(s)${why ? ` (rejected: ${why})` : ""}` +
    (m.entries.length < target ? `; stopped at seed.maxRounds = ${m.rounds} with ${m.entries.length}/${target}, continuing with those` : ""));
}
