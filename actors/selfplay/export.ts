/**
 * `azr export <checkpoint> <dir>`: a self-play checkpoint as a Hugging Face model folder
 * (config.json, model.safetensors or its shards with the index, the tokenizer files), loadable
 * by transformers and by `model.path` of a recipe.
 *
 * Accepts a run folder (its newest complete checkpoint), a checkpoint folder (step-N, whose
 * `learner/` holds the trainer's state) or a learner folder itself. LoRA adapters are merged
 * into the weights (a torch learner's LoRA checkpoint holds only the PEFT adapters: they are merged
 * into the base model it names); a full fine-tune's weight files are copied as they are (no need to load a
 * 14B model into memory to move it). The tokenizer comes from the run's model (config.json of
 * the run names it), since training never changes it.
 *
 * Covers: locating the weights and writing the folder. Not: other formats (`azr model export`
 * writes the transformers.js ONNX layout).
 */
import { copyFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { loadWeights, writeNewFolder } from "../../model/checkpoint.ts";
import { processAlive } from "../../runtime/process-alive.ts";
import { readConfig, weightShapes } from "../../model/config.ts";
import { listTensors } from "../../model/safetensors.ts";
import { exportMerged, loadTrainState } from "../../model/train/checkpoint.ts";
import { loadAdapters } from "../../model/train/lora.ts";
import { completeCheckpoints } from "./run-folder.ts";

export class ExportError extends Error {
  override name = "ExportError";
}

/** The files of a model folder that are not weights: the tokenizer and generation settings. */
const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "vocab.json", "merges.txt", "chat_template.jinja"];

export interface ExportSource {
  /** The learner's saved state: config.json, the weights, trainer_state.json. */
  learnerDir: string;
  /** The run folder, when the checkpoint sits in one (its config.json names the base model). */
  runDir?: string;
}

/** Where the weights of `path` are: a run folder, a checkpoint folder or a learner folder. */
export function findExportSource(path: string): ExportSource {
  const p = resolve(path);
  if (!existsSync(p)) throw new ExportError(`${p} does not exist: give a run folder, a checkpoint folder (runs/<run>/checkpoints/step-N) or its learner/ folder`);
  if (existsSync(join(p, "checkpoints"))) {
    const last = completeCheckpoints(p).at(-1);
    if (!last) throw new ExportError(`${p} is a run folder with no complete checkpoint yet (checkpoints/step-N/complete): let the run reach trainer.saveEvery`);
    return { learnerDir: join(last.dir, "learner"), runDir: p };
  }
  if (existsSync(join(p, "learner"))) {
    if (!existsSync(join(p, "complete"))) throw new ExportError(`${p} is a checkpoint that did not finish writing (no 'complete' marker): export an older one`);
    return { learnerDir: join(p, "learner"), runDir: dirname(dirname(p)) };
  }
  if (existsSync(join(p, "config.json")) || existsSync(join(p, "adapter_config.json"))) {
    const up = dirname(dirname(dirname(p))); // learner → step-N → checkpoints → run
    return { learnerDir: p, runDir: basename(dirname(dirname(p))) === "checkpoints" ? up : undefined };
  }
  throw new ExportError(`${p} holds neither checkpoints/, learner/ nor config.json: not a self-play run, checkpoint or learner folder`);
}

/** The run's base model folder: its recipe's model.path (config.json of the run), resolved; undefined without one. */
function runModelDir(src: ExportSource): string | undefined {
  const cfgFile = src.runDir && join(src.runDir, "config.json");
  if (!cfgFile || !existsSync(cfgFile)) return undefined;
  const modelPath = (JSON.parse(readFileSync(cfgFile, "utf8")) as { model?: { path?: string } }).model?.path;
  return modelPath ? resolve(src.runDir!, modelPath) : undefined;
}

/** The folder the run's tokenizer comes from: the learner folder's own, else the run's model folder. */
function tokenizerSource(src: ExportSource): string | undefined {
  return existsSync(join(src.learnerDir, "tokenizer.json")) ? src.learnerDir : runModelDir(src);
}

/**
 * The base model of a learner folder that holds only PEFT adapters (the torch learner under LoRA
 * saves adapter_config.json + adapter_model.safetensors, no config.json and no weights): the folder
 * its adapter_config.json names, else the run's model.path. Undefined for a folder with weights.
 */
function adapterBase(src: ExportSource): string | undefined {
  if (existsSync(join(src.learnerDir, "config.json")) || !existsSync(join(src.learnerDir, "adapter_config.json"))) return undefined;
  const named = (JSON.parse(readFileSync(join(src.learnerDir, "adapter_config.json"), "utf8")) as { base_model_name_or_path?: string | null }).base_model_name_or_path;
  if (named && existsSync(join(resolve(src.learnerDir, named), "config.json"))) return resolve(src.learnerDir, named);
  const modelDir = runModelDir(src);
  if (modelDir && existsSync(join(modelDir, "config.json"))) return modelDir;
  throw new ExportError(`${src.learnerDir} holds LoRA adapters only and no base model with config.json is found (adapter_config.json names ${named ?? "none"}; the run's model.path: ${modelDir ?? "none"}): export the checkpoint from its run folder, with the base model in place`);
}

const isLora = (dir: string) => {
  const f = join(dir, "trainer_state.json");
  return existsSync(f) && (JSON.parse(readFileSync(f, "utf8")) as { lora?: unknown }).lora != null;
};

/** Writes the Hugging Face folder; returns the files written. */
export function exportCheckpoint(path: string, out: string): { source: ExportSource; files: string[] } {
  const src = findExportSource(path);
  const base = adapterBase(src); // a torch LoRA learner: the weights are the base model's, merged with the adapters
  const weightsDir = base ?? src.learnerDir;
  const config = readConfig(weightsDir);
  // Every weight the architecture needs must be there before anything is written.
  const have = new Set(listTensors(weightsDir).map((t) => t.name));
  const missing = [...weightShapes(config).keys()].filter((k) => !have.has(k));
  if (missing.length) throw new ExportError(`${weightsDir}: ${missing.length} weight(s) missing (e.g. ${missing.slice(0, 3).join(", ")}): not a complete ${base ? "base model" : "learner checkpoint"}`);
  const tok = tokenizerSource(src);
  if (!tok || !existsSync(join(tok, "tokenizer.json"))) {
    throw new ExportError(`no tokenizer for ${path}: the run's config.json names no model folder with tokenizer.json (${tok ?? "none"}); copy the base model's tokenizer files into ${src.learnerDir}`);
  }
  // Written into a temp folder and renamed: a failure leaves no half-written `out`, a non-empty one is refused.
  writeNewFolder(out, (tmp) => {
    if (base) {
      const { settings, adapters } = loadAdapters(src.learnerDir, config);
      exportMerged(tmp, { config, weights: loadWeights(base, config), adapters, lora: settings });
    } else if (isLora(src.learnerDir)) exportMerged(tmp, loadTrainState(src.learnerDir));
    else for (const f of readdirSync(src.learnerDir).filter((f) => f === "config.json" || /^model.*\.safetensors(\.index\.json)?$/.test(f))) copyFileSync(join(src.learnerDir, f), join(tmp, f));
    for (const f of TOKENIZER_FILES) if (existsSync(join(tok, f))) copyFileSync(join(tok, f), join(tmp, f));
  }, processAlive);
  return { source: src, files: readdirSync(out).sort() };
}
