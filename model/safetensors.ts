/**
 * safetensors read/write, streaming: each tensor is read from disk straight into its own
 * Float32Array (fp16/bf16 converted chunk by chunk), and written from it, so a large model is
 * never held twice. Covers: F32/F16/BF16 (read as fp32 — onnxruntime-node has no bf16), sharded
 * checkpoints with `model.safetensors.index.json`, one open file per load (SafetensorsReader: the
 * header and every tensor read through one descriptor, so a file renamed over the name meanwhile
 * — weight sync publishes versions that way — cannot give a mix of two files). Not: other dtypes
 * (ints, fp8), mmap.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync, writeSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export type StDtype = "F32" | "F16" | "BF16";

export interface TensorInfo {
  name: string;
  dtype: StDtype;
  shape: number[];
  /** Byte range inside the file (absolute offsets). */
  begin: number;
  end: number;
  file: string;
  /** Which file the header was read from (device, inode, size, mtime): readTensor refuses another
   * file found under the same name. Absent on a TensorInfo made by hand. */
  fileId?: string;
}

export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

const BYTES: Record<StDtype, number> = { F32: 4, F16: 2, BF16: 2 };
const CHUNK_ELEMS = 1 << 20;
/** The most bytes one readSync/writeSync call takes: Node refuses a length ≥ 2 GiB (RangeError), and
 * one fp32 tensor can be larger (Qwen2.5-7B's embedding is 2.18 GB). */
const IO_BYTES = 1 << 30;

/** Reads the header of one .safetensors file: tensor names, dtypes, shapes, byte ranges. */
export function readHeader(file: string): TensorInfo[] {
  const r = new SafetensorsReader(file);
  r.close();
  return r.tensors;
}

/** The identity of the file behind `fd`: a file renamed over the name has another inode; one
 * rewritten in place, another size or mtime. */
function fileId(fd: number): string {
  const st = fstatSync(fd, { bigint: true });
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
}

/**
 * One .safetensors file opened once: the header is read at construction, each tensor by `read`
 * with positional reads through the same descriptor, until `close`. Whatever is renamed over the
 * name meanwhile (weight sync writes each version to a temp file and renames it over the last),
 * every byte comes from the file whose header was read. Reopening the name per tensor could read
 * some tensors from one version and the rest from the next.
 */
export class SafetensorsReader {
  readonly tensors: TensorInfo[];
  #fd: number | undefined;

  constructor(readonly file: string) {
    if (!existsSync(file)) throw new SafetensorsError(`safetensors file not found: ${file}`);
    this.#fd = openSync(file, "r");
    try {
      this.tensors = parseHeader(this.#fd, file, fileId(this.#fd));
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** One tensor of this file (one of `tensors`, or its name) into a fresh Float32Array. */
  read(t: TensorInfo | string): Float32Array {
    if (this.#fd === undefined) throw new SafetensorsError(`${this.file}: read after close (a bug in the caller: read every tensor before closing the reader)`);
    const info = typeof t === "string" ? this.tensors.find((x) => x.name === t) : t;
    if (!info) throw new SafetensorsError(`${this.file}: no tensor ${t as string} in its header`);
    if (!this.tensors.includes(info)) throw new SafetensorsError(`${this.file}: tensor ${info.name} was not read from this reader's header (${info.file}): read it through the reader that listed it`);
    return readFrom(this.#fd, info);
  }

  close(): void {
    if (this.#fd === undefined) return;
    const fd = this.#fd;
    this.#fd = undefined;
    closeSync(fd);
  }
}

function parseHeader(fd: number, file: string, id: string): TensorInfo[] {
  const broken = (what: string) => new SafetensorsError(`${file}: ${what}; the file is damaged or incomplete (an interrupted download?): download or save it again`);
  const size = fstatSync(fd).size;
  const lenBuf = Buffer.alloc(8);
  readSync(fd, lenBuf, 0, 8, 0);
  const n = Number(lenBuf.readBigUInt64LE(0));
  if (n <= 0 || n > 100_000_000) throw new SafetensorsError(`${file}: header length ${n} is not plausible; is this a .safetensors file?`);
  if (8 + n > size) throw broken(`the header claims ${n} bytes but the file has only ${size}`);
  const hdr = Buffer.alloc(n);
  readSync(fd, hdr, 0, n, 8);
  let json: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    json = JSON.parse(hdr.toString("utf8"));
  } catch (e) {
    throw broken(`the header is not valid JSON (${(e as Error).message})`);
  }
  const out: TensorInfo[] = [];
  for (const [name, t] of Object.entries(json)) {
    if (name === "__metadata__") continue;
    if (!(t.dtype in BYTES)) throw new SafetensorsError(`${file}: tensor ${name} has dtype ${t.dtype}; azr reads F32, F16 and BF16 (convert the checkpoint to one of them)`);
    const [b, e] = t.data_offsets ?? [];
    if (!(Number.isSafeInteger(b) && Number.isSafeInteger(e) && 0 <= b && b <= e))
      throw broken(`tensor ${name} has data_offsets ${JSON.stringify(t.data_offsets)}, not a byte range [begin, end] with 0 ≤ begin ≤ end`);
    const begin = 8 + n + b, end = 8 + n + e;
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * BYTES[t.dtype as StDtype])
      throw new SafetensorsError(`${file}: tensor ${name} spans ${end - begin} bytes, shape [${t.shape}] × ${t.dtype} needs ${count * BYTES[t.dtype as StDtype]}`);
    if (end > size) throw broken(`tensor ${name} ends at byte ${end} but the file has only ${size}`);
    out.push({ name, dtype: t.dtype as StDtype, shape: t.shape, begin, end, file, fileId: id });
  }
  // Tensors must not share bytes: a header pointing two tensors at the same data is lying.
  const sorted = [...out].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < sorted.length; i++)
    if (sorted[i].begin < sorted[i - 1].end) throw broken(`tensors ${sorted[i - 1].name} and ${sorted[i].name} overlap (data_offsets)`);
  return out;
}

/** Every tensor of a model directory: `model.safetensors`, or the shards named by the index. */
export function listTensors(dir: string): TensorInfo[] {
  return modelFiles(dir).flatMap((f) => readHeader(f));
}

/** The safetensors files of a model directory: `model.safetensors`, or the shards named by the index. */
export function modelFiles(dir: string): string[] {
  const single = join(dir, "model.safetensors");
  const index = join(dir, "model.safetensors.index.json");
  if (existsSync(index)) {
    let map: Record<string, string> | undefined;
    try {
      map = (JSON.parse(readFileSync(index, "utf8")) as { weight_map?: Record<string, string> }).weight_map;
    } catch (e) {
      throw new SafetensorsError(`${index} is not valid JSON (${(e as Error).message}): download it again`);
    }
    if (!map || typeof map !== "object") throw new SafetensorsError(`${index} has no weight_map: download it again`);
    const files = [...new Set(Object.values(map))];
    const absent = files.filter((f) => !existsSync(join(dir, f)));
    if (absent.length)
      throw new SafetensorsError(`${dir}: ${absent.length} of the ${files.length} shards named by model.safetensors.index.json are missing (${absent.slice(0, 3).join(", ")}): download them into ${dir}`);
    return files.map((f) => join(dir, f));
  }
  if (existsSync(single)) return [single];
  throw new SafetensorsError(`no weights in ${dir}: expected model.safetensors or model.safetensors.index.json`);
}

export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
export function f32ToF16(x: number): number {
  f32[0] = x;
  const b = u32[0], s = (b >>> 16) & 0x8000, e = (b >>> 23) & 0xff, m = b & 0x7fffff;
  if (e === 0xff) return s | 0x7c00 | (m ? 0x200 : 0);
  const ne = e - 127 + 15;
  if (ne >= 31) return s | 0x7c00;
  if (ne <= 0) {
    if (ne < -10) return s; // below half the smallest subnormal
    // Subnormal: one shift of the 24-bit significand, rounding on every bit shifted out (two
    // shifts drop the bits below the first and round e.g. 2^-25·(1 + 2^-20) down to 0, not up to 2^-24).
    const mant = m | 0x800000, shift = 14 - ne; // 14..24
    const q = mant >>> shift, rem = mant - q * 2 ** shift, half = 2 ** (shift - 1);
    return s | (q + (rem > half || (rem === half && q & 1) ? 1 : 0));
  }
  const r = (m + 0xfff + ((m >>> 13) & 1)) >>> 13; // round to nearest even, may carry into e
  return (s | (ne << 10)) + r;
}
export function f32ToBf16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7fffffff) > 0x7f800000) return (b >>> 16) | 0x40;
  return (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
}

/**
 * Reads one tensor into a fresh Float32Array, opening its file again. Refused when the file under
 * that name is no longer the one whose header listed `t` (renamed over, rewritten): its bytes would
 * be another version's. Reading several tensors of one file: SafetensorsReader, which opens it once.
 */
export function readTensor(t: TensorInfo): Float32Array {
  const fd = openSync(t.file, "r");
  try {
    if (t.fileId !== undefined && fileId(fd) !== t.fileId)
      throw new SafetensorsError(`${t.file} was replaced (renamed over or rewritten) after its header was read: tensor ${t.name} would come from another file than the header; read the file again (SafetensorsReader reads header and tensors through one open file)`);
    return readFrom(fd, t);
  } finally {
    closeSync(fd);
  }
}

/** One tensor from the open file `fd`, fp16/bf16 converted chunk by chunk. */
function readFrom(fd: number, t: TensorInfo): Float32Array {
  const count = t.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(count);
  if (t.dtype === "F32") {
    readFully(fd, new Uint8Array(out.buffer), t.begin, t.file);
    return out;
  }
  const chunk = new Uint16Array(Math.min(count, CHUNK_ELEMS));
  const u8 = new Uint8Array(chunk.buffer);
  const o32 = new Uint32Array(out.buffer);
  for (let i = 0; i < count; i += chunk.length) {
    const n = Math.min(chunk.length, count - i);
    readFully(fd, u8.subarray(0, 2 * n), t.begin + 2 * i, t.file);
    if (t.dtype === "BF16") for (let j = 0; j < n; j++) o32[i + j] = chunk[j] << 16;
    else for (let j = 0; j < n; j++) out[i + j] = f16ToF32(chunk[j]);
  }
  return out;
}

/** Every tensor of one .safetensors file as flat fp32 arrays, header and tensors read through one open file. */
export function readSafetensors(file: string): Map<string, Float32Array> {
  const r = new SafetensorsReader(file);
  try {
    return new Map(r.tensors.map((t) => [t.name, r.read(t)]));
  } finally {
    r.close();
  }
}

function readFully(fd: number, dst: Uint8Array, pos: number, file: string): void {
  let done = 0;
  while (done < dst.length) {
    const n = readSync(fd, dst, done, Math.min(dst.length - done, IO_BYTES), pos + done);
    if (n === 0) throw new SafetensorsError(`${file}: unexpected end of file at byte ${pos + done} (it shrank after its header was read?)`);
    done += n;
  }
}

/** Writes all of `src` at the file position, in slices Node accepts (it may also write fewer bytes than asked). */
export function writeFully(fd: number, src: Uint8Array): void {
  for (let done = 0; done < src.length; ) done += writeSync(fd, src, done, Math.min(src.length - done, IO_BYTES));
}

export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Writes tensors to one .safetensors file in `dtype`, converting chunk by chunk. */
export function writeSafetensors(file: string, tensors: NamedTensor[], dtype: StDtype = "F32", metadata: Record<string, string> = { format: "pt" }): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let off = 0;
  for (const t of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new SafetensorsError(`tensor ${t.name}: shape [${t.shape}] needs ${count} values, has ${t.data.length}`);
    header[t.name] = { dtype, shape: t.shape, data_offsets: [off, off + count * BYTES[dtype]] };
    off += count * BYTES[dtype];
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // keeps tensor data 8-byte aligned (in bytes: a name may be non-ASCII)
  const fd = openSync(file, "w");
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    writeSync(fd, len);
    writeSync(fd, Buffer.from(json, "utf8"));
    for (const t of tensors) {
      if (dtype === "F32") {
        writeFully(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
        continue;
      }
      const chunk = new Uint16Array(Math.min(t.data.length, CHUNK_ELEMS));
      for (let i = 0; i < t.data.length; i += chunk.length) {
        const n = Math.min(chunk.length, t.data.length - i);
        for (let j = 0; j < n; j++) chunk[j] = dtype === "BF16" ? f32ToBf16(t.data[i + j]) : f32ToF16(t.data[i + j]);
        writeFully(fd, new Uint8Array(chunk.buffer, 0, 2 * n));
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** Writes shards of at most `maxShardBytes` plus `model.safetensors.index.json`. */
export function writeSharded(dir: string, tensors: NamedTensor[], maxShardBytes: number, dtype: StDtype = "F32"): string[] {
  const shards: NamedTensor[][] = [[]];
  let size = 0;
  for (const t of tensors) {
    const bytes = t.data.length * BYTES[dtype];
    if (size + bytes > maxShardBytes && shards[shards.length - 1].length > 0) (shards.push([]), (size = 0));
    shards[shards.length - 1].push(t);
    size += bytes;
  }
  const names = shards.map((_, i) => `model-${String(i + 1).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.safetensors`);
  const weightMap: Record<string, string> = {};
  shards.forEach((s, i) => {
    writeSafetensors(join(dir, names[i]), s, dtype);
    for (const t of s) weightMap[t.name] = names[i];
  });
  const total = tensors.reduce((a, t) => a + t.data.length * BYTES[dtype], 0);
  writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
  return names;
}
