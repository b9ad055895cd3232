/**
 * make-heldout, small: a larger held-out set for a fixed pretraining set keeps make-corpus's
 * held-out set as its prefix, drops every program the model was pretrained on, writes the three
 * files `azr eval --suite tiny` reads, and refuses a pretraining file from its own seed.
 */
import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { makeCorpus } from "../../actors/base-model/make-corpus.ts";
import { makeHeldOut } from "../../actors/base-model/make-heldout.ts";
import type { ExecutedProgram } from "../../azr/corpus/format.ts";
import type { HeldOutTask } from "../../azr/corpus/heldout.ts";
import { normalisedProgramKey } from "../../azr/pysource.ts";

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const fresh = () => { const d = mkdtempSync(join(tmpdir(), "azr-heldout-")); dirs.push(d); return d; };
const lines = <T>(file: string): T[] => readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as T);

describe("make-heldout", () => {
  it("extends make-corpus's held-out set without any pretraining program", async () => {
    const corpus = fresh();
    await makeCorpus({ out: corpus, seed: 5, programs: 300, evalSeed: 6, evalPrograms: 20, vocabSize: 512, workers: 2, tokenizerSample: 2000, hfCheckSample: 10, runner: "harness", log: null });
    const small = lines<HeldOutTask>(join(corpus, "heldout.jsonl"));
    const train = lines<ExecutedProgram>(join(corpus, "programs.jsonl"));

    const out = fresh();
    const stats = await makeHeldOut({ out, pretraining: join(corpus, "programs.jsonl"), evalSeed: 6, evalPrograms: 80, workers: 2, runner: "harness", log: null });
    const large = lines<HeldOutTask>(join(out, "heldout.jsonl"));
    assert.deepEqual(large.slice(0, small.length), small, "make-corpus's held-out set is the prefix");
    assert.ok(large.length > small.length, `${large.length} tasks, no more than make-corpus's ${small.length}`);

    const trainKeys = new Set(train.map((p) => normalisedProgramKey(p.source)));
    assert.ok(large.every((t) => !trainKeys.has(normalisedProgramKey(t.program))), "a held-out program was pretrained on");
    // Small programs recur across seeds, so a 300-program pretraining set already covers some held-out ones.
    assert.ok(stats.removedForOverlap > 0, "the filter removed nothing: the test does not exercise it");

    const programs = lines<ExecutedProgram>(join(out, "heldout-programs.jsonl"));
    assert.equal(large.length, 3 * programs.length, "one deduction, abduction and induction task per program");
    const saved = JSON.parse(readFileSync(join(out, "heldout-baselines.json"), "utf8")) as { heldOutTasks: Record<string, number>; baselines: typeof stats.baselines };
    assert.deepEqual(saved.heldOutTasks, { deduction: programs.length, abduction: programs.length, induction: programs.length });
    assert.deepEqual(saved.baselines, stats.baselines);
    assert.equal(saved.baselines.copy.deduction.total, programs.length);
  });

  it("refuses pretraining programs from the held-out seed, and names a missing file", async () => {
    const dir = fresh();
    const own: ExecutedProgram = { id: "6:0", level: 0, template: "expression", params: ["int"], source: "def f(x):\n    return x", message: "m", pairs: [] } as unknown as ExecutedProgram;
    writeFileSync(join(dir, "programs.jsonl"), JSON.stringify(own) + "\n");
    await assert.rejects(makeHeldOut({ out: fresh(), pretraining: join(dir, "programs.jsonl"), evalSeed: 6, evalPrograms: 5, workers: 1, runner: "harness", log: null }), /--eval-seed 6 generated pretraining programs/);
    await assert.rejects(makeHeldOut({ out: fresh(), pretraining: join(dir, "missing.jsonl"), evalSeed: 6, evalPrograms: 5, workers: 1, runner: "harness", log: null }), /cannot read pretraining programs .*missing\.jsonl: ENOENT.*programs\.jsonl/);
  });
});
