import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SEEDS_DIR } from "../helpers/shared.ts";
import { executorConfig, probeMachine, rolloutConfig } from "../../cli/commands/recipe-setup.ts";
import {
  applySeedEnv, applySettings, BASE, flattenRecipe, getRecipe, listRecipes, loadRecipe, RecipeError, resolveSeedPaths, RULES, validateRecipe,
} from "../../recipes/index.ts";

const SEEDS = SEEDS_DIR;

/** Throws a RecipeError whose message matches every pattern. */
function rejects(fn: () => unknown, ...patterns: RegExp[]) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof RecipeError, String(e));
    for (const p of patterns) assert.match((e as Error).message, p);
    return true;
  });
}

test("recipes - every leaf of the schema has a rule, and every rule a leaf", () => {
  const leaves = flattenRecipe(BASE).map(([p]) => p).sort();
  assert.deepEqual(leaves, Object.keys(RULES).sort());
  validateRecipe(BASE);
});

test("recipes - every key the spec names exists with the spec's default", () => {
  const spec: [string, unknown][] = [
    ["selfplay.batchSize", 64], ["selfplay.references", 6], ["selfplay.nSamples", 8], ["selfplay.inductionInputs", 10],
    ["selfplay.temperature", 1], ["selfplay.topP", 1], ["selfplay.learnabilityTemperature", 1], ["selfplay.solveFrom", "same-step"],
    ["selfplay.solverMix", "max-new"], ["selfplay.steps", 500], ["selfplay.taskTypes", ["deduction", "abduction", "induction"]],
    ["selfplay.trainPropose", true], ["selfplay.pretrainPredSteps", 0], ["selfplay.offPolicy", 0],
    ["seed.factor", 4], ["seed.temperature", 1], ["seed.topUp", true],
    ["buffer.maxEntries", 16384], ["buffer.capPolicy", "evict-oldest"], ["buffer.dedupe", "exact"],
    ["prompt.chatTemplate", false], ["prompt.maxTokens", 5600], ["prompt.maxRedraws", 100], ["data.maxPromptTokens", 6144], ["data.maxResponseTokens", 8096],
    ["validation.determinismRuns", 2], ["validation.hashSeedCheck", false], ["validation.maxOutputChars", 400], ["validation.allowDuplicateInputs", false],
    ["validation.rejectMultipleFunctions", true], ["validation.entryFunction", "first"], ["validation.rejectTestCodeInProgram", false],
    ["validation.bannedWords", ["logging", "random", "multiprocessing", "pebble", "subprocess", "threading", "datetime", "time", "hashlib", "hmac", "bcrypt", "os.sys", "os.path", "sys.exit", "os.environ", "calendar"]],
    ["executor.timeoutSeconds", 10], ["executor.memoryMB", 1024], ["executor.maxProcs", 1], ["executor.hashSeed", 0], ["executor.mode", "pooled"],
    ["reward.formatCheck", true], ["reward.trivialProposal", -0.5], ["reward.learnability", "one-minus"], ["reward.validProgramFilter", "all"],
    ["reward.inductionMode", "binary"], ["reward.extra.combine", "sum"],
    ["trainer.advantageStats", "per-response"], ["trainer.lossAgg", "token-mean"], ["trainer.clipLow", 0.2], ["trainer.clipHigh", 0.2],
    ["trainer.dualClip", null], ["trainer.entropyCoef", 0.001], ["trainer.kl.estimator", "off"], ["trainer.optimizer.lr", 1e-6],
    ["trainer.optimizer.betas", [0.9, 0.999]], ["trainer.optimizer.eps", 1e-8], ["trainer.optimizer.weightDecay", 0.01], ["trainer.optimizer.warmupSteps", 0],
    ["trainer.gradClip", 1], ["trainer.microBatch", 16], ["trainer.epochs", 1], ["trainer.saveEvery", 10], ["trainer.keepCheckpoints", 2],
    ["trainer.gradientCheckpointing", true], ["trainer.logRatioClamp", 20], ["trainer.skipNonFiniteGrad", true],
    ["eval.every", 10], ["eval.codePrompt", "r1"], ["eval.mathTemplate", "azr"], ["actors.reference-model.replicas", 0],
    // keys the spec implies without naming (§4.2 top-up bound, §8/§10 in-training evaluation): off or unbounded-like by default
    ["seed.topUp", true], ["seed.maxRounds", 100], ["eval.suites", []], ["eval.limit", null], ["eval.data", null],
  ];
  const flat = new Map(flattenRecipe(BASE));
  for (const [path, want] of spec) assert.deepEqual(flat.get(path), want, path);
  for (const t of Object.values(BASE.reward.extra.terms)) assert.deepEqual(t, { enabled: false, coef: 0, max: 0.5 }, "extra rewards off, coef 0, max 0.5");
});

test("recipes - the spec's recipe table, row by row", () => {
  const table: [string, string, number, number, number, string | null, string | null, number, boolean, string][] = [
    // name, model, GPUs, rollout TP, micro-batch, triplet seeds, induction seeds, seed factor, reject multiple defs, entry
    ["coder3b", "Qwen/Qwen2.5-Coder-3B", 2, 2, 16, "3b_coder_seed_io.jsonl", "3b_coder_code_f_seed_io.jsonl", 4, true, "first"],
    ["7b", "Qwen/Qwen2.5-7B", 4, 2, 16, "7b_seed_io.jsonl", "7b_code_f_seed_io.jsonl", 4, true, "first"],
    ["coder7b", "Qwen/Qwen2.5-Coder-7B", 4, 2, 16, "7b_coder_seed_io.jsonl", "7b_coder_code_f_seed_io.jsonl", 4, true, "first"],
    ["14b", "Qwen/Qwen2.5-14B", 8, 4, 16, "14b_seed_io.jsonl", "14b_code_f_seed_io.jsonl", 4, true, "first"],
    ["coder14b", "Qwen/Qwen2.5-Coder-14B", 8, 4, 16, "14b_coder_seed_io.jsonl", "14b_coder_code_f_seed_io.jsonl", 4, true, "first"],
    ["llama8b", "meta-llama/Llama-3.1-8B", 4, 2, 16, "llama_64_seed_io.jsonl", "llama_64_code_f_seed_io.jsonl", 1, false, "last"],
    ["qwen3-4b", "Qwen/Qwen3-4B-Base", 2, 2, 8, "qwen3_4b_seed_io.jsonl", "qwen3_4b_code_f_seed_io.jsonl", 4, false, "last"],
    ["3b", "Qwen/Qwen2.5-3B", 2, 2, 16, null, null, 4, true, "first"],
  ];
  for (const [name, model, gpus, tp, micro, trip, ind, factor, reject, entry] of table) {
    const r = getRecipe(name);
    assert.deepEqual(
      [r.model.id, r.model.engine, r.resources.gpus, r.resources.rolloutTensorParallel, r.resources.sequenceParallel, r.trainer.microBatch, r.seed.triplets, r.seed.induction, r.seed.factor, r.validation.rejectMultipleFunctions, r.validation.entryFunction],
      [model, "torch", gpus, tp, gpus, micro, trip, ind, factor, reject, entry],
      name,
    );
    // the common settings of §11 hold for every published recipe
    assert.deepEqual([r.selfplay.batchSize, r.selfplay.references, r.selfplay.nSamples, r.selfplay.inductionInputs, r.selfplay.steps, r.trainer.optimizer.lr, r.trainer.kl.estimator], [64, 6, 8, 10, 500, 1e-6, "off"], name);
  }
  assert.equal(getRecipe("qwen3-4b").model.thinkTokensAsText, true);
  // 7B+ full fine-tuning shards the learner with FSDP (whole-model ranks need 76–133 GB a GPU); 3B/4B fit without
  assert.deepEqual(listRecipes().filter((n) => getRecipe(n).trainer.fsdp).sort(), ["14b", "7b", "coder14b", "coder7b", "llama8b"]);
  assert.equal(getRecipe("coder7b").eval.mathTemplate, "azr_boxed");
  assert.deepEqual(listRecipes()[0], "tiny");
  assert.deepEqual(listRecipes().sort(), ["14b", "3b", "7b", "coder14b", "coder3b", "coder7b", "llama8b", "qwen3-4b", "tiny"]);
});

test("recipes - tiny keeps what §11 says a scaled run must keep", () => {
  const r = getRecipe("tiny");
  assert.deepEqual(r.selfplay.taskTypes, ["deduction", "abduction", "induction"]);
  assert.ok(r.selfplay.nSamples >= 2);
  assert.ok(r.selfplay.inductionInputs >= 2 && r.selfplay.inductionInputs % 2 === 0);
  assert.deepEqual([r.model.engine, r.model.dtype, r.resources.gpus, r.prompt.variant, r.model.path], ["ort", "fp32", 0, "compact", "data/tiny"]);
  assert.deepEqual([r.reward.trivialProposal, r.reward.formatCheck, r.trainer.epochs, r.selfplay.solverMix, r.trainer.advantageStats], [-0.5, true, 1, "max-new", "per-response"]);
  assert.ok(r.prompt.maxTokens <= r.data.maxPromptTokens);
  // In-training evaluation on its own held-out tasks, kept small (issue #12): the GPU recipes evaluate nothing until given a suite.
  assert.deepEqual([r.eval.suites, r.eval.data, r.eval.limit], [["tiny"], "data/tiny/heldout.jsonl", 30]);
  assert.ok(r.eval.every > 0 && r.eval.every <= r.selfplay.steps);
  assert.deepEqual(getRecipe("7b").eval.suites, []);
});

test("recipes - seed files named by the recipes exist in the shared folder", { skip: existsSync(SEEDS) ? false : `${SEEDS} is absent` }, () => {
  for (const name of listRecipes()) {
    const paths = resolveSeedPaths(getRecipe(name), "/work/main");
    for (const p of [paths.triplets, paths.induction]) if (p !== null) assert.ok(existsSync(p), `${name}: ${p}`);
  }
});

test("recipes - model and executor settings reach the actors' options", () => {
  const qwen3 = rolloutConfig(getRecipe("qwen3-4b"), 1);
  assert.deepEqual([qwen3.thinkTokensAsText, qwen3.dtype], [true, "bf16"]);
  assert.equal(rolloutConfig(getRecipe("coder3b"), 1).thinkTokensAsText, false);
  assert.equal(executorConfig(applySettings(getRecipe("tiny"), ["executor.infraRetries=5"])).infraRetries, 5);
});

test("recipes - validation names the field, the problem and the fix", () => {
  const bad = (patch: (r: Record<string, any>) => void) => { const r = structuredClone(BASE) as Record<string, any>; patch(r); return () => validateRecipe(r); };
  rejects(bad((r) => { r.selfplay.nSampels = 8; }), /selfplay\.nSampels: unknown key; did you mean 'nSamples'\?/);
  rejects(bad((r) => { r.trainr = {}; }), /trainr: unknown key; did you mean 'trainer'\?/);
  rejects(bad((r) => { r.selfplay.batchSize = "64"; }), /selfplay\.batchSize: expected a number, got "64"; use an integer ≥ 1/);
  rejects(bad((r) => { r.selfplay.nSamples = 1; }), /selfplay\.nSamples: 1 is out of range; use an integer ≥ 2/);
  rejects(bad((r) => { r.selfplay.batchSize = 6.5; }), /selfplay\.batchSize: 6\.5 is not an integer/);
  rejects(bad((r) => { r.buffer.capPolicy = "evict-olde"; }), /buffer\.capPolicy: "evict-olde" is not allowed; did you mean 'evict-oldest'\?/);
  rejects(bad((r) => { r.selfplay.taskTypes = ["deduction", "deduction"]; }), /selfplay\.taskTypes: has repeated entries/);
  rejects(bad((r) => { delete r.reward.inductionMode; }), /reward\.inductionMode: missing; add it \(default "binary"\)/);
  rejects(bad((r) => { r.trainer.kl.estimator = "k3"; }), /actors\.reference-model\.replicas: KL estimator 'k3' needs a reference model, .*the learner fine-tunes every weight.*train LoRA adapters \(trainer\.lora: the learner's frozen base is the reference\)/);
  rejects(bad((r) => { r.prompt.maxTokens = 7000; }), /prompt\.maxTokens: 7000 exceeds data\.maxPromptTokens 6144/);
  rejects(bad((r) => { r.model.engine = "ort"; }), /model\.dtype: 'bf16' with the ort engine/);
  // decimal notation only: Number() would read 0x10 as 16
  rejects(() => applySettings(getRecipe("tiny"), ["selfplay.steps=0x10"]), /selfplay\.steps/);
  assert.equal(applySettings(getRecipe("tiny"), ["selfplay.steps=1e1"]).selfplay.steps, 10);
  assert.equal(applySettings(getRecipe("tiny"), ["trainer.optimizer.lr=.5e-4"]).trainer.optimizer.lr, 5e-5);
  rejects(() => applySettings(getRecipe("7b"), ["model.engine=ort"]), /model\.engine: 'ort' runs on CPU only, but resources\.gpus is 4/);
  rejects(bad((r) => { r.reward.extra.terms.complexity.coef = -1; }), /reward\.extra\.terms\.complexity\.coef: expected a number ≥ 0/);
  rejects(bad((r) => { r.actors.learner.gpus = 2; }), /actors: the actors ask for 2 GPUs .* but resources\.gpus is 0/);
  // several problems are reported together
  rejects(bad((r) => { r.selfplay.steps = 0; r.executor.timeoutSeconds = 0; }), /selfplay\.steps/, /executor\.timeoutSeconds: 0 is out of range; use a number > 0/);
  rejects(bad((r) => { r.eval.suites = ["humaneval"]; }), /eval\.suites: "humaneval" is not allowed/);
  rejects(bad((r) => { r.seed.maxRounds = 0; }), /seed\.maxRounds: 0 is out of range/);
  // reference knobs whose other values azr does not implement are refused, not ignored
  rejects(bad((r) => { r.trainer.skipNonFiniteGrad = false; }), /trainer\.skipNonFiniteGrad: false is not implemented/);
  rejects(bad((r) => { r.executor.maxProcs = 4; }), /executor\.maxProcs: 4 is not implemented/);
  rejects(bad((r) => { r.trainer.epochs = 4; }), /trainer\.epochs: 4 is not implemented: the learner takes one optimiser step per self-play step/);
  rejects(bad((r) => { r.actors["task-buffer"].replicas = 2; }), /actors\.task-buffer\.replicas: 2 is not implemented: one task-buffer runs per self-play run/);
  rejects(bad((r) => { r.actors.learner.replicas = 0; }), /actors\.learner\.replicas: 0 is not implemented/);
  rejects(bad((r) => { r.actors["code-executor"].replicas = 0; }), /actors\.code-executor\.replicas: 0: self-play validates proposals and checks answers with the code executor/);
  rejects(bad((r) => { r.actors["reference-model"].replicas = 1; }), /actors\.reference-model\.replicas: 1 with trainer\.kl\.estimator 'off': nothing uses a reference model/);
  rejects(bad((r) => { r.trainer.kl.estimator = "k1"; r.actors["reference-model"].replicas = 2; }), /actors\.reference-model\.replicas: 2 is not implemented: one reference model serves the KL term/);
  // eval.files: each { data, format }, each format once (eval.data's counts when the file suite runs)
  rejects(bad((r) => { r.eval.files = [{ data: "a.jsonl", format: "humaneval" }]; }), /eval\.files\[0\]\.format: "humaneval" is not allowed; use one of cruxeval, lcb/);
  rejects(bad((r) => { r.eval.files = [{ data: "", format: "lcb", extra: 1 }]; }), /eval\.files\[0\]\.extra: unknown key/, /eval\.files\[0\]\.data: expected a non-empty path/);
  rejects(bad((r) => { r.eval.suites = ["file"]; r.eval.data = "c.jsonl"; r.eval.format = "cruxeval"; r.eval.files = [{ data: "d.jsonl", format: "cruxeval" }]; }), /eval\.files: two files of format 'cruxeval'/);
  const both = applySettings(getRecipe("7b"), ["eval.suites=file", 'eval.files=[{"data":"cruxeval.jsonl","format":"cruxeval"},{"data":"lcb.jsonl","format":"lcb"}]']);
  assert.deepEqual(both.eval.files.map((f) => f.format), ["cruxeval", "lcb"]);
  // several rollout engines, several code executors: pools
  validateRecipe({ ...structuredClone(BASE), actors: { ...BASE.actors, "rollout-engine": { ...BASE.actors["rollout-engine"], replicas: 2 }, "code-executor": { ...BASE.actors["code-executor"], replicas: 3 } } });
  rejects(() => applySettings(getRecipe("tiny"), ["trainer.fsdp=true"]), /trainer\.fsdp: FSDP shards the torch learner's ranks; the ort learner is one process; set model\.engine to 'torch'/);
  rejects(() => applySettings(getRecipe("7b"), ['trainer.lora={"r":8,"alpha":16,"dropout":0,"targetModules":["q_proj"]}']), /trainer\.fsdp: FSDP with trainer\.lora: .*set trainer\.fsdp to false for LoRA/);
  // a user's own reward term is allowed
  validateRecipe({ ...structuredClone(BASE), reward: { ...BASE.reward, extra: { combine: "sum", terms: { ...BASE.reward.extra.terms, mine: { enabled: true, coef: 0.1, max: 0.5 } } } } });
});

test("recipes - --set parses by the field's type and validates", () => {
  const r = applySettings(getRecipe("7b"), ["trainer.optimizer.lr=2e-6", "selfplay.solveFrom=previous-step", "buffer.dedupe=none", "trainer.dualClip=3", "selfplay.taskTypes=deduction,abduction,induction,error", "seed.triplets=null"]);
  assert.deepEqual([r.trainer.optimizer.lr, r.selfplay.solveFrom, r.buffer.dedupe, r.trainer.dualClip, r.selfplay.taskTypes.length, r.seed.triplets], [2e-6, "previous-step", "none", 3, 4, null]);
  assert.equal(getRecipe("7b").trainer.optimizer.lr, 1e-6, "the original is untouched");
  rejects(() => applySettings(getRecipe("tiny"), ["trainer.optimizer.rate=1"]), /trainer\.optimizer\.rate: no such setting; did you mean/);
  rejects(() => applySettings(getRecipe("tiny"), ["learner.betas=1"]), /learner\.betas: no such setting; did you mean 'trainer\.optimizer\.betas'\?/);
  assert.equal(applySettings(getRecipe("14b"), ["learner.lr=2e-6"]).trainer.optimizer.lr, 2e-6, "the issue's example alias");
  rejects(() => applySettings(getRecipe("tiny"), ["selfplay.steps=ten"]), /selfplay\.steps: expected a number, got "ten"/);
  rejects(() => applySettings(getRecipe("tiny"), ["trainer.optimizer.lr="]), /trainer\.optimizer\.lr: expected a number, got ""/);
  rejects(() => applySettings(getRecipe("tiny"), ["trainer.optimizer.betas=0.9,x"]), /trainer\.optimizer\.betas/);
  rejects(() => applySettings(getRecipe("tiny"), ["reward.formatCheck=yes"]), /reward\.formatCheck: expected true or false/);
  rejects(() => applySettings(getRecipe("tiny"), ["novalue"]), /not of the form key=value/);
  const e = applySettings(getRecipe("7b"), ["eval.suites=code,tiny", "eval.data=data/tiny/heldout.jsonl", "eval.limit=5", "eval.every=2"]).eval;
  assert.deepEqual([e.suites, e.data, e.limit, e.every], [["code", "tiny"], "data/tiny/heldout.jsonl", 5, 2]);
  assert.equal(applySettings(getRecipe("tiny"), ["eval.limit=null"]).eval.limit, null);
  assert.equal(getRecipe("tiny").trainer.lora, null, "full fine-tuning unless a recipe asks for LoRA");
  // LoRA + KL: the learner's frozen base scores the reference, so 0 reference-model replicas is valid
  const loraKl = applySettings(getRecipe("tiny"), ['trainer.lora={"r":4,"alpha":8,"dropout":0,"targetModules":["q_proj"]}', "trainer.kl.estimator=k3", "trainer.kl.coef=0.1"]);
  assert.equal(loraKl.actors["reference-model"].replicas, 0);
  const lora = applySettings(getRecipe("14b"), ["trainer.fsdp=false", 'trainer.lora={"r":16,"alpha":32,"dropout":0,"targetModules":["q_proj","v_proj"]}']).trainer.lora;
  assert.deepEqual(lora, { r: 16, alpha: 32, dropout: 0, targetModules: ["q_proj", "v_proj"] });
  rejects(() => applySettings(getRecipe("tiny"), ['trainer.lora={"r":0,"alpha":32,"dropout":0,"targetModules":["q_proj"]}']), /trainer\.lora\.r: expected an integer rank ≥ 1, got 0/);
  rejects(() => applySettings(getRecipe("tiny"), ['trainer.lora={"r":8,"alpha":16,"dropout":0,"targetModules":["qproj"]}']), /trainer\.lora\.targetModules: expected a non-empty list of q_proj/);
});

test("recipes - loadRecipe: names, JSON and TS files with extends, and clear errors", async () => {
  assert.equal((await loadRecipe("14b")).resources.gpus, 8);
  await assert.rejects(loadRecipe("14bb"), /no such recipe; did you mean '14b'\?/);
  const dir = mkdtempSync(join(tmpdir(), "azr-recipe-"));
  try {
    writeFileSync(join(dir, "mine.json"), JSON.stringify({ extends: "tiny", selfplay: { steps: 3 } }));
    const mine = await loadRecipe(join(dir, "mine.json"));
    assert.deepEqual([mine.selfplay.steps, mine.selfplay.batchSize, mine.model.engine], [3, 16, "ort"]);
    writeFileSync(join(dir, "mine.ts"), `export const recipe = { extends: "coder7b", name: "mine", trainer: { optimizer: { lr: 5e-7 } } };\n`);
    const ts = await loadRecipe(join(dir, "mine.ts"));
    assert.deepEqual([ts.name, ts.model.id, ts.trainer.optimizer.lr, ts.trainer.optimizer.betas], ["mine", "Qwen/Qwen2.5-Coder-7B", 5e-7, [0.9, 0.999]]);
    writeFileSync(join(dir, "typo.json"), JSON.stringify({ extends: "tiny", selfplay: { stepz: 3 } }));
    await assert.rejects(loadRecipe(join(dir, "typo.json")), /selfplay\.stepz: unknown key; did you mean 'steps'\?/);
    writeFileSync(join(dir, "broken.json"), "{");
    await assert.rejects(loadRecipe(join(dir, "broken.json")), /not valid JSON/);
    await assert.rejects(loadRecipe(join(dir, "absent.json")), /does not exist/);
    mkdirSync(join(dir, "folder.json"));
    await assert.rejects(loadRecipe(join(dir, "folder.json")), (e: Error) => /cannot be read: EISDIR/.test(e.message) && !/JSON/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("recipes - seed paths: OUTPUT_SEED_PATH-style variables and resolution against seed.dir", () => {
  const r = applySeedEnv(getRecipe("7b"), { OUTPUT_SEED_PATH: "/data/my_seed.jsonl", OUTPUT_CODE_F_SEED_PATH: "", UNRELATED: "x" });
  assert.deepEqual(resolveSeedPaths(r, "/repo"), { triplets: "/data/my_seed.jsonl", induction: "/shared/azr-seeds/7b_code_f_seed_io.jsonl", errors: null });
  assert.deepEqual(resolveSeedPaths(getRecipe("tiny"), "/repo"), { triplets: null, induction: null, errors: null });
});

test("recipes - preflight names what is missing before anything starts", async () => {
  const { preflight } = await import("../../recipes/preflight.ts");
  const files = new Set(["/repo/data/tiny", "/repo/data/tiny/config.json", "/repo/data/tiny/tokenizer.json", "/repo/data/tiny/model.safetensors"]);
  const probe = { root: "/repo", gpus: 0, torch: { available: false, reason: "no torch" }, exists: (p: string) => files.has(p) };
  assert.deepEqual(preflight(getRecipe("tiny"), probe), []);
  files.delete("/repo/data/tiny/model.safetensors");
  assert.deepEqual(preflight(getRecipe("tiny"), probe).map((p) => p.fix), ["run `make base-model` to build the tiny model"]);
  const big = preflight(getRecipe("14b"), probe).map((p) => p.what);
  assert.equal(big.length, 5, big.join("\n"));
  assert.match(big[0], /names no local model folder/);
  assert.match(big[1], /seed\.triplets = \/shared\/azr-seeds\/14b_seed_io\.jsonl does not exist/);
  assert.match(big[3], /needs 8 GPUs .* offers 0/);
  assert.match(big[4], /torch engine is not available here: no torch/);
  files.add("/repo/data/tiny/model.safetensors");
  const noData = applySettings(getRecipe("tiny"), ["eval.data=null"]);
  assert.deepEqual(preflight(noData, probe).map((p) => p.what), ["eval.suites lists tiny, which read a JSONL file, but eval.data is null"]);
  assert.deepEqual(preflight(applySettings(noData, ["eval.every=0"]), probe), [], "evaluation off: nothing to read");
  // a tensor-parallel rollout engine must split the model's heads and MLP evenly: said before any actor starts
  const tp = applySettings(getRecipe("tiny"), ["model.engine=torch", "resources.rolloutTensorParallel=4"]);
  // a whole config.json, as both engines read it (parseConfig): keys it leaves out take transformers' defaults
  const config = { architectures: ["Qwen2ForCausalLM"], vocab_size: 1024, hidden_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 512, max_position_embeddings: 1536 };
  const withConfig = { ...probe, torch: { available: true }, readText: () => JSON.stringify(config) };
  assert.deepEqual(preflight(tp, withConfig).map((p) => [p.what, p.fix]), [[
    "resources.rolloutTensorParallel 4 does not split /repo/data/tiny/config.json: num_key_value_heads 2 not divisible by 4",
    "use a tensor-parallel size that divides them (1, 2) with actors.rollout-engine.gpus set to the same number",
  ]]);
  assert.deepEqual(preflight(applySettings(tp, ["resources.rolloutTensorParallel=2"]), withConfig), []);
  // prompt + response must fit the model's positions (tiny: 1,024 + 256 of data/tiny's 1,536)
  const short = { ...probe, readText: () => JSON.stringify({ ...config, max_position_embeddings: 1024 }) };
  assert.deepEqual(preflight(getRecipe("tiny"), short).map((p) => [p.what, p.fix]), [[
    "data.maxPromptTokens 1024 + data.maxResponseTokens 256 = 1280 positions, but /repo/data/tiny/config.json has max_position_embeddings 1024",
    "lower data.maxPromptTokens and/or data.maxResponseTokens (--set) so they add up to at most 1024, or use a model with a longer context",
  ]]);
  assert.deepEqual(preflight(getRecipe("tiny"), { ...probe, readText: () => JSON.stringify({ ...config, max_position_embeddings: 1536 }) }), []);
  // a key config.json leaves out is read as the engines read it: Llama's default context is 2,048
  // positions (transformers' LlamaConfig), which 1,024 + 1,100 does not fit
  const { max_position_embeddings: _drop, ...noPositions } = { ...config, architectures: ["LlamaForCausalLM"] };
  const llama = { ...probe, readText: () => JSON.stringify(noPositions) };
  assert.deepEqual(preflight(applySettings(getRecipe("tiny"), ["data.maxResponseTokens=1100"]), llama).map((p) => p.what), [
    "data.maxPromptTokens 1024 + data.maxResponseTokens 1100 = 2124 positions, but /repo/data/tiny/config.json has max_position_embeddings 2048",
  ]);
  // a config.json neither engine can run is said up front, with the engines' own message
  const foreign = preflight(getRecipe("tiny"), { ...probe, readText: () => JSON.stringify({ ...config, architectures: ["MistralForCausalLM"] }) });
  assert.equal(foreign.length, 1);
  assert.match(foreign[0].what, /MistralForCausalLM/);
});

test("recipes - --set assignments are checked together, so their order does not matter", () => {
  // Each pair is valid once both are applied; validating after the first alone refused it (min > max, coef without estimator, …).
  const pairs: [string, string[]][] = [
    ["7b", ["selfplay.compositeFunctionsMin=1", "selfplay.compositeFunctionsMax=2"]],
    ["7b", ["trainer.kl.estimator=k3", "trainer.kl.coef=0.01", "actors.reference-model.replicas=1"]],
    ["7b", ["prompt.maxTokens=7000", "data.maxPromptTokens=8000"]],
    ["tiny", ["model.dtype=bf16", "model.engine=torch"]],
  ];
  for (const [name, sets] of pairs) {
    for (const order of [sets, [...sets].reverse()]) assert.doesNotThrow(() => applySettings(getRecipe(name), order), `${name}: ${order.join(" ")}`);
  }
  // the final combination is still validated, and a bad one still names the field
  rejects(() => applySettings(getRecipe("7b"), ["trainer.kl.estimator=k3"]), /actors\.reference-model\.replicas: KL estimator 'k3' needs a reference model/);
  rejects(() => applySettings(getRecipe("7b"), ["selfplay.compositeFunctionsMax=2", "selfplay.compositeFunctionsMin=3"]), /selfplay\.compositeFunctionsMin: 3 > compositeFunctionsMax 2/);
});

test("recipes - a colocated reference model shares the run's GPUs (as the README says to give it one)", () => {
  // README: with a KL estimator the reference model "needs --set actors.reference-model.gpus=1"; colocated, placement puts it
  // in the rollout engine and learner's share group, so it needs no GPU of its own.
  const kl = ["actors.reference-model.replicas=1", "actors.reference-model.gpus=1", "trainer.kl.estimator=k3", "trainer.kl.coef=0.01"];
  for (const name of ["coder3b", "7b", "14b"]) assert.doesNotThrow(() => applySettings(getRecipe(name), kl), name);
  // not colocated, it does need one more
  rejects(() => applySettings(getRecipe("coder3b"), [...kl, "resources.colocate=false", "resources.gpus=4"]), /actors: the actors ask for 5 GPUs but resources\.gpus is 4/);
  rejects(() => applySettings(getRecipe("coder3b"), [...kl, "actors.reference-model.gpus=3"]), /actors: the actors ask for 3 GPUs .* but resources\.gpus is 2/);
});

test("recipes - a recipe file that fails to load, or a --set under a whole-valued setting, is one clear error", async () => {
  const dir = mkdtempSync(join(tmpdir(), "azr-recipe-"));
  try {
    writeFileSync(join(dir, "broken.ts"), `export const recipe = { extends: "tiny", selfplay: { steps: 3 }\n`);
    await assert.rejects(loadRecipe(join(dir, "broken.ts")), (e: Error) => e instanceof RecipeError && /\(file\): cannot be loaded: .*Expected "}" but found end of file; fix the error in the file/s.test(e.message));
    writeFileSync(join(dir, "throws.ts"), `throw new Error("boom");\n`);
    await assert.rejects(loadRecipe(join(dir, "throws.ts")), (e: Error) => e instanceof RecipeError && /\(file\): cannot be loaded: boom/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // a term's field is not a setting of its own: the fix names the setting that holds it, not trainer.kl.coef
  rejects(() => applySettings(getRecipe("tiny"), ["reward.extra.terms.complexity.coef=0.1"]),
    /reward\.extra\.terms\.complexity\.coef: no such setting; 'reward\.extra\.terms' is set as a whole: --set 'reward\.extra\.terms=\{"inputDiversity":\{"enabled":false/);
  rejects(() => applySettings(getRecipe("tiny"), ["trainer.optimizer.betas.0=0.8"]), /'trainer\.optimizer\.betas' is set as a whole: --set 'trainer\.optimizer\.betas=\[0\.9,0\.999\]'/);
  // names an object inherits are neither settings, recipes nor recipe keys
  rejects(() => applySettings(getRecipe("tiny"), ["toString=1"]), /toString: no such setting/);
  rejects(() => applySettings(getRecipe("tiny"), ["constructor=1"]), /constructor: no such setting/);
  await assert.rejects(loadRecipe("constructor"), /no such recipe/);
  rejects(() => getRecipe("toString"), /no such recipe/);
  rejects(() => validateRecipe({ ...structuredClone(BASE), constructor: 1 }), /constructor: unknown key/);
});

test("recipes - preflight stops GPUs smaller than the recipe's class, and passes the 80 GB ones", async () => {
  const { preflight } = await import("../../recipes/preflight.ts");
  // spec §11: every published recipe runs on 80 GB GPUs; tiny needs none
  for (const name of listRecipes()) assert.equal(getRecipe(name).resources.gpuMemoryGB, name === "tiny" ? 0 : 80, name);
  const files = new Set(["/m", "/m/config.json", "/m/tokenizer.json", "/m/model.safetensors"]);
  const seeds = (p: string) => p.startsWith("/repo/../shared/") || p.startsWith("/shared/");
  const probe = (gpuMemoryMB: number[] | undefined) => ({
    root: "/repo", gpus: gpuMemoryMB?.length ?? 8, gpuDetail: "test GPUs", torch: { available: true }, gpuMemoryMB,
    exists: (p: string) => files.has(p) || seeds(p), readText: () => JSON.stringify({ architectures: ["Qwen2ForCausalLM"], vocab_size: 152064, hidden_size: 5120, num_hidden_layers: 48, num_attention_heads: 40, num_key_value_heads: 8, intermediate_size: 13824, max_position_embeddings: 32768 }),
  });
  const r = applySettings(getRecipe("14b"), ["model.path=/m"]);
  // A100 80 GB (81,920 MiB) and H100 80 GB (81,559 MiB) pass; memory not reported (0, or no list) is not held against the machine
  for (const mem of [Array(8).fill(81920), Array(8).fill(81559), Array(8).fill(0), undefined]) assert.deepEqual(preflight(r, probe(mem)), [], JSON.stringify(mem));
  // eight A10G (24 GB) are enough GPUs but far too small
  const small = preflight(r, probe(Array(8).fill(23028)));
  assert.deepEqual(small.map((p) => p.what), ["recipe '14b' needs 8 GPUs of at least 80 GB (resources.gpuMemoryGB); this machine has 0 such of 8 (test GPUs)"]);
  assert.match(small[0].fix, /--set resources\.gpuMemoryGB=/);
  // a mixed machine: only the large ones count
  assert.match(preflight(r, probe([...Array(6).fill(81920), 23028, 23028]))[0]?.what ?? "", /needs 8 GPUs of at least 80 GB .* 6 such of 8/);
  // a user who made the run fit smaller GPUs says so
  assert.deepEqual(preflight(applySettings(r, ["resources.gpuMemoryGB=24"]), probe(Array(8).fill(23028))), []);
  // too few GPUs is said once, by the GPU count
  assert.equal(preflight(r, probe(Array(4).fill(23028))).length, 1);
});

test("recipes - a GPU recipe needs a torch that sees CUDA, not just one that imports", () => {
  // Debian's python3-torch imports fine but is a CPU build: a GPU recipe must stop before any actor starts
  const dir = mkdtempSync(join(tmpdir(), "azr-python-"));
  const python = join(dir, "python");
  // a stand-in Python: `import torch` works, and the CUDA question answers "no" (exit 3) or "yes"
  const fake = (cuda: boolean) => { writeFileSync(python, `#!/bin/sh\ncase "$2" in *cuda*) exit ${cuda ? 0 : 3};; esac\nexit 0\n`); chmodSync(python, 0o755); };
  const saved = process.env.AZR_PYTHON;
  process.env.AZR_PYTHON = python;
  try {
    fake(false);
    const cpuOnly = probeMachine("/repo", getRecipe("7b"));
    assert.equal(cpuOnly.torch.available, false);
    assert.match(cpuOnly.torch.reason ?? "", /torch has no CUDA/);
    assert.equal(probeMachine("/repo", applySettings(getRecipe("tiny"), ["model.engine=torch"])).torch.available, true, "a CPU torch recipe needs no CUDA");
    fake(true);
    assert.equal(probeMachine("/repo", getRecipe("7b")).torch.available, true);
  } finally {
    if (saved === undefined) delete process.env.AZR_PYTHON; else process.env.AZR_PYTHON = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});
