/**
 * `azr base-model --resume` on a work dir without a checkpoint (a first run, a mistyped --work-dir)
 * trains from step 0: it says so in one line, where "resumed at step N" would have been, rather
 * than looking like a resumed run. The corpus here is empty, so no training starts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { azrSync } from "../helpers/cli.ts";

const azr = (...args: string[]) => azrSync(args, { timeoutMs: 30_000 });

const tmp = mkdtempSync(join(tmpdir(), "azr-base-model-resume-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const corpus = join(tmp, "corpus");
mkdirSync(corpus);
for (const f of ["corpus.jsonl", "tokenizer.json"]) writeFileSync(join(corpus, f), "");
const said = (work: string) => new RegExp(`^azr base-model: --resume: no checkpoint in ${work}, starting a new pretraining$`, "m");

test("base-model --resume without a checkpoint says it starts a new pretraining; with one it does not", () => {
  const empty = join(tmp, "empty-work");
  const r = azr("base-model", "--corpus", corpus, "--out", join(tmp, "out"), "--work-dir", empty, "--resume", "--max-steps", "5", "--warmup", "0");
  assert.match(r.stdout, said(empty), `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.equal(r.stdout.match(new RegExp(said(empty).source, "gm"))?.length, 1, "said once");

  // torch's checkpoint is not one the ort engine resumes from.
  const torchOnly = join(tmp, "torch-work");
  mkdirSync(torchOnly);
  writeFileSync(join(torchOnly, "checkpoint.pt"), "");
  assert.match(azr("base-model", "--corpus", corpus, "--work-dir", torchOnly, "--resume", "--max-steps", "5", "--warmup", "0").stdout, said(torchOnly));

  // A new torch run needs its schedule, --resume or not: refused after saying why it is new.
  const t = azr("base-model", "--engine", "torch", "--corpus", corpus, "--work-dir", empty, "--resume");
  assert.match(t.stdout, said(empty));
  assert.equal(t.status, 2, t.stderr);
  assert.match(t.stderr, /^azr base-model: --engine torch needs --max-steps N/);

  const ckpt = join(tmp, "ckpt-work");
  mkdirSync(join(ckpt, "checkpoint"), { recursive: true });
  writeFileSync(join(ckpt, "checkpoint", "complete"), "");
  const resumed = azr("base-model", "--corpus", corpus, "--work-dir", ckpt, "--resume", "--max-steps", "5", "--warmup", "0");
  assert.doesNotMatch(resumed.stdout + resumed.stderr, /no checkpoint in/);
});
