/**
 * LoRA adapters (PEFT semantics): for each targeted Linear y = x·Wᵀ, y' = y + s·(drop(x)·Aᵀ)·Bᵀ
 * with A [r, in], B [out, r], s = alpha / r; the base W stays frozen (it is still a graph input,
 * but no gradient is taken for it). The graph rewrite inserts the adapter right after each
 * targeted Gemm and rewires its readers; dropout masks (already scaled by 1/(1−p)) are graph
 * inputs drawn by the trainer's seeded RNG, so a resumed run draws the same masks.
 * Files: PEFT layout — adapter_config.json + adapter_model.safetensors with names
 * `base_model.model.<module>.lora_A.weight`; `mergeLora` folds adapters into full weights for export.
 * Covers: the q/k/v/o and gate/up/down projections of the decoder layers. Not: embedding or
 * lm_head adapters, DoRA, rsLoRA scaling.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import type { Graph, Value } from "../graph/builder.ts";
import { weightShapes, type ArchConfig } from "../config.ts";
import { SafetensorsReader, writeSafetensors } from "../safetensors.ts";

export interface LoraSettings {
  r: number;
  alpha: number;
  dropout: number;
  /** Module names as in PEFT: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj. */
  targetModules: string[];
}

export const DEFAULT_LORA: LoraSettings = { r: 8, alpha: 16, dropout: 0, targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] };

export class LoraError extends Error {
  override name = "LoraError";
}

export const PEFT_PREFIX = "base_model.model.";

/** `model.layers.0.self_attn.q_proj.weight` → `model.layers.0.self_attn.q_proj` if targeted. */
function targetedModule(weightName: string, s: LoraSettings): string | undefined {
  const m = /^(model\.layers\.\d+\.(?:self_attn|mlp)\.([a-z_]+))\.weight$/.exec(weightName);
  return m && s.targetModules.includes(m[2]) ? m[1] : undefined;
}

/** Adapter tensor names and shapes for a config: `<module>.lora_A.weight` [r,in], `.lora_B.weight` [out,r]. */
export function adapterShapes(c: ArchConfig, s: LoraSettings): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [name, [o, i]] of weightShapes(c)) {
    const mod = targetedModule(name, s);
    if (!mod) continue;
    out.set(`${mod}.lora_A.weight`, [s.r, i]);
    out.set(`${mod}.lora_B.weight`, [o, s.r]);
  }
  if (out.size === 0) throw new LoraError(`LoRA targetModules [${s.targetModules}] match no weight of this model (expected e.g. q_proj, v_proj)`);
  return out;
}

/** PEFT's init: A ~ U(−1/√in, 1/√in) (kaiming-uniform with a=√5), B = 0, so the model starts unchanged. */
export function initAdapters(c: ArchConfig, s: LoraSettings, seed = 0): Map<string, Float32Array> {
  let st = (seed >>> 0) ^ 0x9e3779b9 || 1;
  const u = () => { st ^= st << 13; st >>>= 0; st ^= st >>> 17; st ^= st << 5; st >>>= 0; return (st + 0.5) / 4294967296; };
  const w = new Map<string, Float32Array>();
  for (const [name, shape] of adapterShapes(c, s)) {
    const a = new Float32Array(shape[0] * shape[1]);
    if (name.endsWith("lora_A.weight")) {
      const bound = 1 / Math.sqrt(shape[1]);
      for (let k = 0; k < a.length; k++) a[k] = (2 * u() - 1) * bound;
    }
    w.set(name, a);
  }
  return w;
}

export interface LoraGraph {
  /** Adapter inputs, by name. */
  adapters: Map<string, Value>;
  /** Dropout mask inputs (only when dropout > 0), by module, shaped like the Linear's input. */
  masks: Map<string, Value>;
}

/** Rewrites `g` so every targeted Linear adds its adapter. Call before anything reads the graph's nodes. */
export function applyLora(g: Graph, s: LoraSettings): LoraGraph {
  const adapters = new Map<string, Value>(), masks = new Map<string, Value>();
  const nodes = [...g.nodes];
  g.nodes.length = 0;
  const remap = new Map<Value, Value>();
  const scale = g.scalar(s.alpha / s.r);
  for (const n of nodes) {
    const inputs = n.inputs.map((v) => remap.get(v) ?? v);
    g.nodes.push({ ...n, inputs });
    const mod = n.op === "Gemm" ? targetedModule(inputs[1].name, s) : undefined;
    if (!mod) continue;
    const [out, inDim] = inputs[1].shape as number[];
    const A = g.input(`${mod}.lora_A.weight`, "float32", [s.r, inDim]);
    const B = g.input(`${mod}.lora_B.weight`, "float32", [out, s.r]);
    adapters.set(A.name, A).set(B.name, B);
    let x = inputs[0]; // (N,in)
    if (s.dropout > 0) {
      const m = g.input(`${mod}.lora_dropout`, "float32", x.shape);
      masks.set(mod, m);
      x = g.mul(x, m);
    }
    const delta = g.linear(g.linear(x, A), B); // (N,r) → (N,out)
    remap.set(n.outputs[0], g.add(n.outputs[0], g.mul(delta, scale)));
  }
  for (let i = 0; i < g.outputs.length; i++) g.outputs[i] = remap.get(g.outputs[i]) ?? g.outputs[i];
  return { adapters, masks };
}

/** Base weights with every adapter folded in: W + s·B·A. */
export function mergeLora(c: ArchConfig, base: Map<string, Float32Array>, adapters: Map<string, Float32Array>, s: LoraSettings): Map<string, Float32Array> {
  const merged = new Map(base);
  for (const [name] of weightShapes(c)) {
    const mod = targetedModule(name, s);
    if (!mod) continue;
    const A = adapters.get(`${mod}.lora_A.weight`), B = adapters.get(`${mod}.lora_B.weight`);
    if (!A || !B) throw new LoraError(`mergeLora: adapter for ${mod} is missing`);
    merged.set(name, mergeAdapter(base.get(name)!, A, B, s.r, s.alpha / s.r));
  }
  return merged;
}

/** W + scale·B·A as a new array: W [out, in], A [r, in], B [out, r], row-major (shapes checked by the caller). */
export function mergeAdapter(W0: Float32Array, A: Float32Array, B: Float32Array, r: number, scale: number): Float32Array {
  const o = B.length / r, i = A.length / r;
  const W = Float32Array.from(W0);
  for (let p = 0; p < o; p++)
    for (let k = 0; k < r; k++) {
      const b = B[p * r + k] * scale;
      if (b === 0) continue;
      for (let q = 0; q < i; q++) W[p * i + q] += b * A[k * i + q];
    }
  return W;
}

/** Writes adapter_config.json + adapter_model.safetensors (PEFT layout). */
export function saveAdapters(dir: string, adapters: Map<string, Float32Array>, s: LoraSettings, c: ArchConfig): void {
  mkdirSync(dir, { recursive: true });
  const shapes = adapterShapes(c, s);
  writeSafetensors(join(dir, "adapter_model.safetensors"), [...shapes].map(([name, shape]) => {
    const data = adapters.get(name);
    if (!data) throw new LoraError(`saveAdapters: ${name} is missing`);
    return { name: PEFT_PREFIX + name, shape, data };
  }));
  const config = {
    peft_type: "LORA", task_type: "CAUSAL_LM", r: s.r, lora_alpha: s.alpha, lora_dropout: s.dropout,
    target_modules: s.targetModules, bias: "none", fan_in_fan_out: false, inference_mode: true, base_model_name_or_path: null,
  };
  writeFileSync(join(dir, "adapter_config.json"), JSON.stringify(config, null, 2) + "\n");
}

/** Reads a PEFT adapter directory back: settings and tensors under our names. */
export function loadAdapters(dir: string, c: ArchConfig): { settings: LoraSettings; adapters: Map<string, Float32Array> } {
  const cfgFile = join(dir, "adapter_config.json");
  if (!existsSync(cfgFile)) throw new LoraError(`no adapter_config.json in ${dir}: is this a PEFT LoRA directory?`);
  const raw = JSON.parse(readFileSync(cfgFile, "utf8"));
  if (raw.peft_type !== "LORA") throw new LoraError(`${cfgFile}: peft_type ${raw.peft_type} is not LORA`);
  // Variants that change what the tensors mean: loading them as plain LoRA would silently give another model.
  const unsupported = [raw.use_rslora && "use_rslora", raw.use_dora && "use_dora",
    Object.keys(raw.rank_pattern ?? {}).length && "rank_pattern", Object.keys(raw.alpha_pattern ?? {}).length && "alpha_pattern"].filter(Boolean);
  if (unsupported.length) throw new LoraError(`${cfgFile}: ${unsupported.join(", ")} ${unsupported.length > 1 ? "are" : "is"} not supported (plain LoRA, scale alpha / r, only)`);
  const tm = raw.target_modules;
  const settings: LoraSettings = { r: raw.r, alpha: raw.lora_alpha, dropout: raw.lora_dropout ?? 0, targetModules: typeof tm === "string" ? [tm] : tm };
  // one open descriptor for header and tensors: an adapter version renamed over the file mid-read cannot mix in
  const file = new SafetensorsReader(join(dir, "adapter_model.safetensors"));
  try {
    const byName = new Map(file.tensors.map((t) => [t.name.replace(PEFT_PREFIX, "").replace(".default.", "."), t]));
    const shapes = adapterShapes(c, settings);
    const unknown = [...byName.keys()].filter((n) => !shapes.has(n));
    if (unknown.length) throw new LoraError(`${dir}: tensors that are no LoRA adapter of the targeted modules (trained biases, modules_to_save, embedding adapters?), e.g. ${unknown.slice(0, 3).join(", ")}`);
    const adapters = new Map<string, Float32Array>();
    for (const [name, shape] of shapes) {
      const t = byName.get(name);
      if (!t) throw new LoraError(`${dir}: adapter tensor ${PEFT_PREFIX}${name} is missing`);
      if (t.shape.join() !== shape.join()) throw new LoraError(`${dir}: ${name} has shape [${t.shape}], expected [${shape}]`);
      adapters.set(name, file.read(t));
    }
    return { settings, adapters };
  } finally {
    file.close();
  }
}

/**
 * A trainer's LoRA option: new adapters (settings), or saved PEFT adapters (`adapterDir`; any
 * backend's, e.g. model/torch's) whose r, alpha and targets come from their adapter_config.json.
 * Settings given beside `adapterDir` must agree with the file (a different alpha would silently
 * rescale every adapter); `dropout` may differ, it only changes training.
 */
export type LoraOption = (LoraSettings & { adapterDir?: string }) | (Partial<LoraSettings> & { adapterDir: string });

export function resolveLora(o: LoraOption, c: ArchConfig): { settings: LoraSettings; adapters?: Map<string, Float32Array> } {
  const { adapterDir, ...given } = o;
  if (!adapterDir) return { settings: given as LoraSettings };
  const { settings, adapters } = loadAdapters(adapterDir, c);
  const same = (k: "r" | "alpha" | "targetModules") =>
    given[k] === undefined || (k === "targetModules" ? [...given[k]].sort().join() === [...settings[k]].sort().join() : given[k] === settings[k]);
  for (const k of ["r", "alpha", "targetModules"] as const)
    if (!same(k)) throw new LoraError(`lora.${k} ${JSON.stringify(given[k])} disagrees with ${join(adapterDir, "adapter_config.json")} (${JSON.stringify(settings[k])}); leave it out to use the file's`);
  return { settings: { ...settings, dropout: given.dropout ?? settings.dropout }, adapters };
}
