/**
 * Commands that would replace earlier work without a word: `azr base-model` on a work dir holding a
 * checkpoint (without --resume), `azr seed` over seed files already in --out; and `azr recipes list`,
 * which took the parent's --set and <name>. Each is refused with one line naming the thing and the
 * choices (exit code 2), before any model starts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { azrSync } from "../helpers/cli.ts";


/** Runs `azr …`; the timeout (SIGINT) keeps a regression that starts training or seeding from hanging the suite. */
const azr = (...args: string[]) => azrSync(args, { timeoutMs: 30_000 });

function refused(r: ReturnType<typeof azr>, command: string, message: RegExp): void {
  assert.equal(r.status, 2, `exit code (stdout: ${r.stdout.slice(-500)}; stderr: ${r.stderr.slice(-1500)})`);
  assert.match(r.stderr, new RegExp(`^azr ${command}: `));
  assert.match(r.stderr, message);
  assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at |Error:/, "no stack trace");
}

const tmp = mkdtempSync(join(tmpdir(), "azr-overwrite-guards-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const corpus = join(tmp, "corpus");
mkdirSync(corpus);
for (const f of ["corpus.jsonl", "tokenizer.json"]) writeFileSync(join(corpus, f), "");

test("base-model - a work dir holding a checkpoint is refused without --resume or --restart, and left as it was", () => {
  for (const [engine, ckpt] of [["ort", join("checkpoint", "complete")], ["torch", "checkpoint.pt"]] as const) {
    const work = join(tmp, `work-${engine}`);
    mkdirSync(join(work, "checkpoint"), { recursive: true });
    writeFileSync(join(work, ckpt), "trained for hours");
    const before = statSync(join(work, ckpt)).mtimeMs;
    const r = azr("base-model", "--engine", engine, "--corpus", corpus, "--out", join(tmp, "out"), "--work-dir", work, "--max-steps", "5", "--warmup", "0");
    const named = engine === "ort" ? join(work, "checkpoint") : join(work, "checkpoint.pt");
    refused(r, "base-model", new RegExp(`--work-dir ${work} already holds a checkpoint \\(${named}\\): continue it with --resume, or start over with --restart .*--work-dir`));
    assert.equal(readFileSync(join(work, ckpt), "utf8"), "trained for hours");
    assert.equal(statSync(join(work, ckpt)).mtimeMs, before);
  }
  const work = join(tmp, "work-ort");
  refused(azr("base-model", "--corpus", corpus, "--work-dir", work, "--resume", "--restart"), "base-model", /--resume and --restart contradict each other/);
  // --restart passes this check: the (empty) corpus is what stops it, so no training starts here.
  const r = azr("base-model", "--corpus", corpus, "--out", join(tmp, "out"), "--work-dir", work, "--max-steps", "5", "--warmup", "0", "--restart");
  assert.doesNotMatch(r.stderr, /already holds a checkpoint/);
  assert.match(azr("base-model", "--help").stdout, /--restart/);
});

test("seed - seed files already in --out are refused (named) unless --force; --help says seeding is not resumable", () => {
  const out = join(tmp, "seeds");
  mkdirSync(out);
  writeFileSync(join(out, "tiny_seed_io.jsonl"), "earlier\n");
  refused(azr("seed", "--count", "1", "--out", out), "seed", new RegExp(`--out ${out} already holds tiny_seed_io\\.jsonl: .*--force`));
  writeFileSync(join(out, "tiny_code_f_seed_io.jsonl"), "earlier\n");
  refused(azr("seed", "--count", "1", "--out", out), "seed", /already holds tiny_seed_io\.jsonl and tiny_code_f_seed_io\.jsonl: .*pass --force/);
  assert.equal(readFileSync(join(out, "tiny_seed_io.jsonl"), "utf8"), "earlier\n");
  const help = azr("seed", "--help").stdout.replace(/\s+/g, " ");
  assert.match(help, /not resumable/);
  assert.match(help, /--force/);
});

test("recipes - `list` has no <name> or --set: its help does not show them, and --set is refused, not ignored", () => {
  const help = azr("recipes", "list", "--help");
  assert.equal(help.status, 0);
  assert.doesNotMatch(help.stdout, /--set|Positionals|name/);
  const r = azr("recipes", "list", "--set", "selfplay.steps=3");
  assert.notEqual(r.status, 0, r.stdout);
  assert.match(r.stderr, /Unknown argument: set/);
  refused(azr("recipes", "--set", "selfplay.steps=3"), "recipes", /--set selfplay\.steps=3 needs a recipe/);
  // where --set applies it still works
  assert.match(azr("recipes", "show", "tiny", "--set", "selfplay.steps=3").stdout, /^selfplay\.steps = 3$/m);
  assert.match(azr("recipes", "tiny", "--set", "selfplay.steps=3").stdout, /"steps": 3/);
  assert.match(azr("recipes", "show", "--help").stdout, /--set/);
});
