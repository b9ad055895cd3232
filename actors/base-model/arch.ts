/**
 * `azr base-model --arch key=value`: the tiny architecture's shape fields a pretraining may change
 * (wider, deeper, more heads), checked before any data is read, and the check that a resumed
 * pretraining keeps the shape its checkpoint was started with.
 *
 * Covers: parsing, shape rules, the resume comparison. Not: the config file itself (model/config.ts).
 */
import { existsSync, readFileSync } from "node:fs";
import { TINY_ARCH } from "./pretrain.ts";

export const ARCH_KEYS = ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim"] as const;
export type ArchKey = (typeof ARCH_KEYS)[number];
export type ArchOverrides = Partial<Record<ArchKey, number>>;

export class ArchError extends Error {}

/**
 * `["hidden_size=256", "intermediate_size=768"]` (also comma-separated in one string) → overrides.
 * head_dim follows hidden_size / num_attention_heads unless given, as Hugging Face's Qwen2 does.
 */
export function parseArchOverrides(specs: readonly string[]): ArchOverrides {
  const out: ArchOverrides = {};
  for (const spec of specs.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean)) {
    const eq = spec.indexOf("=");
    const key = spec.slice(0, eq < 0 ? undefined : eq).trim();
    const text = eq < 0 ? "" : spec.slice(eq + 1).trim();
    if (!(ARCH_KEYS as readonly string[]).includes(key)) throw new ArchError(`--arch ${spec}: '${key}' is not a shape field; use one of ${ARCH_KEYS.join(", ")}, e.g. --arch hidden_size=256,intermediate_size=768`);
    const value = Number(text);
    if (text === "" || !Number.isInteger(value) || value < 1) throw new ArchError(`--arch ${spec}: ${key} needs a positive integer, e.g. ${key}=${TINY_ARCH[key as keyof typeof TINY_ARCH] ?? 64}`);
    out[key as ArchKey] = value;
  }
  const shape = { ...TINY_ARCH, ...out };
  const heads = shape.num_attention_heads;
  const kvHeads = shape.num_key_value_heads;
  if (heads % kvHeads !== 0) throw new ArchError(`--arch: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads} (grouped-query attention shares each key/value head among equal groups)`);
  if (out.head_dim === undefined && shape.hidden_size % heads !== 0) throw new ArchError(`--arch: hidden_size ${shape.hidden_size} does not split into ${heads} heads: pick a multiple of ${heads}, or give head_dim`);
  return out;
}

/** The shape fields of a config.json that differ from `wanted` (head_dim judged only where `wanted` has it). */
export function archDifferences(configFile: string, wanted: Record<string, unknown>): string[] {
  if (!existsSync(configFile)) return [];
  const had = JSON.parse(readFileSync(configFile, "utf8")) as Record<string, unknown>;
  return ARCH_KEYS.filter((k) => wanted[k] !== undefined && had[k] !== undefined && had[k] !== wanted[k]).map((k) => `${k} ${String(had[k])} (asked: ${String(wanted[k])})`);
}
