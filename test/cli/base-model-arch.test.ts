/**
 * `azr base-model --arch key=value` pretrains another shape of the tiny model on either engine, and a
 * resume with a shape other than its checkpoint's is refused in one line naming both (torch failed
 * inside the trainer with tensor shape errors; ort silently kept the checkpoint's shape).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ArchError, parseArchOverrides } from "../../actors/base-model/arch.ts";
import { writeSmallCorpus } from "../base-model/small-corpus.ts";
import { azrSync } from "../helpers/cli.ts";

const azr = (...args: string[]) => azrSync(args, { timeoutMs: 120_000 });

const tmp = mkdtempSync(join(tmpdir(), "azr-base-model-arch-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const corpus = join(tmp, "corpus");
mkdirSync(corpus);
writeSmallCorpus(corpus);
const SMALL = "hidden_size=64,intermediate_size=96,num_hidden_layers=1";
const config = (dir: string) => JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, number>;

test("parseArchOverrides - fields, commas, and refusals naming the fix", () => {
  assert.deepEqual(parseArchOverrides(["hidden_size=256,intermediate_size=768", "num_hidden_layers=6"]), { hidden_size: 256, intermediate_size: 768, num_hidden_layers: 6 });
  assert.deepEqual(parseArchOverrides([]), {});
  assert.throws(() => parseArchOverrides(["vocab_size=50"]), (e) => e instanceof ArchError && /'vocab_size' is not a shape field; use one of hidden_size/.test(e.message));
  assert.throws(() => parseArchOverrides(["hidden_size=2.5"]), /hidden_size needs a positive integer/);
  assert.throws(() => parseArchOverrides(["hidden_size"]), /hidden_size needs a positive integer/);
  assert.throws(() => parseArchOverrides(["num_hidden_layers=0"]), /positive integer/);
  assert.throws(() => parseArchOverrides(["num_key_value_heads=3"]), /num_attention_heads 4 is not a multiple of num_key_value_heads 3/);
  assert.throws(() => parseArchOverrides(["hidden_size=130"]), /hidden_size 130 does not split into 4 heads/);
  assert.deepEqual(parseArchOverrides(["hidden_size=130,head_dim=32"]), { hidden_size: 130, head_dim: 32 }, "an explicit head_dim lifts the split rule");
});

test("base-model --arch: a bad field is one line, exit 2, before any data is read", () => {
  const r = azr("base-model", "--corpus", corpus, "--out", join(tmp, "bad-out"), "--work-dir", join(tmp, "bad-work"), "--max-steps", "2", "--arch", "hidden=64");
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /^azr base-model: --arch hidden=64: 'hidden' is not a shape field/);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
});

for (const engine of ["ort", "torch"] as const) {
  test(`base-model --engine ${engine} --arch trains that shape; a resume with another shape is refused, with the same one it continues`, { timeout: 300_000 }, () => {
    const out = join(tmp, `${engine}-out`), work = join(tmp, `${engine}-work`);
    const base = ["base-model", "--engine", engine, "--corpus", corpus, "--out", out, "--work-dir", work, "--warmup", "0", "--save-every", "1"];
    const extra = engine === "torch" ? ["--device", "cpu", "--batch-tokens", "2048"] : ["--batch-tokens", "128"]; // ort: one epoch of this 5-example corpus must hold 3 steps
    const first = azr(...base, ...extra, "--max-steps", "2", "--arch", SMALL);
    assert.equal(first.status, 0, first.stdout + first.stderr);
    const c = config(out);
    assert.equal(c.hidden_size, 64);
    assert.equal(c.intermediate_size, 96);
    assert.equal(c.num_hidden_layers, 1);
    assert.equal(c.head_dim, 16, "head_dim follows hidden_size / heads");

    const other = azr(...base, ...extra, "--max-steps", "3", "--resume", "--arch", "hidden_size=32,intermediate_size=96,num_hidden_layers=1");
    assert.equal(other.status, 2, other.stdout + other.stderr);
    assert.match(other.stderr, /^azr base-model: --resume: the checkpoint in .* has another shape: hidden_size 64 \(asked: 32\); resume with the --arch it was started with/);
    const none = azr(...base, ...extra, "--max-steps", "3", "--resume");
    assert.equal(none.status, 2, "no --arch asks for the default shape, which is not the checkpoint's");
    assert.match(none.stderr, /hidden_size 64 \(asked: 128\), intermediate_size 96 \(asked: 384\), num_hidden_layers 1 \(asked: 4\)/);

    const same = azr(...base, ...extra, "--max-steps", "3", "--resume", "--arch", SMALL);
    assert.equal(same.status, 0, same.stdout + same.stderr);
    assert.match(same.stdout, /resumed at step 2\/3/);
    assert.equal(config(out).hidden_size, 64);
  });
}
