/** safetensors I/O and config.json mapping: dtypes, shards, and the errors users will meet. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync, rmSync, statSync, statfsSync, truncateSync } from "node:fs";
import { freemem, tmpdir } from "node:os";
import { join } from "node:path";
import { f16ToF32, f32ToBf16, f32ToF16, readHeader, readTensor, writeSafetensors } from "../../model/safetensors.ts";
import { loadModel, loadWeights, randomWeights, saveModel } from "../../model/checkpoint.ts";
import { parseConfig, paramCount, readConfig } from "../../model/config.ts";
import { smallConfigs } from "./fixtures.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "azr-ckpt-"));

test("safetensors - every finite fp16 bit pattern survives fp16 → fp32 → fp16", () => {
  for (let h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) === 0x7c00 && h & 0x3ff) continue; // NaNs
    assert.equal(f32ToF16(f16ToF32(h)), h, `pattern ${h.toString(16)}`);
  }
  assert.equal(f32ToF16(1 + 2 ** -11), f32ToF16(1)); // tie rounds to even
  assert.equal(f32ToF16(70000), 0x7c00); // overflow → inf
  assert.equal(f32ToBf16(1.00390625), 0x3f80); // 1 + 2^-8 ties to even
});

test("safetensors - fp32 → fp16 into the subnormals rounds on every bit shifted out (as numpy/torch)", () => {
  // just above a tie: the bit that breaks it lies below the first shift; reference: numpy .astype(float16)
  assert.equal(f32ToF16(2 ** -25 * (1 + 2 ** -20)), 0x0001); // was 0
  assert.equal(f32ToF16(2 ** -15 * (1 + 2 ** -10 + 2 ** -23)), 0x0201); // was 0x0200
  assert.equal(f32ToF16(-(2 ** -25) * (1 + 2 ** -23)), 0x8001);
  assert.equal(f32ToF16(2 ** -25), 0); // exact ties still go to even
  assert.equal(f32ToF16(3 * 2 ** -25), 0x0002);
  assert.equal(f32ToF16(2 ** -14 * (1 - 2 ** -12)), 0x0400); // rounds up into the smallest normal
  assert.equal(f32ToF16(2 ** -26), 0);
});

/** Bytes free to this user on the disk holding `dir`. */
function freeDisk(dir: string): number {
  const st = statfsSync(dir);
  return st.bavail * st.bsize;
}

test("safetensors - an fp32 tensor over 2 GiB (Qwen2.5-7B's embedding) is written and read back whole", { skip: (freemem() < 6 * 2 ** 30 && "needs 6 GiB of free memory") || (freeDisk(tmpdir()) < 3 * 2 ** 30 && "needs 3 GiB free on the temp disk") }, () => {
  const dir = tmp();
  try {
    const n = 2 ** 29 + 8; // 2 GiB + 32 bytes: more than one read/write call of Node takes
    const data = new Float32Array(n);
    for (let i = 0; i < 8; i++) (data[i] = i + 1), (data[n - 1 - i] = -(i + 1));
    const file = join(dir, "big.safetensors");
    writeSafetensors(file, [{ name: "w", shape: [n / 8, 8], data }, { name: "b", shape: [2], data: Float32Array.of(7, 9) }]);
    const [w, b] = readHeader(file);
    assert.equal(statSync(file).size, b.end);
    assert.deepEqual(readTensor(b), Float32Array.of(7, 9));
    const back = readTensor(w);
    for (let i = 0; i < 8; i++) assert.ok(back[i] === i + 1 && back[n - 1 - i] === -(i + 1), `element ${i} from either end`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("safetensors - F32, F16 and BF16 files read back as the fp32 values they encode", () => {
  const dir = tmp();
  const data = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 3);
  for (const dtype of ["F32", "F16", "BF16"] as const) {
    const file = join(dir, `${dtype}.safetensors`);
    writeSafetensors(file, [{ name: "w", shape: [10, 100], data }], dtype);
    const [info] = readHeader(file);
    const back = readTensor(info);
    const tol = { F32: 0, F16: 2 ** -11 * 4, BF16: 2 ** -8 * 4 }[dtype];
    for (let i = 0; i < data.length; i++) assert.ok(Math.abs(back[i] - data[i]) <= tol, `${dtype}[${i}]: ${back[i]} vs ${data[i]}`);
    assert.deepEqual(info.shape, [10, 100]);
  }
});

test("checkpoint - sharded save loads back identical, with the index naming every tensor", () => {
  const config = smallConfigs.llama;
  const weights = randomWeights(config, 3);
  const dir = tmp();
  saveModel(dir, config, weights, { maxShardBytes: 100_000 });
  const index = JSON.parse(readFileSync(join(dir, "model.safetensors.index.json"), "utf8"));
  assert.ok(new Set(Object.values(index.weight_map)).size > 1, "expected several shards");
  const back = loadModel(dir);
  assert.deepEqual(back.config, config);
  for (const [name, w] of weights) assert.deepEqual(back.weights.get(name), w, name);
  assert.equal(paramCount(config), [...weights.values()].reduce((a, w) => a + w.length, 0));
});

test("checkpoint - bf16 checkpoint loads as fp32", () => {
  const config = smallConfigs.qwen3;
  const dir = tmp();
  saveModel(dir, config, randomWeights(config, 4), { dtype: "BF16" });
  const w = loadModel(dir).weights.get("model.layers.0.self_attn.q_norm.weight")!;
  assert.equal(w.length, config.headDim);
  assert.ok(w.every((x) => Math.abs(x - 1) < 0.06));
});

test("checkpoint - clear errors: missing file, wrong shape, unknown architecture", () => {
  const config = smallConfigs.qwen2;
  const dir = tmp();
  assert.throws(() => readConfig(dir), /no config.json in .*Hugging Face model directory/);
  saveModel(dir, config, randomWeights(config, 5));
  rmSync(join(dir, "model.safetensors"));
  assert.throws(() => loadModel(dir), /expected model.safetensors or model.safetensors.index.json/);
  const wrong = { ...config, intermediateSize: config.intermediateSize + 1 };
  saveModel(dir, wrong, randomWeights(wrong, 5));
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...JSON.parse(readFileSync(join(dir, "config.json"), "utf8")), intermediate_size: config.intermediateSize }));
  assert.throws(() => loadWeights(dir, readConfig(dir)), /mlp.gate_proj.weight has shape \[113,64\], config.json implies \[112,64\]/);
  assert.throws(() => parseConfig({ architectures: ["GPT2LMHeadModel"] }), /unknown architecture GPT2LMHeadModel; azr supports Qwen2ForCausalLM/);
  assert.throws(() => parseConfig({ architectures: ["LlamaForCausalLM"], rope_scaling: { rope_type: "yarn" }, vocab_size: 1, hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2 }), /rope_scaling: rope_type 'yarn' is not supported; azr implements 'default', 'linear', 'llama3'/);
});

/** Rewrites a .safetensors file's header with `edit` (tensor data unchanged). */
function editHeader(file: string, edit: (h: Record<string, any>) => void): void {
  const b = readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  const h = JSON.parse(b.subarray(8, 8 + n).toString("utf8"));
  edit(h);
  const json = Buffer.from(JSON.stringify(h).padEnd(n, " "));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(file, Buffer.concat([len, json, b.subarray(8 + n)]));
}

test("safetensors - a truncated file, a lying header and a missing shard name the file and the fix", () => {
  const config = smallConfigs.qwen2;
  const fresh = () => {
    const dir = tmp();
    saveModel(dir, config, randomWeights(config, 6));
    return { dir, file: join(dir, "model.safetensors") };
  };
  const damaged = /damaged or incomplete \(an interrupted download\?\): download or save it again/;
  let { dir, file } = fresh();
  truncateSync(file, statSync(file).size - 100);
  assert.throws(() => loadModel(dir), (e: Error) => e.message.startsWith(file) && /model.norm.weight ends at byte \d+ but the file has only \d+/.test(e.message) && damaged.test(e.message));
  truncateSync(file, 50);
  assert.throws(() => loadModel(dir), (e: Error) => e.message.startsWith(file) && /the header claims \d+ bytes but the file has only 50/.test(e.message));
  ({ dir, file } = fresh());
  editHeader(file, (h) => (h["model.norm.weight"].data_offsets = [0, 64 * 4])); // the embedding's first bytes
  assert.throws(() => loadModel(dir), (e: Error) => e.message.startsWith(file) && /tensors model.(embed_tokens|norm).weight and model.(embed_tokens|norm).weight overlap/.test(e.message));
  editHeader(file, (h) => (h["model.norm.weight"].data_offsets = [-256, 0]));
  assert.throws(() => loadModel(dir), /model.norm.weight has data_offsets \[-256,0\], not a byte range/);
  ({ dir, file } = fresh());
  editHeader(file, (h) => (h["model.norm.weight"].dtype = "I32"));
  assert.throws(() => loadModel(dir), /model.norm.weight has dtype I32; azr reads F32, F16 and BF16 \(convert the checkpoint/);
  const sharded = tmp();
  saveModel(sharded, config, randomWeights(config, 6), { maxShardBytes: 100_000 });
  const index = join(sharded, "model.safetensors.index.json");
  const shard = Object.values(JSON.parse(readFileSync(index, "utf8")).weight_map as Record<string, string>)[0];
  rmSync(join(sharded, shard));
  assert.throws(() => loadModel(sharded), new RegExp(`1 of the \\d+ shards named by model.safetensors.index.json are missing \\(${shard}\\): download them into ${sharded}`));
  writeFileSync(index, "{");
  assert.throws(() => loadModel(sharded), new RegExp(`${index} is not valid JSON .*: download it again`));
});

test("checkpoint - a bf16 checkpoint loads as exactly the fp32 values its bf16 bits encode", () => {
  const config = smallConfigs.llama;
  const weights = randomWeights(config, 7, 0.1);
  const dir = tmp();
  saveModel(dir, config, weights, { dtype: "BF16" });
  const back = loadModel(dir).weights;
  const bits = new Uint32Array(1), f = new Float32Array(bits.buffer);
  for (const [name, w] of weights) {
    const r = back.get(name)!;
    for (let i = 0; i < w.length; i++) {
      bits[0] = f32ToBf16(w[i]) << 16;
      if (r[i] !== f[0]) assert.fail(`${name}[${i}]: ${r[i]} vs ${f[0]}`);
    }
  }
});
