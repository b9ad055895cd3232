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
import { generatePrograms } from "../../azr/corpus/programs.ts";
import { programOverlapKey, withoutHeldOut, type HeldOutTask } from "../../azr/corpus/heldout.ts";

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

    const trainKeys = new Set(train.map((p) => programOverlapKey(p.source)));
    assert.ok(large.every((t) => !trainKeys.has(programOverlapKey(t.program))), "a held-out program was pretrained on");
    // Small programs recur across seeds, so a 300-program pretraining set already covers some held-out ones.
    assert.ok(stats.removedForOverlap > 0, "the filter removed nothing: the test does not exercise it");

    const programs = lines<ExecutedProgram>(join(out, "heldout-programs.jsonl"));
    assert.equal(large.length, 3 * programs.length, "one deduction, abduction and induction task per program");
    const saved = JSON.parse(readFileSync(join(out, "heldout-baselines.json"), "utf8")) as { heldOutTasks: Record<string, number>; baselines: typeof stats.baselines };
    assert.deepEqual(saved.heldOutTasks, { deduction: programs.length, abduction: programs.length, induction: programs.length });
    assert.deepEqual(saved.baselines, stats.baselines);
    assert.equal(saved.baselines.copy.deduction.total, programs.length);
  });

  it("a program the model saw with other variable names overlaps; other functions do not", () => {
    const src = (lines: string[]) => ({ source: lines.join("\n") });
    const heldOut = [
      src(["def f(nums):", "    total = 0", "    for v in nums:", "        if v % 2 == 0:", "            total += v", "    return total"]),
      src(["def f(a, b):", "    return a - b"]),
      src(["def f(words):", "    return sorted(words, key=len)"]),
    ];
    const renamed = [
      src(["def f(xs):", "    acc = 0", "    for item in xs:", "        if item % 2 == 0:", "            acc += item", "    return acc"]),
      src(["def f(n, k):", "  return n-k"]),
      src(["def f(key):", "    return sorted(key, key=len)"]),
    ];
    const different = [
      src(["def f(a, b):", "    return b - a"]), // the same names, another function
      src(["def f(words):", "    return sorted(words, key=str)"]), // a builtin is not a variable
      src(["def f(s):", "    return s.lower()"]),
      src(["def f(s):", "    return s.upper()"]), // nor is an attribute
      src(["def f(nums):", "    total = 0", "    for v in nums:", "        if v % 2 == 0:", "            total += 1", "    return total"]),
    ];
    assert.deepEqual(withoutHeldOut(renamed, heldOut), { kept: [], removed: 3 });
    assert.deepEqual(withoutHeldOut(different, heldOut).removed, 0);
    // "text", how data/tiny's corpus was cut (make base-model rebuilds it so): renamed copies stay, whitespace does not matter
    assert.deepEqual(withoutHeldOut(renamed, heldOut, "text").removed, 0);
    assert.deepEqual(withoutHeldOut(heldOut.map((p) => ({ source: p.source.replace(/\n/g, "  \n") })), heldOut, "text").removed, heldOut.length);
    assert.equal(new Set(different.map((p) => programOverlapKey(p.source))).size, different.length);
    // On generated programs renamed copies are common: 2,000 held-out vs 20,000 pretraining programs share
    // 561 by text and 918 up to names (measured); a smaller sample must still show the gap.
    const train = generatePrograms({ seed: 1, count: 3000 }), held = generatePrograms({ seed: 1_000_003, count: 500 });
    const byText = new Set(train.map((p) => p.source));
    const left = withoutHeldOut(held, train).kept;
    assert.ok(left.length < held.filter((p) => !byText.has(p.source)).length, "no renamed copy of a pretraining program among 500 held-out ones");
  });

  it("refuses pretraining programs from the held-out seed, and names a missing file", async () => {
    const dir = fresh();
    const own: ExecutedProgram = { id: "6:0", level: 0, template: "expression", params: ["int"], source: "def f(x):\n    return x", message: "m", pairs: [] } as unknown as ExecutedProgram;
    writeFileSync(join(dir, "programs.jsonl"), JSON.stringify(own) + "\n");
    await assert.rejects(makeHeldOut({ out: fresh(), pretraining: join(dir, "programs.jsonl"), evalSeed: 6, evalPrograms: 5, workers: 1, runner: "harness", log: null }), /--eval-seed 6 generated pretraining programs/);
    await assert.rejects(makeHeldOut({ out: fresh(), pretraining: join(dir, "missing.jsonl"), evalSeed: 6, evalPrograms: 5, workers: 1, runner: "harness", log: null }), /cannot read pretraining programs .*missing\.jsonl: ENOENT.*programs\.jsonl/);
  });
});
