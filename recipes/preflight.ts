/**
 * Before any actor starts: can this machine run this recipe? Names what is missing and how to
 * provide it — the model folder, the seed files, the GPUs, the engine (issue: "a recipe whose
 * model path or hardware is missing stops before starting anything, naming what to provide").
 *
 * Covers: checks over the recipe and a description of the machine (`probe`), so tests and
 * `azr doctor` can pass their own. Not: detecting GPUs (runtime/gpus.ts; the caller passes what it found).
 */
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import type { Recipe } from "./schema.ts";
import { resolveSeedPaths } from "./index.ts";
import { ConfigError, parseConfig, type ArchConfig } from "../model/config.ts";

export interface MachineProbe {
  /** Repository root: relative model and seed paths resolve against it. */
  root: string;
  /** GPUs this machine (or cluster) offers. */
  gpus: number;
  /** What they are ("2 × NVIDIA A100-SXM4-80GB (81920 MB)"), or why there are none (nvidia-smi's answer). */
  gpuDetail?: string;
  /** Each GPU's total memory in MB as nvidia-smi reports it (0: not reported); absent: unknown, not checked. */
  gpuMemoryMB?: number[];
  /** Whether the torch engine can run here (a GPU build of PyTorch for GPU recipes); a reason when not. */
  torch: { available: boolean; reason?: string };
  exists?: (path: string) => boolean;
  readText?: (path: string) => string;
}

export interface PreflightProblem {
  what: string;
  fix: string;
}

/** Every reason the recipe cannot start here; empty = go. */
export function preflight(recipe: Recipe, probe: MachineProbe): PreflightProblem[] {
  const exists = probe.exists ?? existsSync;
  const out: PreflightProblem[] = [];
  const where = (p: string) => (isAbsolute(p) ? p : resolve(probe.root, p));
  if (recipe.model.path === null) {
    out.push({
      what: `recipe '${recipe.name}' names no local model folder (model.path is null)`,
      fix: `download ${recipe.model.id || "the model"} (config.json, *.safetensors, tokenizer.json) and pass --set model.path=<folder>; azr never downloads weights`,
    });
  } else {
    const dir = where(recipe.model.path);
    const missing = ["config.json", "tokenizer.json"].filter((f) => !exists(join(dir, f)));
    const weights = exists(join(dir, "model.safetensors")) || exists(join(dir, "model.safetensors.index.json"));
    if (!exists(dir) || missing.length || !weights) {
      out.push({
        what: `model folder ${dir} is ${exists(dir) ? `incomplete (missing ${[...missing, ...(weights ? [] : ["model.safetensors"])].join(", ")})` : "missing"}`,
        fix: recipe.name === "tiny" ? "run `make base-model` to build the tiny model" : `put ${recipe.model.id}'s Hugging Face files there, or pass --set model.path=<folder>`,
      });
    } else {
      const configPath = join(dir, "config.json");
      let raw: Record<string, unknown> | undefined;
      try {
        raw = JSON.parse((probe.readText ?? ((f) => readFileSync(f, "utf8")))(configPath)) as Record<string, unknown>;
      } catch {} // an unreadable config.json is the engine's to report, with its own detail
      // Read as both engines read it (keys config.json leaves out take transformers' defaults for the family)
      let cfg: ArchConfig | undefined;
      try {
        cfg = raw && parseConfig(raw, configPath);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        out.push({ what: e.message, fix: `use a model azr runs (Qwen2/Qwen2.5, Llama 3.x, Qwen3; see model/README.md), or correct ${configPath}` });
      }
      for (const check of [tensorParallelProblem, contextProblem]) {
        const problem = cfg && check(recipe, configPath, cfg);
        if (problem) out.push(problem);
      }
    }
  }
  const seeds = resolveSeedPaths(recipe, probe.root);
  for (const [key, p] of Object.entries(seeds)) {
    if (p === null || (key === "errors" && !recipe.selfplay.taskTypes.includes("error"))) continue;
    if (!exists(p)) out.push({ what: `seed file seed.${key} = ${p} does not exist`, fix: "check seed.dir and the file name, set OUTPUT_SEED_PATH / OUTPUT_CODE_F_SEED_PATH, or set it to null to make seeds with the model (`azr seed`)" });
  }
  // Checked here rather than in the schema, so `--set eval.suites=tiny --set eval.data=…` works in either order.
  // The file suite reads eval.data and eval.files; the tiny suite eval.data alone.
  const fileSuites = recipe.eval.suites.filter((s) => s === "tiny" || (s === "file" && recipe.eval.files.length === 0));
  if (recipe.eval.every > 0 && fileSuites.length > 0 && recipe.eval.data === null) {
    out.push({ what: `eval.suites lists ${fileSuites.join(" and ")}, which read a JSONL file, but eval.data is null`, fix: "give eval.data (the tiny held-out set: data/tiny/heldout.jsonl; for the file suite, or eval.files), remove the suite, or set eval.every=0" });
  }
  if (recipe.resources.gpus > probe.gpus) {
    const ask = (["rollout-engine", "learner", "reference-model"] as const)
      .filter((n) => recipe.actors[n].replicas > 0 && recipe.actors[n].gpus > 0)
      .map((n) => `${n} ${recipe.actors[n].replicas > 1 ? `${recipe.actors[n].replicas} × ` : ""}${recipe.actors[n].gpus}`);
    const layout = ask.length ? ` (${ask.join(", ")}${recipe.resources.colocate ? "; colocated: they share GPUs" : ""})` : "";
    const found = `${probe.gpus}${probe.gpuDetail ? ` (${probe.gpuDetail})` : ""}`;
    out.push({ what: `recipe '${recipe.name}' needs ${recipe.resources.gpus} GPUs (80 GB class)${layout}; this machine offers ${found}`, fix: "run it on a machine or cluster with enough GPUs, or choose a smaller recipe (`azr recipes list`)" });
  } else if (recipe.resources.gpus > 0 && recipe.resources.gpuMemoryGB > 0 && probe.gpuMemoryMB) {
    // Enough GPUs, but are they big enough? nvidia-smi reports MiB a little under the size GPUs are
    // sold by (H100 80 GB: 81,559; A10G 24 GB: 23,028), so a GPU within 10% of it counts; one that
    // reports no memory is not held against the machine.
    const least = 0.9 * recipe.resources.gpuMemoryGB * 1024;
    const big = probe.gpuMemoryMB.filter((mb) => mb === 0 || mb >= least).length;
    if (big < recipe.resources.gpus) {
      out.push({
        what: `recipe '${recipe.name}' needs ${recipe.resources.gpus} GPUs of at least ${recipe.resources.gpuMemoryGB} GB (resources.gpuMemoryGB); this machine has ${big} such of ${probe.gpuMemoryMB.length}${probe.gpuDetail ? ` (${probe.gpuDetail})` : ""}`,
        fix: `run it on ${recipe.resources.gpuMemoryGB} GB GPUs, or, if you made the run fit smaller ones (e.g. LoRA: trainer.lora), say so with --set resources.gpuMemoryGB=<GB of your GPUs>`,
      });
    }
  }
  if (recipe.model.engine === "torch" && !probe.torch.available) {
    out.push({ what: `the torch engine is not available here${probe.torch.reason ? `: ${probe.torch.reason}` : ""}`, fix: recipe.resources.gpus > 0 ? "install a CUDA build of PyTorch for the Python that azr uses (AZR_PYTHON)" : "install python3-torch (`make setup`)" });
  }
  return out;
}

/**
 * A prompt + response longer than the model's positions: the ORT engine would refuse whole batches
 * mid-run and the torch engine would run positions the model was never trained on. Caught here, in
 * the recipe's terms, before anything starts.
 */
function contextProblem(recipe: Recipe, configPath: string, cfg: ArchConfig): PreflightProblem | undefined {
  const positions = cfg.maxPositionEmbeddings;
  const need = recipe.data.maxPromptTokens + recipe.data.maxResponseTokens;
  if (!Number.isInteger(positions) || positions <= 0 || need <= positions) return undefined;
  return {
    what: `data.maxPromptTokens ${recipe.data.maxPromptTokens} + data.maxResponseTokens ${recipe.data.maxResponseTokens} = ${need} positions, but ${configPath} has max_position_embeddings ${positions}`,
    fix: `lower data.maxPromptTokens and/or data.maxResponseTokens (--set) so they add up to at most ${positions}, or use a model with a longer context`,
  };
}

/** A tensor-parallel rollout engine splits attention heads, key-value heads and MLP columns evenly over its ranks. */
function tensorParallelProblem(recipe: Recipe, configPath: string, cfg: ArchConfig): PreflightProblem | undefined {
  const tp = recipe.resources.rolloutTensorParallel;
  if (tp <= 1) return undefined;
  const sizes: [string, number][] = [["num_attention_heads", cfg.numHeads], ["num_key_value_heads", cfg.numKvHeads], ["intermediate_size", cfg.intermediateSize]];
  const bad = sizes.filter(([, n]) => Number.isInteger(n) && n % tp !== 0);
  if (!bad.length) return undefined;
  const fits = [1, 2, 4, 8].filter((t) => sizes.every(([, n]) => !Number.isInteger(n) || n % t === 0));
  return {
    what: `resources.rolloutTensorParallel ${tp} does not split ${configPath}: ${bad.map(([k, n]) => `${k} ${n}`).join(", ")} not divisible by ${tp}`,
    fix: `use a tensor-parallel size that divides them (${fits.join(", ")}) with actors.rollout-engine.gpus set to the same number`,
  };
}
