/**
 * What identifies a model's files for resuming an evaluation: their content, cheaply. A file's
 * time stamps say nothing about what it holds (a copy, `touch`, a re-download of the same
 * weights all change them), so they are not part of it.
 *
 * Covers: one file's identity, and a model folder's as the list of its weight, config and
 * tokenizer files' identities (what `azr eval` writes into a record file's header).
 *
 * How: the size, and then
 *   - files up to {@link WHOLE_FILE_BYTES} (configs, tokenizers, small models): every byte;
 *   - larger .safetensors files: the JSON header (names, dtypes, shapes, offsets) and, of every
 *     tensor, a block at its start, middle and end. Training changes a tensor everywhere (each
 *     element gets its own update), so any block of a changed tensor shows it, and every tensor
 *     is looked at — a run that trains only some layers is still seen. About 12 KiB a tensor:
 *     a few MiB for a 7B model, read in well under a second where hashing all of it takes minutes;
 *   - other large files (.bin, .pt, .onnx_data, or a .safetensors whose header does not read):
 *     {@link SAMPLES} blocks spread evenly over the file.
 * What it misses: an edit confined to bytes no block covers in a large file — not a thing that
 * training or conversion does.
 */
import { createHash, type Hash } from "node:crypto";
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { join } from "node:path";

export const WHOLE_FILE_BYTES = 64 << 20;
const BLOCK = 4096;
const SAMPLES = 256;
const SPREAD_BLOCK = 64 << 10;

function feed(h: Hash, fd: number, start: number, length: number): void {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, start + got);
    if (n === 0) break;
    got += n;
  }
  h.update(buf.subarray(0, got));
}

/** Byte ranges to sample of a safetensors file, or undefined when its header does not read. */
function tensorBlocks(fd: number, size: number): [number, number][] | undefined {
  if (size < 8) return undefined;
  const len = Buffer.alloc(8);
  readSync(fd, len, 0, 8, 0);
  const n = Number(len.readBigUInt64LE(0));
  if (!(n > 0 && 8 + n <= size && n <= 100_000_000)) return undefined;
  const header = Buffer.alloc(n);
  readSync(fd, header, 0, n, 8);
  let json: Record<string, { data_offsets?: unknown }>;
  try {
    json = JSON.parse(header.toString("utf8"));
  } catch {
    return undefined;
  }
  const ranges: [number, number][] = [[0, 8 + n]];
  for (const [name, t] of Object.entries(json)) {
    if (name === "__metadata__") continue;
    const [b, e] = Array.isArray(t?.data_offsets) ? (t.data_offsets as number[]) : [];
    if (!(Number.isSafeInteger(b) && Number.isSafeInteger(e) && 0 <= b && b <= e && 8 + n + e <= size)) return undefined;
    const begin = 8 + n + b;
    const end = 8 + n + e;
    const len = Math.min(BLOCK, end - begin);
    for (const at of [begin, begin + Math.floor((end - begin - len) / 2), end - len]) ranges.push([at, len]);
  }
  return ranges;
}

function spreadBlocks(size: number): [number, number][] {
  const len = Math.min(SPREAD_BLOCK, size);
  const last = size - len;
  return Array.from({ length: SAMPLES }, (_, i) => [Math.floor((last * i) / (SAMPLES - 1)), len]);
}

/** The content identity of one file (hex): equal for the same bytes whatever the time stamps. */
export function fileIdentity(path: string, wholeFileBytes = WHOLE_FILE_BYTES): string {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const h = createHash("sha256").update(`${size}\n`);
    const ranges = size <= wholeFileBytes ? [[0, size] as [number, number]] : (path.endsWith(".safetensors") && tensorBlocks(fd, size)) || spreadBlocks(size);
    for (const [start, length] of ranges) feed(h, fd, start, length);
    return h.digest("hex").slice(0, 16);
  } finally {
    closeSync(fd);
  }
}

/**
 * Weight, config and tokenizer files of a model folder (and its onnx/), each as
 * name:size:identity — not its mtime, so a touched or copied model still resumes its records
 * and only other bytes make it another model.
 */
export function weightStamps(dir: string): string[] {
  const out: string[] = [];
  for (const sub of ["", "onnx"]) {
    const d = join(dir, sub);
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d).sort()) {
      if (!/\.(safetensors|onnx|onnx_data|bin|pt)$|^(config|tokenizer|model\.safetensors\.index)\.json$/.test(f)) continue;
      const st = statSync(join(d, f));
      if (st.isFile()) out.push(`${join(sub, f)}:${st.size}:${fileIdentity(join(d, f))}`);
    }
  }
  return out;
}
