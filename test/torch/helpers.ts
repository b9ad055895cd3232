/** Test helpers for the torch engine: random tiny HF model folders made by test/torch/py/fixtures.py. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after } from "node:test";
import { findPython } from "../../model/python.ts";

const fixtures = fileURLToPath(new URL("./py/fixtures.py", import.meta.url));

/** A temp folder removed after the file's tests. */
export function useTempDir(prefix = "azr-torch-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a random `arch` model (config.json, safetensors, byte-level tokenizer.json: ids 0–255 are bytes, 257 is eos). */
export function makeModelDir(dir: string, arch: "qwen2" | "llama" | "qwen3", seed = 0): string {
  execFileSync(findPython().path, [fixtures, dir, arch, "--seed", String(seed)], { stdio: "pipe" });
  return dir;
}

export const EOS = 257;
export const BOS = 256;
/** Prompt ids for a string under the fixture tokenizer (bytes are ids). */
export const ids = (s: string): number[] => [BOS, ...Buffer.from(s, "utf8")];
