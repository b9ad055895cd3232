/**
 * Recipe validation: every problem names the field, what is wrong, and the fix — unknown keys
 * (with the closest known key), wrong types, values out of range, cross-field rules. Also the
 * deep merge used by recipe files (`extends` + overrides) and `--set key=value` parsing.
 *
 * Covers: pure checks over plain objects. Not: file loading (index.ts), whether model paths
 * or GPUs exist on this machine (checked by the driver before any actor starts).
 */
import { levenshtein } from "../azr/reward-registry.ts";
import { BASE, EVAL_FILE_FORMATS, RULES, type Recipe, type RecipeOverrides, type Rule } from "./schema.ts";

export interface RecipeIssue {
  path: string;
  problem: string;
  fix: string;
}

export class RecipeError extends Error {
  override name = "RecipeError";
  constructor(readonly recipe: string, readonly issues: RecipeIssue[]) {
    super(`recipe '${recipe}' is invalid:\n${issues.map((i) => `  - ${i.path}: ${i.problem}; ${i.fix}`).join("\n")}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function closest(word: string, options: string[]): string | undefined {
  let best: string | undefined, bestD = Infinity;
  for (const o of options) {
    const d = levenshtein(word.toLowerCase(), o.toLowerCase());
    if (d < bestD) { best = o; bestD = d; }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function describeRule(r: Rule): string {
  switch (r.kind) {
    case "number": {
      const lo = r.min === undefined ? "" : r.exclusiveMin ? `> ${r.min}` : `≥ ${r.min}`;
      const hi = r.max === undefined || r.max === Infinity ? "" : `≤ ${r.max}`;
      return `${r.integer ? "an integer" : "a number"}${lo || hi ? ` ${[lo, hi].filter(Boolean).join(" and ")}` : ""}${r.nullable ? " (or null)" : ""}`;
    }
    case "string": return `a ${r.nonEmpty ? "non-empty " : ""}string${r.nullable ? " (or null)" : ""}`;
    case "boolean": return "true or false";
    case "enum": return `one of ${r.values.map((v) => `'${v}'`).join(", ")}`;
    case "enum[]": return `a list of ${r.values.map((v) => `'${v}'`).join(", ")}${r.unique ? " without repeats" : ""}${r.minItems ? ` (at least ${r.minItems})` : ""}`;
    case "string[]": return "a list of strings";
    case "pair": return `two numbers in [${r.min}, ${r.max}]`;
    case "terms": return "an object of { enabled: boolean, coef: number ≥ 0, max: number }";
    case "lora": return "null (full fine-tuning) or { r, alpha, dropout, targetModules }";
    case "files": return `a list of { data: <JSONL path>, format: ${EVAL_FILE_FORMATS.map((f) => `'${f}'`).join(" | ")} }`;
  }
}

function checkLeaf(path: string, v: unknown, r: Rule, out: RecipeIssue[]): void {
  const bad = (problem: string): void => { out.push({ path, problem, fix: `use ${describeRule(r)}` }); };
  switch (r.kind) {
    case "number":
      if (v === null && r.nullable) return;
      if (typeof v !== "number" || Number.isNaN(v)) return bad(`expected a number, got ${JSON.stringify(v)}`);
      if (r.integer && !Number.isInteger(v)) return bad(`${v} is not an integer`);
      if (r.min !== undefined && (r.exclusiveMin ? v <= r.min : v < r.min)) return bad(`${v} is out of range`);
      if (r.max !== undefined && v > r.max) return bad(`${v} is out of range`);
      return;
    case "string":
      if (v === null && r.nullable) return;
      if (typeof v !== "string") return bad(`expected a string, got ${JSON.stringify(v)}`);
      if (r.nonEmpty && v === "") return bad("is empty");
      return;
    case "boolean":
      if (typeof v !== "boolean") return bad(`expected true or false, got ${JSON.stringify(v)}`);
      return;
    case "enum":
      if (typeof v !== "string" || !r.values.includes(v)) {
        const guess = typeof v === "string" ? closest(v, [...r.values]) : undefined;
        out.push({ path, problem: `${JSON.stringify(v)} is not allowed`, fix: guess ? `did you mean '${guess}'? (${describeRule(r)})` : `use ${describeRule(r)}` });
      }
      return;
    case "enum[]":
      if (!Array.isArray(v)) return bad(`expected a list, got ${JSON.stringify(v)}`);
      for (const x of v) if (typeof x !== "string" || !r.values.includes(x)) return bad(`${JSON.stringify(x)} is not allowed`);
      if (r.unique && new Set(v).size !== v.length) return bad("has repeated entries");
      if (r.minItems && v.length < r.minItems) return bad(`has ${v.length} entries`);
      return;
    case "string[]":
      if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) return bad(`expected a list of strings, got ${JSON.stringify(v)}`);
      return;
    case "pair":
      if (!Array.isArray(v) || v.length !== 2 || v.some((x) => typeof x !== "number" || x < r.min || x > r.max)) return bad(`got ${JSON.stringify(v)}`);
      return;
    case "terms":
      if (!isObject(v)) return bad(`expected an object, got ${JSON.stringify(v)}`);
      for (const [name, s] of Object.entries(v)) {
        const p = `${path}.${name}`;
        if (!isObject(s)) { out.push({ path: p, problem: "expected { enabled, coef, max }", fix: "write e.g. { enabled: true, coef: 0.1, max: 0.5 }" }); continue; }
        for (const k of Object.keys(s)) if (!["enabled", "coef", "max"].includes(k)) out.push({ path: `${p}.${k}`, problem: "unknown key", fix: "a term has only enabled, coef and max" });
        if (typeof s.enabled !== "boolean") out.push({ path: `${p}.enabled`, problem: `expected true or false, got ${JSON.stringify(s.enabled)}`, fix: "use true or false" });
        if (typeof s.coef !== "number" || s.coef < 0) out.push({ path: `${p}.coef`, problem: `expected a number ≥ 0, got ${JSON.stringify(s.coef)}`, fix: "use a number ≥ 0" });
        if (typeof s.max !== "number" || Number.isNaN(s.max)) out.push({ path: `${p}.max`, problem: `expected a number, got ${JSON.stringify(s.max)}`, fix: "use a number" });
      }
      return;
    case "files": {
      if (!Array.isArray(v)) return bad(`expected a list, got ${JSON.stringify(v)}`);
      v.forEach((f, i) => {
        const p = `${path}[${i}]`;
        if (!isObject(f)) return out.push({ path: p, problem: `expected { data, format }, got ${JSON.stringify(f)}`, fix: `use ${describeRule(r)}` });
        for (const k of Object.keys(f)) if (k !== "data" && k !== "format") out.push({ path: `${p}.${k}`, problem: "unknown key", fix: "a file has only data and format" });
        if (typeof f.data !== "string" || f.data === "") out.push({ path: `${p}.data`, problem: `expected a non-empty path, got ${JSON.stringify(f.data)}`, fix: "give the JSONL file's path" });
        if (!(EVAL_FILE_FORMATS as readonly unknown[]).includes(f.format)) out.push({ path: `${p}.format`, problem: `${JSON.stringify(f.format)} is not allowed`, fix: `use one of ${EVAL_FILE_FORMATS.join(", ")}` });
      });
      return;
    }
    case "lora": {
      if (v === null) return;
      const example = '{ "r": 8, "alpha": 16, "dropout": 0, "targetModules": ["q_proj", "v_proj"] }';
      if (!isObject(v)) return bad(`expected null (full fine-tuning) or ${example}, got ${JSON.stringify(v)}`);
      for (const k of Object.keys(v)) if (!["r", "alpha", "dropout", "targetModules"].includes(k)) out.push({ path: `${path}.${k}`, problem: "unknown key", fix: "LoRA has r, alpha, dropout and targetModules" });
      if (!Number.isInteger(v.r) || (v.r as number) < 1) out.push({ path: `${path}.r`, problem: `expected an integer rank ≥ 1, got ${JSON.stringify(v.r)}`, fix: "use e.g. 8 or 16" });
      if (typeof v.alpha !== "number" || !(v.alpha > 0)) out.push({ path: `${path}.alpha`, problem: `expected a number > 0, got ${JSON.stringify(v.alpha)}`, fix: "use e.g. 2 × r" });
      if (typeof v.dropout !== "number" || v.dropout < 0 || v.dropout >= 1) out.push({ path: `${path}.dropout`, problem: `expected a number in [0, 1), got ${JSON.stringify(v.dropout)}`, fix: "use 0 to 0.1" });
      const mods = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
      if (!Array.isArray(v.targetModules) || v.targetModules.length === 0 || v.targetModules.some((m) => !mods.includes(m as string)))
        out.push({ path: `${path}.targetModules`, problem: `expected a non-empty list of ${mods.join(", ")}, got ${JSON.stringify(v.targetModules)}`, fix: `use e.g. ["q_proj", "v_proj"]` });
      return;
    }
  }
}

/** Walk `v` against the shape of `shape` (BASE), checking keys and leaves. */
function walk(v: unknown, shape: unknown, path: string, out: RecipeIssue[]): void {
  const rule = RULES[path];
  if (rule) return checkLeaf(path, v, rule, out);
  if (!isObject(shape)) throw new Error(`schema bug: no rule for leaf '${path}'`);
  if (!isObject(v)) { out.push({ path: path || "(root)", problem: `expected an object, got ${JSON.stringify(v)}`, fix: `give the section as { ${Object.keys(shape).join(", ")} }` }); return; }
  const known = Object.keys(shape);
  for (const k of Object.keys(v)) {
    if (!Object.hasOwn(shape, k)) { // own keys: `constructor` is no setting
      const guess = closest(k, known);
      out.push({ path: path ? `${path}.${k}` : k, problem: "unknown key", fix: guess ? `did you mean '${guess}'?` : `known keys here: ${known.join(", ")}` });
    }
  }
  for (const k of known) {
    const p = path ? `${path}.${k}` : k;
    if (!Object.hasOwn(v, k)) { out.push({ path: p, problem: "missing", fix: `add it (default ${JSON.stringify((shape as Record<string, unknown>)[k])})` }); continue; }
    walk(v[k], shape[k], p, out);
  }
}

/** Rules that involve more than one field. */
function crossChecks(r: Recipe, out: RecipeIssue[]): void {
  const add = (path: string, problem: string, fix: string) => out.push({ path, problem, fix });
  if (r.selfplay.compositeFunctionsMin > r.selfplay.compositeFunctionsMax) {
    add("selfplay.compositeFunctionsMin", `${r.selfplay.compositeFunctionsMin} > compositeFunctionsMax ${r.selfplay.compositeFunctionsMax}`, "make min ≤ max (0/0 = off)");
  }
  if (r.prompt.maxTokens > r.data.maxPromptTokens) {
    add("prompt.maxTokens", `${r.prompt.maxTokens} exceeds data.maxPromptTokens ${r.data.maxPromptTokens}`, "lower prompt.maxTokens or raise data.maxPromptTokens");
  }
  // A LoRA learner scores the reference itself (its frozen base, adapters off): 0 replicas is then the lean choice.
  if (r.trainer.kl.estimator !== "off" && r.actors["reference-model"].replicas < 1 && !r.trainer.lora) {
    add("actors.reference-model.replicas", `KL estimator '${r.trainer.kl.estimator}' needs a reference model, but 0 replicas are started and the learner fine-tunes every weight (it keeps no copy of the starting ones)`,
      "set actors.reference-model.replicas to 1, train LoRA adapters (trainer.lora: the learner's frozen base is the reference), or set trainer.kl.estimator to 'off'");
  }
  if (r.trainer.kl.estimator === "off" && r.trainer.kl.coef !== 0) {
    add("trainer.kl.coef", `${r.trainer.kl.coef} has no effect while trainer.kl.estimator is 'off'`, "set trainer.kl.coef to 0, or choose an estimator (k1, k2, k3)");
  }
  if (r.model.engine === "ort" && r.model.dtype !== "fp32") {
    add("model.dtype", `'${r.model.dtype}' with the ort engine (onnxruntime-node has no bf16 on CPU)`, "use 'fp32' with engine 'ort', or engine 'torch'");
  }
  if (r.model.engine === "ort" && r.resources.gpus > 0) {
    add("model.engine", `'ort' runs on CPU only, but resources.gpus is ${r.resources.gpus}`, "use engine 'torch' for GPU recipes, or set resources.gpus to 0");
  }
  if (r.trainer.fsdp && r.model.engine !== "torch") {
    add("trainer.fsdp", `FSDP shards the torch learner's ranks; the ${r.model.engine} learner is one process`, "set model.engine to 'torch', or trainer.fsdp to false");
  }
  if (r.trainer.fsdp && r.trainer.lora) {
    add("trainer.fsdp", "FSDP with trainer.lora: a LoRA learner's frozen base fits on each GPU without sharding", "set trainer.fsdp to false for LoRA, or trainer.lora to null");
  }
  if (r.resources.gpus > 0 && r.resources.rolloutTensorParallel > r.resources.gpus) {
    add("resources.rolloutTensorParallel", `${r.resources.rolloutTensorParallel} exceeds resources.gpus ${r.resources.gpus}`, "use at most the GPU count");
  }
  if (r.resources.gpus > 0 && r.resources.sequenceParallel > r.resources.gpus) {
    add("resources.sequenceParallel", `${r.resources.sequenceParallel} exceeds resources.gpus ${r.resources.gpus}`, "use at most the GPU count");
  }
  const need = (n: keyof Recipe["actors"]) => r.actors[n].replicas * r.actors[n].gpus;
  // colocated, every GPU actor is in one share group (cli/commands/selfplay.ts actorResources): the
  // reference model is given the rollout engine's and learner's GPUs, as the reference's ref worker is
  const models = ["rollout-engine", "learner", "reference-model"] as const;
  const shared = r.resources.colocate ? Math.max(...models.map(need)) : models.reduce((a, n) => a + need(n), 0);
  const actorGpus = shared + (Object.keys(r.actors) as (keyof Recipe["actors"])[]).filter((n) => !(models as readonly string[]).includes(n)).reduce((a, n) => a + need(n), 0);
  if (actorGpus > r.resources.gpus) {
    add("actors", `the actors ask for ${actorGpus} GPUs${r.resources.colocate ? " (rollout engine and learner colocated)" : ""} but resources.gpus is ${r.resources.gpus}`, "raise resources.gpus or lower the actors' gpus");
  }
  // one rollout actor is one tensor-parallel group (model/torch/ranks.ts); more groups are replicas
  if (r.resources.gpus > 0 && r.actors["rollout-engine"].gpus > 0 && r.actors["rollout-engine"].gpus !== r.resources.rolloutTensorParallel) {
    add("actors.rollout-engine.gpus", `${r.actors["rollout-engine"].gpus} differs from resources.rolloutTensorParallel ${r.resources.rolloutTensorParallel} (each rollout engine is one tensor-parallel group)`,
      `set actors.rollout-engine.gpus to ${r.resources.rolloutTensorParallel} and use actors.rollout-engine.replicas for more engines`);
  }
  if (r.resources.rolloutTensorParallel > 1 && r.model.engine !== "torch") {
    add("resources.rolloutTensorParallel", `${r.resources.rolloutTensorParallel} with the ${r.model.engine} engine, which runs one process`, "set model.engine to 'torch', or resources.rolloutTensorParallel to 1");
  }
  // Settings the schema names (they are the reference's knobs) whose other values azr does not
  // implement yet: refused here, so a recipe never asks for something that would silently not happen.
  const fixed = <T>(path: string, value: T, only: T, what: string): void => {
    if (value !== only) add(path, `${JSON.stringify(value)} is not implemented: ${what}`, `leave it at ${JSON.stringify(only)}`);
  };
  fixed("trainer.skipNonFiniteGrad", r.trainer.skipNonFiniteGrad, true, "both learners always skip a step whose gradient norm is not finite");
  fixed("executor.maxProcs", r.executor.maxProcs, 1, "the sandbox lets a task start no processes of its own");
  // Each file of the `file` suite names its benchmarks by its format (cruxeval-i/-o, lcb-execution):
  // two of one format would score into the same records.
  const formats = [...(r.eval.data !== null && r.eval.suites.includes("file") ? [r.eval.format] : []), ...r.eval.files.map((f) => f.format)];
  const repeated = formats.find((f, i) => formats.indexOf(f) !== i);
  if (repeated) add("eval.files", `two files of format '${repeated}' (eval.data with eval.format counts as one when the file suite runs): their benchmarks would share one name and one record file`, "give each format once");
  fixed("trainer.epochs", r.trainer.epochs, 1, "the learner takes one optimiser step per self-play step (the whole step is one mini-batch, spec §7.2)");
  // Only the rollout engine and the code executor run as several actors (a pool splits their work);
  // the others are one actor each, and the reference model runs exactly when a KL term needs it.
  for (const name of ["learner", "task-buffer", "selfplay"] as const) {
    fixed(`actors.${name}.replicas`, r.actors[name].replicas, 1, `one ${name} runs per self-play run (only the rollout engine's and the code executor's replicas start several)`);
  }
  if (r.actors["code-executor"].replicas < 1) {
    add("actors.code-executor.replicas", `${r.actors["code-executor"].replicas}: self-play validates proposals and checks answers with the code executor`, "set it to 1 or more");
  }
  if (r.trainer.kl.estimator === "off" && r.actors["reference-model"].replicas > 0) {
    add("actors.reference-model.replicas", `${r.actors["reference-model"].replicas} with trainer.kl.estimator 'off': nothing uses a reference model, so none is started`,
      "set it to 0, or choose a KL estimator (trainer.kl.estimator k1/k2/k3 and trainer.kl.coef)");
  } else if (r.actors["reference-model"].replicas > 1) {
    fixed("actors.reference-model.replicas", r.actors["reference-model"].replicas, 1, "one reference model serves the KL term");
  }
  // (The error type needs no seed file: without seed.errors its buffer starts from the identity program, gold `NoError`.)
}

/** Check a complete recipe object; returns it typed, or throws {@link RecipeError} listing every problem. */
export function validateRecipe(v: unknown, name = isObject(v) && typeof v.name === "string" ? v.name : "(unnamed)"): Recipe {
  const issues: RecipeIssue[] = [];
  walk(v, BASE, "", issues);
  if (issues.length === 0) crossChecks(v as Recipe, issues);
  if (issues.length) throw new RecipeError(name, issues);
  return v as Recipe;
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

/**
 * Merge overrides into a parent recipe: objects merge key by key, everything else (numbers,
 * strings, arrays, null) replaces. Unknown keys are kept so validation can name them.
 */
export function mergeRecipe(parent: Recipe, overrides: RecipeOverrides): unknown {
  const merge = (a: unknown, b: unknown): unknown => {
    if (!isObject(a) || !isObject(b)) return clone(b);
    const out: Record<string, unknown> = clone(a);
    for (const [k, x] of Object.entries(b)) out[k] = k in out ? merge(out[k], x) : clone(x);
    return out;
  };
  const { extends: _parent, ...rest } = overrides;
  return merge(parent, rest);
}

/** Short names accepted by `--set` (the issue's `learner.lr` among them). */
export const SETTING_ALIASES: Readonly<Record<string, string>> = {
  "learner.lr": "trainer.optimizer.lr",
  "trainer.lr": "trainer.optimizer.lr",
  "learner.microBatch": "trainer.microBatch",
  steps: "selfplay.steps",
};

/** Parse a `--set path=value` string by the field's rule and return a new, validated recipe. */
export function applySetting(recipe: Recipe, assignment: string): Recipe {
  return applySettingsTogether(recipe, [assignment]);
}

/**
 * Apply several `--set` assignments, then validate once: cross-field rules (min ≤ max, a KL
 * coefficient needs an estimator, …) judge the final combination, so the order they are typed in
 * does not matter. A key or value that cannot be parsed is still refused at once.
 */
export function applySettingsTogether(recipe: Recipe, assignments: readonly string[]): Recipe {
  const next = clone(recipe) as unknown as Record<string, unknown>;
  for (const a of assignments) assignSetting(next, recipe.name, a);
  return validateRecipe(next, recipe.name);
}

/** Parse one assignment by its field's rule and write it into `next` (not validated). */
function assignSetting(next: Record<string, unknown>, recipeName: string, assignment: string): void {
  const eq = assignment.indexOf("=");
  if (eq < 1) throw new RecipeError(recipeName, [{ path: assignment, problem: "not of the form key=value", fix: "write e.g. --set trainer.optimizer.lr=2e-6" }]);
  const given = assignment.slice(0, eq).trim(), raw = assignment.slice(eq + 1).trim();
  // own keys only: `toString` or `constructor` must not find what every object inherits
  const path = Object.hasOwn(SETTING_ALIASES, given) ? SETTING_ALIASES[given] : given;
  const rule = Object.hasOwn(RULES, path) ? RULES[path] : undefined;
  if (!rule) {
    // a field inside a setting that is given whole (reward.extra.terms, trainer.lora, the betas): name that setting
    const whole = Object.keys(RULES).find((k) => path.startsWith(`${k}.`));
    if (whole) {
      const current = whole.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], next);
      const how = current === null ? `use ${describeRule(RULES[whole])}` : `--set '${whole}=${JSON.stringify(current)}' with your change`;
      throw new RecipeError(recipeName, [{ path, problem: "no such setting", fix: `'${whole}' is set as a whole: ${how}` }]);
    }
    const last = path.split(".").at(-1)!;
    const sameLeaf = Object.keys(RULES).filter((k) => k.split(".").at(-1) === last);
    const guess = sameLeaf.length ? sameLeaf.join("' or '") : closest(path, Object.keys(RULES));
    throw new RecipeError(recipeName, [{ path, problem: "no such setting", fix: guess ? `did you mean '${guess}'?` : "run `azr recipes show <name>` to list the settings" }]);
  }
  let value: unknown;
  const asJson = () => { try { return JSON.parse(raw); } catch { return raw; } };
  // text that is not a number stays text, so the error quotes what was typed (NaN would print as null)
  // Decimal notation only: Number() also reads 0x10, 0b11 and 0o7, which no one means for a batch size.
  const asNumber = (t: string) => (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t) ? Number(t) : t);
  switch (rule.kind) {
    case "number": value = raw === "null" ? null : asNumber(raw); break;
    case "boolean": value = raw === "true" ? true : raw === "false" ? false : raw; break;
    case "string": value = raw === "null" && rule.nullable ? null : raw; break;
    case "enum": value = raw; break;
    case "enum[]": case "string[]": value = raw.startsWith("[") ? asJson() : raw === "" ? [] : raw.split(",").map((s) => s.trim()); break;
    case "pair": value = raw.startsWith("[") ? asJson() : raw.split(",").map((s) => asNumber(s.trim())); break;
    case "terms": case "lora": case "files": value = asJson(); break;
  }
  const keys = path.split(".");
  let node = next;
  for (const k of keys.slice(0, -1)) node = node[k] as Record<string, unknown>;
  node[keys[keys.length - 1]] = value;
}
