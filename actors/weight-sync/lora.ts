/**
 * LoRA adapter versions (handle kind `lora-adapters`): only the adapters move, and the rollout
 * engine merges them into the base weights it kept, W = W_base + scale·B·A.
 *
 * Covers: the adapter names on the wire (PEFT's, `base_model.model.<module>.lora_A.weight`, whichever
 * backend trained them), pairing A with B per module, and the merge for engines whose weights live
 * in TypeScript (the ORT rollout engine): always from the model the engine started with, so
 * versions never compound, whatever full versions came between. Not: the torch engine's
 * merge (model/torch/azr_torch/adapter_sync.py does the same in Python), the transports.
 */
import { mergeAdapter, PEFT_PREFIX } from "../../model/train/lora.ts";
import type { LoraInfo } from "./handle.ts";
import { WeightSyncError } from "./object-store.ts";

const ADAPTER = /^(?:base_model\.model\.)?(.+)\.lora_([AB])\.weight$/;

/** The learner's LoRA settings as a handle states them. */
export function loraInfo(s: { r: number; alpha: number; targetModules: string[] }): LoraInfo {
  return { r: s.r, alpha: s.alpha, scale: s.alpha / s.r, targetModules: [...s.targetModules] };
}

/** Adapter tensors (or their shapes) under PEFT's names (the ORT trainer names them without the prefix). */
export function peftNames<T>(adapters: Map<string, T>): Map<string, T> {
  return new Map([...adapters].map(([n, t]) => [n.startsWith(PEFT_PREFIX) ? n : PEFT_PREFIX + n, t]));
}

/** Adapter tensors by the weight they adapt: `<module>.weight` → { A, B }. */
export function adapterPairs(adapters: Map<string, Float32Array>, what: string): Map<string, { A: Float32Array; B: Float32Array }> {
  const half = new Map<string, { A?: Float32Array; B?: Float32Array }>();
  for (const [name, t] of adapters) {
    const m = ADAPTER.exec(name);
    if (!m) throw new WeightSyncError(`${what}: ${JSON.stringify(name)} is not a LoRA adapter tensor (<module>.lora_A.weight / .lora_B.weight); was a full version sent as lora-adapters?`);
    const p = half.get(`${m[1]}.weight`) ?? {};
    p[m[2] as "A" | "B"] = t;
    half.set(`${m[1]}.weight`, p);
  }
  const out = new Map<string, { A: Float32Array; B: Float32Array }>();
  for (const [w, { A, B }] of half) {
    if (!A || !B) throw new WeightSyncError(`${what}: the adapter for ${w} has lora_${A ? "A" : "B"} without lora_${A ? "B" : "A"}`);
    out.set(w, { A, B });
  }
  return out;
}

/** W_base + scale·B·A, with A [r, in] and B [out, r] flattened row-major: the ORT trainer's own merge (mergeLora), shapes checked first. */
export function mergedWeight(base: Float32Array, A: Float32Array, B: Float32Array, lora: LoraInfo, name: string): Float32Array {
  const r = lora.r;
  const inDim = A.length / r, out = B.length / r;
  if (!Number.isInteger(inDim) || !Number.isInteger(out) || out * inDim !== base.length) {
    throw new WeightSyncError(
      `LoRA adapter for ${name}: lora_A has ${A.length} values and lora_B ${B.length} at r=${r}, which do not make the weight's ${base.length}: ` +
        `the learner's model or rank differs from this rollout engine's`,
    );
  }
  return mergeAdapter(base, A, B, r, lora.scale);
}

/**
 * The ORT rollout engine's merge: keeps the base, the model the engine started with (its live
 * weights at the first adapter version, or read again from its folder when a full version has
 * replaced them since), and makes each adapter version's full weights from it.
 */
export class AdapterMerger {
  #base?: Map<string, Float32Array>;
  #replaced = false;

  /** `startModel` reads the engine's model from its folder again. */
  constructor(private readonly startModel: () => Map<string, Float32Array>) {}

  /** Full weights for this adapter version; `live` gives the engine's current weights. */
  async merge(adapters: Map<string, Float32Array>, lora: LoraInfo, live: () => Promise<Map<string, Float32Array>>, version: number): Promise<Map<string, Float32Array>> {
    const base = (this.#base ??= this.#replaced ? this.startModel() : await live());
    const merged = new Map(base); // untouched tensors are shared: the engine copies what it is given
    for (const [name, { A, B }] of adapterPairs(adapters, `weights version ${version}`)) {
      const w = base.get(name);
      if (!w) throw new WeightSyncError(`weights version ${version} adapts ${name}, which this rollout engine's model does not have: the learner trains another model`);
      merged.set(name, mergedWeight(w, A, B, lora, name));
    }
    return merged;
  }

  /** A full version replaced the live weights; the base stays the start model. */
  fullVersionInstalled(): void {
    this.#replaced = true;
  }
}
