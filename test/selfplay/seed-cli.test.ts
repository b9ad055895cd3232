/**
 * `azr seed` on a real (random) tiny model, onnxruntime and the sandboxed executor: it writes both
 * seed files in the published format, starting with the identity seeds, and says how to use them.
 * A random model proposes nothing valid, so one round per phase is enough to show the plumbing;
 * the seeding rules themselves are attacked in seeding.test.ts with a scripted model.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { identityTriplet, parseInductionSeedLine, parseSeedFile, parseTripletSeedLine } from "../../azr/index.ts";
import { seed } from "../../cli/commands/seed.ts";
import { writeRandomTinyModel } from "./fixtures.ts";

test("azr seed - writes <recipe>_seed_io.jsonl and <recipe>_code_f_seed_io.jsonl from the model's proposals", { timeout: 300_000 }, async () => {
  const model = writeRandomTinyModel(3);
  const out = mkdtempSync(join(tmpdir(), "azr-seeds-"));
  const lines: string[] = [];
  try {
    const r = await seed({ recipe: "tiny", set: [`model.path=${model}`, "selfplay.batchSize=2", "data.maxResponseTokens=24", "seed.maxRounds=1"], out, count: 3, threads: 1 }, (l) => lines.push(l));
    assert.equal(r.triplets.file, join(out, "tiny_seed_io.jsonl"));
    const triplets = parseSeedFile(readFileSync(r.triplets.file, "utf8"), r.triplets.file, 100, parseTripletSeedLine);
    const induction = parseSeedFile(readFileSync(r.induction.file, "utf8"), r.induction.file, 100, parseInductionSeedLine);
    assert.deepEqual(triplets[0], identityTriplet());
    assert.equal(triplets.length, r.triplets.count);
    assert.equal(induction.length, r.induction.count);
    assert.ok(lines.some((l) => /seeding triplets: round 1: .* → \d+\/3/.test(l)), lines.join("\n"));
    assert.ok(lines.some((l) => l.includes(`--set seed.dir=${out} --set seed.triplets=tiny_seed_io.jsonl`)), "says how to use the files");
  } finally {
    rmSync(out, { recursive: true, force: true });
    rmSync(model, { recursive: true, force: true });
  }
});
