/**
 * The make-corpus command end to end, small: files written, tokenizer.json loads from disk and
 * round-trips the corpus, the held-out programs never appear in pretraining, baselines computed,
 * and the command rebuilds byte-identical files from the same seeds.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Tokenizer } from "@huggingface/tokenizers";
import { makeCorpus, type CorpusStats } from "../../actors/base-model/make-corpus.ts";
import type { CorpusExample, ExecutedProgram } from "../../azr/corpus/format.ts";
import { programOverlapKey, type HeldOutTask } from "../../azr/corpus/heldout.ts";
import { normalisedProgramKey } from "../../azr/pysource.ts";

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const fresh = () => { const d = mkdtempSync(join(tmpdir(), "azr-corpus-")); dirs.push(d); return d; };
const lines = <T>(file: string): T[] => readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as T);
const OPTS = { seed: 5, programs: 80, evalSeed: 6, evalPrograms: 30, vocabSize: 512, workers: 2, tokenizerSample: 100000, hfCheckSample: 50, runner: "harness" as const, log: null };

describe("make-corpus", () => {
  it("writes corpus, tokenizer and a held-out set disjoint from pretraining", async () => {
    const out = fresh();
    const stats = await makeCorpus({ ...OPTS, out });
    const corpus = lines<CorpusExample>(join(out, "corpus.jsonl"));
    const train = lines<ExecutedProgram>(join(out, "programs.jsonl"));
    const heldOut = lines<HeldOutTask>(join(out, "heldout.jsonl"));
    assert.equal(corpus.length, stats.examples);
    assert.ok(train.length > 50 && heldOut.length >= 3 * 20, `${train.length} programs, ${heldOut.length} held-out tasks`);

    const trainKeys = new Set(train.map((p) => programOverlapKey(p.source)));
    assert.ok(heldOut.every((t) => !trainKeys.has(programOverlapKey(t.program))), "a held-out program is in pretraining");
    assert.equal(new Set(train.map((p) => normalisedProgramKey(p.source))).size, train.length, "pretraining programs are de-duplicated");

    const tok = new Tokenizer(JSON.parse(readFileSync(join(out, "tokenizer.json"), "utf8")), JSON.parse(readFileSync(join(out, "tokenizer_config.json"), "utf8")));
    let tokens = 0;
    for (const e of corpus) {
      const ids = tok.encode(e.text).ids;
      tokens += ids.length;
      assert.equal(tok.decode(ids), e.text);
    }
    assert.equal(stats.tokenizer.tokens, tokens);
    assert.equal(stats.tokenizer.vocabSize, 512);
    assert.ok(stats.tokenizer.charsPerToken > 2.5, `chars/token ${stats.tokenizer.charsPerToken}`);

    const onDisk = JSON.parse(readFileSync(join(out, "stats.json"), "utf8")) as CorpusStats;
    for (const b of ["constant", "copy"] as const)
      for (const t of ["deduction", "abduction", "induction"] as const) {
        const a = onDisk.baselines[b][t];
        assert.equal(a.total, heldOut.filter((x) => x.type === t).length);
        assert.ok(a.low <= a.accuracy && a.accuracy <= a.high && a.high <= 1);
      }
    // A baseline that copies the input is right on identity-like deductions only: far from perfect.
    assert.ok(onDisk.baselines.copy.deduction.accuracy < 0.3);
  });

  it("the command (sandboxed executor, its default) rebuilds what the harness built from the same seeds", async () => {
    const [a, b] = [fresh(), fresh()];
    await makeCorpus({ ...OPTS, seed: 3, programs: 40, evalPrograms: 15, vocabSize: 400, out: a });
    const r = spawnSync(process.execPath, ["--import", "tsx", "actors/base-model/make-corpus.ts", "--out", b, "--seed", "3", "--programs", "40", "--eval-seed", "6", "--eval-programs", "15", "--vocab-size", "400", "--hf-check-sample", "50"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /pretraining: 40\/40 programs/);
    assert.match(r.stdout, /tokenizer: vocab 400, [\d.]+ chars\/token/);
    assert.match(r.stdout, /constant deduction/);
    for (const f of ["corpus.jsonl", "tokenizer.json", "heldout.jsonl", "programs.jsonl"]) assert.equal(readFileSync(join(a, f), "utf8"), readFileSync(join(b, f), "utf8"), f);
  });

  it("--think trace: traced deduction examples think their pair's trace, everything else as without; --tokenizer keeps a model's tokenizer", async () => {
    const [plain, traced] = [fresh(), fresh()];
    await makeCorpus({ ...OPTS, seed: 3, programs: 40, evalPrograms: 15, out: plain, tokenizer: "data/tiny/tokenizer.json" });
    const stats = await makeCorpus({ ...OPTS, seed: 3, programs: 40, evalPrograms: 15, out: traced, tokenizer: "data/tiny/tokenizer.json", think: "trace" });
    assert.ok(stats.traced && stats.traced.pairs > 0.5 * stats.traced.of && stats.traced.pairs < stats.traced.of, JSON.stringify(stats.traced));
    for (const f of ["tokenizer.json", "tokenizer_config.json"]) assert.equal(readFileSync(join(traced, f), "utf8"), readFileSync(join("data/tiny", f), "utf8"), `${f} is data/tiny's, not trained`);
    const [a, b] = [lines<CorpusExample>(join(plain, "corpus.jsonl")), lines<CorpusExample>(join(traced, "corpus.jsonl"))];
    assert.equal(a.length, b.length);
    const programs = new Map(lines<ExecutedProgram>(join(traced, "programs.jsonl")).map((p) => [p.id, p] as const));
    let thinking = 0;
    a.forEach((x, i) => {
      const y = b[i];
      assert.equal(y.text.slice(0, y.promptChars), x.text.slice(0, x.promptChars), "same prompts in the same order");
      const think = y.text.slice(y.promptChars, y.text.indexOf("</think>", y.promptChars));
      if (y.form !== "deduction" || think === "\n") return assert.equal(y.text, x.text);
      thinking++;
      // the trace of the pair the example asks about, ending in its output
      const input = y.text.slice(y.text.indexOf("```input\n") + 9, y.text.indexOf("\n```", y.text.indexOf("```input\n")));
      const pair = programs.get(y.programId)!.pairs.find((p) => p.input === input)!;
      assert.equal(think, `\n${pair.trace}\n`);
      assert.ok(pair.trace!.endsWith(`return ${pair.output}`), pair.trace);
    });
    assert.ok(thinking > 20, `${thinking} deduction examples think a trace`);
  });

  it("refuses --think trace with the executor runner, and a missing --tokenizer file", async () => {
    await assert.rejects(makeCorpus({ ...OPTS, runner: "executor", think: "trace", out: fresh() }), /--think trace needs --runner harness/);
    await assert.rejects(makeCorpus({ ...OPTS, tokenizer: "no/such/tokenizer.json", out: fresh() }), /--tokenizer no\/such\/tokenizer\.json: no such file/);
    const foreign = join(fresh(), "tokenizer.json");
    const tok = JSON.parse(readFileSync("data/tiny/tokenizer.json", "utf8"));
    writeFileSync(foreign, JSON.stringify({ ...tok, added_tokens: [] }));
    await assert.rejects(makeCorpus({ ...OPTS, tokenizer: foreign, out: fresh() }), /no <\|endoftext\|> token: give a tokenizer make-corpus made/);
  });

  it("refuses an eval seed equal to the pretraining seed", async () => {
    await assert.rejects(makeCorpus({ ...OPTS, evalSeed: OPTS.seed, out: fresh() }), /--eval-seed must differ/);
  });
});
