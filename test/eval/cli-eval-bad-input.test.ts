/**
 * `azr eval` on bad input and on interruption, with the shipped tiny model (data/tiny, real
 * onnxruntime and the real sandboxed executor): each mistake is one line naming the thing and
 * the fix, exit code 2, before any work starts; Ctrl-C keeps the records and says how to resume;
 * a second evaluation into the same --out is refused; --compare refuses files it cannot compare.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { azrSync, cliEnv, ROOT } from "../helpers/cli.ts";
import { benchmarksDir } from "../../actors/eval/paths.ts";

const fixture = (n: string) => join(import.meta.dirname, "fixtures", n);
const lines = (file: string) => readFileSync(file, "utf8").split("\n").filter((l) => l.trim());

describe("azr eval on bad input and interruption", () => {
  let dir: string;
  const env = () => ({ ...cliEnv(), XDG_CACHE_HOME: join(dir, "cache") });
  const tiny = (out: string, ...more: string[]) => ["eval", "--model", "data/tiny", "--suite", "tiny", "--proposals", "0", "--workers", "1", "--out", out, ...more];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "azr-eval-bad-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a model folder without tokenizer.json: exit 2 naming it, before a record file is started", () => {
    const model = join(dir, "no-tokenizer");
    mkdirSync(model);
    for (const f of ["config.json", "model.safetensors"]) copyFileSync(join(ROOT, "data/tiny", f), join(model, f));
    const out = join(dir, "no-tok.json");
    const r = azrSync(tiny(out, "--limit", "3").map((a) => (a === "data/tiny" ? model : a)), { env: env() });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /no tokenizer\.json in .*no-tokenizer/);
    assert.equal(existsSync(join(dir, "no-tok.problems.jsonl")), false, "no record file for a run that cannot start");
  });

  it("a missing, truncated or malformed benchmark file: exit 2 naming the file and the fix", () => {
    const src = benchmarksDir();
    const bench = join(dir, "bench");
    mkdirSync(join(bench, "code"), { recursive: true });
    const code = (from = bench) => azrSync(["eval", "--model", "data/tiny", "--suite", "code", "--limit", "1", "--workers", "1", "--benchmarks", from, "--out", join(dir, "code.json")], { env: env() });
    writeFileSync(join(bench, "code/HumanEvalPlus.jsonl.gz"), readFileSync(join(src, "code/HumanEvalPlus.jsonl.gz")).subarray(0, 50_000));
    copyFileSync(join(src, "code/MbppPlus.jsonl"), join(bench, "code/MbppPlus.jsonl"));
    let r = code();
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /HumanEvalPlus\.jsonl\.gz: .*truncated or damaged.*--benchmarks/);
    r = azrSync(["eval", "--suite", "code", "--self-check", "--limit", "1", "--workers", "1", "--benchmarks", bench], { env: env() });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /HumanEvalPlus\.jsonl\.gz: .*truncated or damaged/);

    copyFileSync(join(src, "code/HumanEvalPlus.jsonl.gz"), join(bench, "code/HumanEvalPlus.jsonl.gz"));
    writeFileSync(join(bench, "code/MbppPlus.jsonl"), lines(join(src, "code/MbppPlus.jsonl")).slice(0, 2).join("\n") + "\n{not json\n");
    r = code();
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /MbppPlus\.jsonl:3: not a JSON line/);

    rmSync(join(bench, "code/MbppPlus.jsonl"));
    r = code();
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /MbppPlus\.jsonl: no such file.*--benchmarks/);
    assert.doesNotMatch(r.stderr, /ENOENT/);

    r = code(join(dir, "no-such-folder"));
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /benchmark data not found at .*no-such-folder/);

    // a --data file whose first line is not JSON (LiveCodeBench: its first row says which kind of file it is)
    const bad = join(dir, "bad.jsonl");
    writeFileSync(bad, "not json\n");
    r = azrSync(["eval", "--model", "data/tiny", "--suite", "file", "--format", "lcb", "--data", bad, "--workers", "1", "--out", join(dir, "lcb.json")], { env: env() });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /bad\.jsonl:1: not a JSON line/);
  });

  it("--out under a file, or naming a records file: exit 2 before anything runs", () => {
    writeFileSync(join(dir, "a-file"), "x");
    let r = azrSync(tiny(join(dir, "a-file", "x.json"), "--limit", "3"), { env: env() });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--out .*a-file.*is a file, not a folder/);
    assert.doesNotMatch(r.stdout, /evaluating/);
    // --out base.problems.jsonl would write the results table over an earlier run's records
    const records = join(dir, "earlier.problems.jsonl");
    writeFileSync(records, "keep me\n");
    r = azrSync(tiny(records, "--limit", "3"), { env: env() });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--out .*earlier\.problems\.jsonl is a records file/);
    assert.equal(readFileSync(records, "utf8"), "keep me\n");
  });

  it("--compare refuses what it cannot compare and says when the earlier records cover part of this run", () => {
    const base = join(dir, "base.json");
    let r = azrSync(tiny(base, "--limit", "6"), { env: env() });
    assert.equal(r.status, 0, r.stderr);
    const baseRecords = join(dir, "base.problems.jsonl");
    const cmp = (out: string, against: string, ...more: string[]) => azrSync(tiny(join(dir, out), "--limit", "6", "--compare", against, ...more), { env: env() });

    // the results JSON instead of the records
    r = cmp("c1.json", base);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--compare .*base\.json holds no held-out \(--suite tiny\) records.*problems\.jsonl/);
    // a folder
    r = cmp("c1.json", dir);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--compare .* is a folder/);
    // this run's own records
    r = cmp("base.json", baseRecords);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--compare .* is this run's own record file/);
    // records of another held-out set: no task in common
    r = azrSync(tiny(join(dir, "other.json"), "--data", fixture("heldout.jsonl")), { env: env() });
    assert.equal(r.status, 0, r.stderr);
    r = cmp("c2.json", join(dir, "other.problems.jsonl"));
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--compare .*other\.problems\.jsonl shares no task with this run/);
    // an interrupted earlier run (its last record cut mid-line): compared, and said so
    const partial = join(dir, "partial.problems.jsonl");
    const kept = lines(baseRecords);
    writeFileSync(partial, kept.slice(0, 3).join("\n") + "\n" + kept[3].slice(0, 40));
    r = cmp("c3.json", partial);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /the earlier records cover 2 of this run's 6 tasks/);
  });

  it("Ctrl-C keeps the records, says how to resume and writes no results; a second run into the same --out is refused meanwhile", async () => {
    const out = join(dir, "long.json");
    const records = join(dir, "long.problems.jsonl");
    const args = tiny(out, "--limit", "900", "--batch-size", "1");
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "cli/bin.ts"), ...args], { cwd: ROOT, env: env() });
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
    try {
    await new Promise<void>((started, failed) => {
      child.stdout.on("data", (d) => {
        stdout += d;
        if ((stdout.match(/\[tiny\] \d+\/900/g) ?? []).length >= 3) started();
      });
      void exited.then(() => failed(new Error(`exited before its progress lines: ${stderr}`)));
    });
    const second = azrSync(args, { env: env() });
    assert.equal(second.status, 2, second.stderr);
    assert.match(second.stderr, /another azr eval \(pid \d+\) is writing .*long\.problems\.jsonl/);
    child.kill("SIGINT");
    const code = await exited;
    assert.equal(code, 130, stderr);
    const kept = lines(records).length - 1; // the header
    assert.ok(kept >= 3, `records kept: ${kept}`);
    assert.match(stderr, new RegExp(`interrupted: ${kept} of 900 problems kept in .*long\\.problems\\.jsonl; run the same command again to resume`));
    assert.equal(existsSync(out), false, "no results file for an unfinished run");
    for (const l of lines(records)) JSON.parse(l); // every kept line whole
    // the lock went with it: a rerun is not refused (it resumes; --limit 3 keeps it short)
    const rerun = azrSync(tiny(out, "--limit", "3"), { env: env() });
    assert.equal(rerun.status, 0, rerun.stderr);
    assert.match(rerun.stdout, /\[tiny\] resuming: 3\/3 already scored/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL"); // a failed assertion must not leave it running
    }
  });
});
