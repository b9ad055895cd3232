/** Loaders of benchmarks given by path, on small hand-made files in each public format. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadCruxEval, loadLcbExecution, loadLcbGeneration, loadTinyHeldOut, stripCall } from "../../actors/eval/file-bench.ts";
import { loadMathBenchmark, MATH_BENCHMARKS } from "../../actors/eval/math-bench.ts";
import { parsePyJson, rawField, stringifyPyJson } from "../../actors/eval/pyjson.ts";
import { benchmarksDir } from "../../actors/eval/paths.ts";
import { formatResults, FULL_SIZE, summarise } from "../../actors/eval/report.ts";

const fx = (name: string) => join(dirname(fileURLToPath(import.meta.url)), "fixtures", name);

describe("file benchmarks", () => {
  it("cruxeval: each row is a CruxEval-O (deduction) and a CruxEval-I (abduction) task", () => {
    const ps = loadCruxEval(fx("cruxeval.jsonl"));
    assert.equal(ps.length, 4);
    assert.deepEqual(ps.map((p) => p.benchmark), ["cruxeval-o", "cruxeval-i", "cruxeval-o", "cruxeval-i"]);
    assert.deepEqual(ps[2].check, { type: "deduction", program: "def f(text, ch):\n    return text.count(ch)", input: "'banana', 'a'", output: "3" });
    assert.equal(ps[3].prompt.type, "abduction");
  });
  it("lcb execution: scored as deduction, call stripped, entry f added", () => {
    const ps = loadLcbExecution(fx("lcb-execution.jsonl"));
    assert.equal(ps[0].benchmark, "lcb-execution");
    assert.equal(ps[0].check.type, "deduction");
    assert.equal((ps[0].check as { input: string }).input, "nums = [1, 2, 3]");
    assert.match((ps[0].check as { program: string }).program, /def f\(\*args, \*\*kwargs\):\n {4}return distinctDifferenceArray/);
    assert.equal((ps[1].check as { input: string }).input, "2, 3");
    assert.equal(stripCall("g(1)", "f"), "g(1)", "a call to another function is an argument");
    assert.equal(stripCall("f(1) + f(2)", "f"), "f(1) + f(2)", "two calls are not one call's arguments");
    assert.equal(stripCall("f(1)(2)", undefined), "f(1)(2)");
    assert.equal(stripCall("f(')', g(2))", "f"), "')', g(2)", "brackets inside strings are skipped");
  });
  it("lcb generation: metadata saved as an object (not JSON text) still names the method", () => {
    const dir = mkdtempSync(join(tmpdir(), "azr-lcb-"));
    try {
      const row = JSON.parse(readFileSync(fx("lcb-generation.jsonl"), "utf8").trim().split("\n")[1]) as Record<string, unknown>;
      row.metadata = JSON.parse(row.metadata as string);
      writeFileSync(join(dir, "g.jsonl"), JSON.stringify(row) + "\n");
      assert.equal(loadLcbGeneration(join(dir, "g.jsonl"))[0].funcName, "add");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it("lcb generation: public tests as JSON, private tests through base64/zlib/pickle(str)", () => {
    const ps = loadLcbGeneration(fx("lcb-generation.jsonl"));
    assert.deepEqual(ps[0].tests, [{ input: "1\n", output: "2\n", testtype: "stdin" }, { input: "3\n", output: "6\n", testtype: "stdin" }]);
    assert.equal(ps[1].funcName, "add");
    assert.equal(ps[1].tests.length, 2);
    assert.match(ps[1].starterCode, /class Solution/);
  });
  it("tiny held-out: deduction, abduction and induction rows", () => {
    const ps = loadTinyHeldOut(fx("heldout.jsonl"));
    assert.deepEqual(ps.map((p) => p.check.type), ["deduction", "abduction", "induction"]);
    assert.deepEqual((ps[2].check as { hidden: unknown }).hidden, [{ input: "3", output: "9" }]);
  });
  it("a malformed line names the file and line", () => {
    assert.throws(() => loadCruxEval(fx("lcb-generation.jsonl")), /lcb-generation\.jsonl:1: missing "code"/);
  });
});

describe("python JSON", () => {
  it("reads Infinity and NaN and writes them back for Python", () => {
    const v = parsePyJson('[1, -Infinity, NaN, "Infinity"]') as number[];
    assert.equal(v[1], -Infinity);
    assert.ok(Number.isNaN(v[2]));
    assert.equal(v[3], "Infinity");
    assert.equal(stringifyPyJson(v), '[1,-Infinity,NaN,"Infinity"]');
  });
  it("keeps a field's text exactly (big ints, 1e+20)", () => {
    assert.equal(rawField('{"a": "x,]", "b": [[123456789012345678901, 1e+20]], "c": 1}', "b"), "[[123456789012345678901, 1e+20]]");
    assert.equal(rawField('{"a": 1}', "b"), undefined);
  });
});

describe("math benchmarks", () => {
  it("loads the six sets with a gold answer each", () => {
    const sizes = Object.fromEntries(MATH_BENCHMARKS.map((b) => [b, loadMathBenchmark(benchmarksDir(), b).length]));
    assert.deepEqual(sizes, { aime24: 30, aime25: 30, amc23: 40, math500: 500, minerva: 272, olympiadbench: 675 });
    const minerva = loadMathBenchmark(benchmarksDir(), "minerva")[0];
    assert.equal(minerva.gold, "1.6");
    assert.equal(minerva.units, false);
  });
});

describe("LiveCodeBench generation scoring in the sandbox", () => {
  it("passes right stdin and functional programs, fails wrong and hanging ones", async () => {
    const { EvalWorkerPool } = await import("../../actors/eval/worker-pool.ts");
    const { scoreLcb } = await import("../../actors/eval/lcb-score.ts");
    const [stdin, functional] = loadLcbGeneration(fx("lcb-generation.jsonl"));
    const pool = await EvalWorkerPool.start({ workers: 1 });
    try {
      assert.deepEqual(await scoreLcb(pool, stdin, "n = int(input())\nprint(2 * n)\n"), { pass: true });
      assert.equal((await scoreLcb(pool, stdin, "print(2)\n")).pass, false, "right on the public test only");
      assert.deepEqual(await scoreLcb(pool, functional, "class Solution:\n    def add(self, a, b):\n        return a + b\n"), { pass: true });
      assert.match((await scoreLcb(pool, functional, "class Solution:\n    def add(self, a, b):\n        while True: pass\n", 500)).detail!, /^timeout/);
    } finally {
      await pool.close();
    }
  });
});

describe("the results table (spec §10 averages)", () => {
  // n = 100 of each benchmark's full size (FULL_SIZE), c the correct share in percent
  const tally = (pairs: [string, number][]) => new Map(pairs.map(([b, c]) => [b, { n: FULL_SIZE[b], correct: (c * FULL_SIZE[b]) / 100 }]));
  it("Total Avg = (Code Avg + Math Avg) / 2, each a plain mean of its benchmarks", () => {
    const r = summarise("m", "all", "r1", tally([["humaneval+", 80], ["mbpp+", 70], ["lcb", 30], ["aime24", 10], ["aime25", 10], ["amc23", 40], ["math500", 70], ["minerva", 30], ["olympiadbench", 40]]), "Qwen/Qwen2.5-Coder-7B");
    assert.equal(r.codeAvg, 60);
    assert.equal(r.mathAvg, 200 / 6);
    assert.equal(r.totalAvg, (60 + 200 / 6) / 2);
    const text = formatResults(r);
    assert.match(text, /^Code Avg\s+60\.0\s+56\.6 → 61\.6$/m);
    assert.match(text, /^Total Avg\s+46\.7\s+40\.2 → 50\.4$/m);
    assert.doesNotMatch(text, /partial/);
  });
  it("an average over fewer benchmarks than the spec's is marked partial, beside the paper's", () => {
    const r = summarise("m", "all", "r1", tally([["humaneval+", 80], ["mbpp+", 70], ["aime24", 10], ["aime25", 10], ["amc23", 40], ["math500", 70], ["minerva", 30], ["olympiadbench", 40]]), "Qwen/Qwen2.5-7B");
    assert.deepEqual(r.codeAvgOf, ["humaneval+", "mbpp+"]);
    const text = formatResults(r);
    assert.match(text, /^Code Avg \*\s+75\.0\s+52\.0 → 55\.2$/m);
    assert.match(text, /^Math Avg\s+33\.3\s+27\.5 → 38\.4$/m);
    assert.match(text, /^Total Avg \*/m);
    assert.match(text, /partial: without lcb/);
  });
  it("an average over the first N problems of a benchmark (--limit) is marked partial too", () => {
    const r = summarise("m", "all", "r1", new Map([...tally([["humaneval+", 80], ["mbpp+", 70], ["lcb", 30], ["aime24", 10], ["aime25", 10], ["amc23", 40], ["minerva", 30], ["olympiadbench", 40]]), ["math500", { n: 5, correct: 4 }]]), "Qwen/Qwen2.5-7B");
    const text = formatResults(r);
    assert.match(text, /^Code Avg\s+60\.0\s+52\.0 → 55\.2$/m, "every code benchmark whole: not partial");
    assert.match(text, /^Math Avg \*\s+35\.0\s+27\.5 → 38\.4$/m);
    assert.match(text, /^Total Avg \*/m);
    assert.match(text, /partial: on 5\/500 of math500,/);
  });
});
