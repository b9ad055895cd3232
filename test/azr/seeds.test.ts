/**
 * The published seed files (../shared/azr-seeds) read through azr's parsers: every line parses,
 * the proposal-side rules hold where the spec says they do, and the known defects the spec
 * lists (truncated outputs, non-literal inputs, duplicates) are visible to our functions.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { admitEntries, parseInductionSeedLine, parseSeedFile, parseTripletSeedLine } from "../../azr/buffers.ts";
import { prepareProgram } from "../../azr/proposal.ts";
import { tryParseArgs, tryParseLiteral } from "../../azr/literal.ts";
import { SEEDS_DIR } from "../helpers/shared.ts";

const SEEDS = SEEDS_DIR;
const skip = existsSync(SEEDS) ? false : `${SEEDS} is absent (the shared seed files are not on this machine); nothing to read`;

test("seeds - 7b triplet seeds parse; programs, inputs and outputs read as the spec describes", { skip }, (t) => {
  const entries = parseSeedFile(readFileSync(`${SEEDS}/7b_seed_io.jsonl`, "utf8"), "7b_seed_io.jsonl", 4 * 64, parseTripletSeedLine);
  assert.equal(entries.length, 256);
  assert.deepEqual([entries[0].program, entries[0].input, entries[0].output], ["def f(a):\n    return a", '"Hello world"', '"Hello world"'], "starts with the identity triplet");
  let programs = 0, inputs = 0, outputs = 0, truncated = 0;
  for (const e of entries) {
    if (prepareProgram(e.program, { rejectMultipleFunctions: true, entryFunction: "first" }).ok) programs++;
    if (tryParseArgs(e.input)) inputs++;
    if (tryParseLiteral(e.output)) outputs++;
    if (/\.\.\./.test(e.output) && e.output.length >= 403) truncated++;
  }
  t.diagnostic(`256 entries: ${programs} pass the one-function rule, ${inputs} literal inputs, ${outputs} literal outputs, ${truncated} truncated at 400 chars`);
  assert.ok(programs > 200 && inputs > 240 && outputs > 200, "most entries are usable");
  const dedup = admitEntries([], entries, { dedupe: "exact", maxEntries: 16384, capPolicy: "evict-oldest" });
  t.diagnostic(`exact de-duplication keeps ${dedup.entries.length} of 256`);
  assert.ok(dedup.entries.length <= 256 && dedup.entries.length > 200);
});

test("seeds - induction seeds parse; the identity seed has a non-literal input (dict(a=1, b=2))", { skip }, (t) => {
  const entries = parseSeedFile(readFileSync(`${SEEDS}/7b_code_f_seed_io.jsonl`, "utf8"), "7b_code_f_seed_io.jsonl", 256, parseInductionSeedLine);
  assert.equal(entries.length, 256);
  assert.equal(entries[0].inputs.length, 6);
  assert.equal(tryParseArgs(entries[0].inputs[2]), undefined, "dict(a=1, b=2) is a call, not a literal: re-validation drops it");
  const tenInputs = entries.filter((e) => e.inputs.length === 10).length;
  const allLiteral = entries.filter((e) => e.inputs.every((x) => tryParseArgs(x))).length;
  t.diagnostic(`${tenInputs} entries with N = 10 inputs, ${allLiteral} with all-literal inputs`);
  assert.ok(tenInputs > 200 && allLiteral > 200);
});

test("seeds - Llama seeds: 64 lines, and the last-def entry rule applies to multi-function programs", { skip }, () => {
  const entries = parseSeedFile(readFileSync(`${SEEDS}/llama_64_seed_io.jsonl`, "utf8"), "llama_64_seed_io.jsonl", 64, parseTripletSeedLine);
  assert.equal(entries.length, 64);
  const prepared = entries.map((e) => prepareProgram(e.program, { rejectMultipleFunctions: false, entryFunction: "last" }));
  assert.ok(prepared.filter((p) => p.ok).length >= 60);
});
