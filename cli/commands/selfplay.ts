/**
 * `azr selfplay`: load a recipe, check what it needs before anything starts, start the cluster
 * (embedded nats-server unless NATS_URL), spawn the actors, and run the driver with progress.
 * Covers: wiring recipe → actors → driver, the run folder, progress lines, shutdown on Ctrl-C
 * (the last checkpoint stays; `--resume` continues). Not: the loop itself (actors/selfplay).
 */
import { availableParallelism } from "node:os";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { signalExitCode } from "../../runtime/exit-status.ts";
import { basename, join, resolve } from "node:path";
import type { CommandModule } from "yargs";
import { CodeExecutorActor, verdictStreams } from "../../actors/code-executor/actor.ts";
import { Learner } from "../../actors/learner.ts";
import { ReferenceModel } from "../../actors/reference-model.ts";
import { RolloutEngine } from "../../actors/rollout-engine.ts";
import { runSelfplay, type DriverConfig } from "../../actors/selfplay/driver.ts";
import { completeCheckpoints, readCheckpoint } from "../../actors/selfplay/run-folder.ts";
import type { ActorUsageReport } from "../../actors/selfplay/actor-usage.ts";
import { replicaName, rolloutPort } from "../../actors/selfplay/rollout-pool.ts";
import { executorName, executorPort } from "../../actors/selfplay/executor-pool.ts";
import { ActorGoneError, goneFromRegistry, LearnerLostError } from "../../actors/selfplay/resilient.ts";
import { InTrainingEval } from "../../actors/eval/in-training.ts";
import { evalplusUsesChat } from "../../actors/eval/suites.ts";
import { benchmarksDir } from "../../actors/eval/paths.ts";
import type { StepResult } from "../../actors/selfplay/step.ts";
import type { ReferencePort } from "../../actors/selfplay/ports.ts";
import { TaskBuffer } from "../../actors/selfplay/task-buffer.ts";
import { ActorExistsError, connect, DEFAULT_CLUSTER, type Handle, type Resources } from "../../runtime/index.ts";
import type { Recipe } from "../../recipes/schema.ts";
import { loadRecipe } from "../../recipes/index.ts";
import { recordRunTraces } from "../../runtime/telemetry-collector.ts";
import { startWebView } from "../web/server.ts";
import { connectFailure } from "./run-connection.ts";
import { executorConfig, modelConfig, RecipeSetupError, recipeOptions, reportSetupErrors, rolloutConfig, runnableRecipe } from "./recipe-setup.ts";

export interface SelfplayArgs {
  /** Built-in name or recipe file; default tiny, and with --resume the run's own (its config.json). */
  recipe?: string;
  set: string[];
  runDir?: string;
  resume: boolean;
  steps?: number;
  /** Shortcut for --set selfplay.offPolicy=N (validated there: 0 or 1). */
  offPolicy?: number;
  web: boolean;
  /** Subject and bucket namespace: runs that share one NATS server (NATS_URL) each need their own. */
  cluster?: string;
}

/** `from`: the step this invocation started after (a resume's checkpoint), so the ETA divides this invocation's time by the steps it ran. */
export function progressLine(r: StepResult, total: number, started: number, from = 0): string {
  const g = r.groups;
  const pct = (x: number | undefined) => (x === undefined ? "  -  " : `${(100 * x).toFixed(0).padStart(3)}%`);
  const elapsed = (Date.now() - started) / 1000;
  const eta = (elapsed / Math.max(1, r.step - from)) * (total - r.step);
  return (
    `step ${String(r.step).padStart(4)}/${total}  valid d/a/i ${pct(g["propose/deduction"]?.validRate)} ${pct(g["propose/abduction"]?.validRate)} ${pct(g["propose/induction"]?.validRate)}` +
    `  solve d/a/i ${pct(g["solve/deduction"]?.accuracy)} ${pct(g["solve/abduction"]?.accuracy)} ${pct(g["solve/induction"]?.accuracy)}` +
    `  loss ${r.train ? r.train.loss.toFixed(4) : "-"}  ${r.seconds.total.toFixed(1)}s/step  ETA ${Math.round(eta)}s`
  );
}

/** The group in which a colocated recipe's GPU actors may be given the same GPUs (one run per cluster: actor names are fixed). */
export const COLOCATE_GROUP = "selfplay";

type ActorName = keyof Recipe["actors"];

/**
 * What the node agent is asked for on behalf of one actor: the recipe's cpus and gpus; with
 * `resources.colocate`, every GPU actor of the run is in one share group, so the learner is given
 * the rollout engine's GPUs (they take turns: generate, then train), as in the reference. The
 * replicas of one actor spread over the group's GPUs (gpuSpread): 7b's two TP-2 rollout engines
 * take GPUs 0–1 and 2–3, not both 0–1.
 */
export function actorResources(recipe: Recipe, name: ActorName): Resources {
  const a = recipe.actors[name];
  if (a.gpus === 0) return { cpu: a.cpus };
  return { cpu: a.cpus, gpu: a.gpus, ...(recipe.resources.colocate ? { gpuShare: COLOCATE_GROUP, gpuSpread: name } : {}) };
}

/** The torch engine's device for an actor: CUDA when it is given GPUs (the agent sets CUDA_VISIBLE_DEVICES to them), else the CPU. */
export function actorDevice(recipe: Recipe, name: ActorName): "cuda" | "cpu" {
  return recipe.actors[name].gpus > 0 ? "cuda" : "cpu";
}

/**
 * Cores the run's own node agent advertises: at least the recipe's asks. Every actor of an
 * embedded run starts on this machine; the cpu asks spread actors over nodes when other agents
 * join, and on one machine they may only oversubscribe it (slower, never refused).
 */
function agentCpus(recipe: Recipe): number {
  const started: ActorName[] = ["code-executor", "task-buffer", "rollout-engine", "learner", ...(referenceActor(recipe) ? ["reference-model" as const] : [])];
  // One of each, as below, except the rollout engines' and code executors' replicas.
  const copies = (n: ActorName) => (n === "rollout-engine" ? rolloutReplicas(recipe) : n === "code-executor" ? recipe.actors["code-executor"].replicas : 1);
  const asked = started.reduce((t, n) => t + recipe.actors[n].cpus * copies(n), 0);
  return Math.max(availableParallelism(), 4, Math.ceil(asked));
}

/**
 * Whether the KL term's reference log-probs come from a reference-model actor. The published
 * recipes have no KL term, so none is started there (spec §7.2); with one, a LoRA learner whose
 * recipe starts 0 replicas scores them with its adapters off (the frozen base is the start policy).
 */
export function referenceActor(recipe: Recipe): boolean {
  return recipe.trainer.kl.estimator !== "off" && recipe.actors["reference-model"].replicas > 0;
}

/**
 * With selfplay.offPolicy ≥ 1 the rollout engine generates while the learner trains: CPU actors that
 * each ask for every core (the tiny recipe's turn-taking default) then share them. Says so, with the
 * fix; undefined when the asks fit this machine or run on GPUs.
 */
export function overlapOversubscribes(recipe: Recipe, cores = availableParallelism()): string | undefined {
  if (recipe.selfplay.offPolicy < 1) return undefined;
  const cpuOnly = (n: "rollout-engine" | "learner") => recipe.actors[n].gpus === 0;
  if (!cpuOnly("rollout-engine") || !cpuOnly("learner")) return undefined;
  const asked = recipe.actors["rollout-engine"].cpus * rolloutReplicas(recipe) + recipe.actors.learner.cpus;
  if (asked <= cores) return undefined;
  return `selfplay.offPolicy ${recipe.selfplay.offPolicy} overlaps generation and training, and the rollout engine and learner ask for ${asked} cores together on this ${cores}-core machine: ` +
    `they will share them (slower steps). To split the cores instead: --set actors.rollout-engine.cpus=${Math.max(1, Math.floor(cores / 2))} --set actors.learner.cpus=${Math.max(1, cores - Math.floor(cores / 2))}`;
}

/** How many rollout engines the recipe starts (actors.rollout-engine.replicas; self-play needs one at least). */
export function rolloutReplicas(recipe: Recipe): number {
  const n = recipe.actors["rollout-engine"].replicas;
  if (n < 1) throw new Error(`actors.rollout-engine.replicas is ${n}: self-play generates with the rollout engine, so it needs 1 or more (--set actors.rollout-engine.replicas=1)`);
  return n;
}

/**
 * `--resume` continues a run folder, so it needs one with a complete checkpoint: without this check
 * the driver, finding none, starts a new run (model-made seeds and all) where the user asked to
 * continue. And a folder that already holds a run needs `--resume`: the driver refuses it too, but
 * only after every actor (the model's load included) has started.
 */
export function checkResume(args: Pick<SelfplayArgs, "resume" | "runDir">): void {
  const metrics = args.runDir === undefined ? undefined : join(args.runDir, "metrics.jsonl");
  if (!args.resume) {
    if (metrics !== undefined && existsSync(metrics)) throw new RecipeSetupError(`${resolve(args.runDir!)} already holds a run: pass --resume to continue it, or choose another --run-dir`);
    return;
  }
  if (args.runDir === undefined) throw new RecipeSetupError("--resume continues the run in --run-dir: pass --run-dir runs/<run> (the folder the run printed at its start)");
  const dir = resolve(args.runDir);
  if (!existsSync(dir)) throw new RecipeSetupError(`--resume: run folder ${dir} does not exist; check --run-dir, or drop --resume to start a new run there`);
  const newest = completeCheckpoints(dir).at(-1);
  if (newest) {
    // A damaged checkpoint is said now, not after every actor (the model's load included) has started.
    readCheckpoint(dir, newest.dir);
    return;
  }
  if (existsSync(metrics!)) {
    throw new RecipeSetupError(`--resume: ${dir} has no complete checkpoint to continue from (it stopped before the first was saved; trainer.saveEvery sets how often): start the run again with another --run-dir`);
  }
  throw new RecipeSetupError(`--resume: ${dir} holds no run (no checkpoints/step-N, no metrics.jsonl): give the folder the run printed at its start (runs/<recipe>-<time>), or drop --resume to start a new run there`);
}

/** The command that continues this run: a resume takes the run's recipe, overrides included, from its config.json. */
export function resumeCommand(runDir: string): string {
  const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);
  return `azr selfplay --run-dir ${q(runDir)} --resume`;
}

/** What a stop by Ctrl-C leaves: the checkpoint a resume continues from, or none (the steps so far are lost). */
export function stoppedLine(runDir: string, saveEvery: number): string {
  const last = completeCheckpoints(runDir).at(-1);
  // A stop saves the step it ends on, so no checkpoint means no step had completed.
  if (!last) return `stopped before the first step completed (no checkpoint; one is saved every ${saveEvery} steps and at a stop): there is nothing to resume; start again with another --run-dir`;
  return `stopped; resume from the checkpoint of step ${last.step} with: ${resumeCommand(runDir)}`;
}

/** What a run stopped by a dead actor leaves: its newest checkpoint, from which a resume (which starts every actor again) continues. */
export function actorGoneLine(runDir: string): string {
  const last = completeCheckpoints(runDir).at(-1);
  if (!last) return "the run has no checkpoint yet: start it again with another --run-dir";
  return `the steps after its checkpoint of step ${last.step} are lost; resume (every actor is started again) with: ${resumeCommand(runDir)}`;
}

/** Leaf settings (dotted paths; arrays and null as values) whose values differ between two recipes. */
export function recipeChanges(before: Recipe, after: Recipe): string[] {
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: string) => {
    const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
    if (isObj(a) && isObj(b)) {
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) walk(a[k], b[k], path ? `${path}.${k}` : k);
    } else if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${path} ${JSON.stringify(a)} → ${JSON.stringify(b)}`);
  };
  walk(before, after, "");
  return out;
}

/**
 * The recipe a resumed run continues with: the one it started with (config.json, overrides
 * included) with this command's --set/--steps/--off-policy on top. Rebuilding it from the named
 * recipe instead would silently go on with that recipe's defaults wherever the resume command
 * left out an override of the start (another model.path, batch size, step count). A --recipe that
 * names another recipe is refused; a config.json this version cannot read falls back to the
 * command line's recipe, with a warning naming why.
 */
/** The `name` a run's config.json records, when at least that much can be read. */
function savedRecipeName(file: string): string | undefined {
  try {
    const name = (JSON.parse(readFileSync(file, "utf8")) as { name?: unknown }).name;
    return typeof name === "string" && /^[\w.\/-]+$/.test(name) ? name : undefined;
  } catch {
    return undefined;
  }
}

export async function resumedRecipe(args: SelfplayArgs, sets: string[]): Promise<Recipe> {
  const saved = join(resolve(args.runDir!), "config.json");
  if (!existsSync(saved)) return runnableRecipe(args.recipe ?? "tiny", sets);
  // Read only (no preflight): runnableRecipe below checks the machine once, for the recipe that runs.
  let started: Recipe;
  try {
    started = await loadRecipe(saved);
  } catch (e) {
    const why = (e as Error).message.split("\n").join(" ");
    // Without --recipe this fell back to tiny: a 7b run resumed with the printed command (which has
    // no --recipe) went on as another recipe. Only a recipe the user names replaces the run's own.
    if (args.recipe === undefined) {
      throw new RecipeSetupError(`--resume: ${saved} cannot be read as a recipe by this version (${why}): resume with --recipe ${savedRecipeName(saved) ?? "<the run's recipe>"} and the --set overrides the run started with`);
    }
    console.error(`azr selfplay: warning: ${saved} cannot be read as a recipe by this version (${why}); resuming with --recipe ${args.recipe} and this command's --set, as given`);
    return runnableRecipe(args.recipe, sets);
  }
  if (args.recipe !== undefined && args.recipe !== started.name)
    throw new RecipeSetupError(`--resume: ${resolve(args.runDir!)} is a run of recipe '${started.name}', not '${args.recipe}': drop --recipe (a resume continues the run's own recipe) or choose another --run-dir`);
  const recipe = await runnableRecipe(saved, sets);
  const changes = recipeChanges(started, recipe);
  if (changes.length) console.log(`azr selfplay: resuming with changed settings: ${changes.join(", ")}`);
  return recipe;
}

/**
 * Test hook: AZR_TEST_LOST_NODE_MS shortens how long this run's node agent waits before it declares
 * a silent node lost and re-places its actors (30 s), so a test of a lost agent takes seconds.
 */
function testLostNodeMs(): { lostNodeMs?: number } {
  const ms = Number(process.env.AZR_TEST_LOST_NODE_MS ?? 0);
  return ms > 0 ? { lostNodeMs: ms } : {};
}

/** Each actor's busy time and peak memory as its process reports them (stats are answered outside its call queue); one that does not answer in 2 s is left out. */
function actorUsageReader(cluster: { stats(actor: string, o: { timeoutMs: number }): Promise<ActorUsageReport> }, names: string[]): () => Promise<Record<string, ActorUsageReport | undefined>> {
  return async () => Object.fromEntries(await Promise.all(names.map(async (n) => [n, await cluster.stats(n, { timeoutMs: 2_000 }).catch(() => undefined)] as const)));
}

export async function selfplay(args: SelfplayArgs): Promise<void> {
  checkResume(args);
  // The shortcuts go through --set, so their values are parsed and range-checked like any setting (--steps -1 is refused).
  const shortcuts = [
    ...(args.steps === undefined ? [] : [`selfplay.steps=${args.steps}`]),
    ...(args.offPolicy === undefined ? [] : [`selfplay.offPolicy=${args.offPolicy}`]),
  ];
  const sets = [...args.set, ...shortcuts];
  const recipe = args.resume ? await resumedRecipe(args, sets) : await runnableRecipe(args.recipe ?? "tiny", sets);
  const model = modelConfig(recipe);
  const runDir = resolve(args.runDir ?? join("runs", `${recipe.name}-${new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19)}`));
  console.log(`azr selfplay: recipe ${recipe.name}, model ${model.modelDir}, run folder ${runDir}`);
  const oversubscribed = overlapOversubscribes(recipe);
  if (oversubscribed) console.log(`note: ${oversubscribed}`);

  // No gpu count given: the agent advertises what nvidia-smi lists, and gives each GPU actor its own indices.
  await using cluster = await connect({ cluster: args.cluster ?? DEFAULT_CLUSTER, runDir, agent: { resources: { cpu: agentCpus(recipe) }, ...testLostNodeMs() } }).catch((e: Error) => {
    // NATS_URL unreachable, credentials refused, no nats-server binary: the runtime's message names the fix; not a bug to trace.
    throw new RecipeSetupError(connectFailure(e, process.env.NATS_URL?.split(",") ?? []), { cause: e });
  });
  // Step traces: to OTLP when OTEL_* configures it, else into the run folder for `azr trace <step>`.
  await using traces = await recordRunTraces(cluster.nc, cluster.name, runDir);
  if (traces.collector) console.log(`step traces: ${traces.collector.file} (azr trace <step> --run-dir ${runDir})`);
  // The ops commands default to cluster 'azr': on another one they see nothing unless told.
  if (cluster.name !== DEFAULT_CLUSTER) console.log(`cluster '${cluster.name}': give azr actors / top / logs / attach / kill --cluster ${cluster.name}`);
  const abort = new AbortController();
  // Ctrl-C, `kill` (SIGTERM) and a closed terminal (SIGHUP) all stop the run the same way: after this
  // step, checkpointed, with the actors and the embedded nats-server stopped (they run in their own
  // process groups, so nothing else stops them; a second signal quits at once).
  const onSigint = (sig: NodeJS.Signals = "SIGINT") => {
    const again = abort.signal.aborted;
    try {
      // The second signal quits: say so, and what is left to resume from, not the first one's "stopping after this step".
      console.error(again
        ? `\n${sig} again: quitting at once; the steps since the last checkpoint are lost. ${stoppedLine(runDir, recipe.trainer.saveEvery)}`
        : `\n${sig}: stopping after this step, which is checkpointed (Ctrl-C again to quit at once, losing the steps since the last checkpoint)`);
    } catch {} // the terminal may be gone (SIGHUP)
    if (again) process.exit(signalExitCode(sig));
    abort.abort();
  };
  process.stderr.on("error", () => {}); // writes to a closed terminal must not end the run before its checkpoint
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, onSigint);
  let web: Awaited<ReturnType<typeof startWebView>> | undefined;
  /** Removes the weight versions the learner published (shm files, object store bucket) before the actors stop. */
  let releaseWeights: (() => Promise<void>) | undefined;
  let evaluator: InTrainingEval | undefined;
  try {
    const a = recipe.actors;
    // `actor`: the spawned actor's own name, when the recipe's actor has several replicas.
    const spawnOpts = (name: ActorName, freshState: boolean, actor: string = name) => ({ name: actor, maxRestarts: a[name].maxRestarts, freshState, resources: actorResources(recipe, name) });
    // Each executor replica is an actor of its own (its own sandboxed workers, on whichever node has room); a pool deals the checks over them.
    const executors: { name: string; port: ReturnType<typeof verdictStreams> }[] = [];
    for (let i = 0; i < recipe.actors["code-executor"].replicas; i++) {
      const name = executorName(i);
      executors.push({ name, port: verdictStreams(await cluster.spawn(CodeExecutorActor, [executorConfig(recipe)], spawnOpts("code-executor", !args.resume, name))) });
    }
    const buffer = await cluster.spawn(TaskBuffer, [{
      maxEntries: recipe.buffer.maxEntries, capPolicy: recipe.buffer.capPolicy, dedupe: recipe.buffer.dedupe,
      referenceSampling: recipe.selfplay.referenceSampling, solverMix: recipe.selfplay.solverMix,
    }], spawnOpts("task-buffer", !args.resume));
    // The rollout engine first: a colocated learner is then given the same GPUs.
    // Weight sync's shm folder and bucket are named after the run folder, so a resumed run cleans what a crash left.
    const weightSync = { runId: `${basename(runDir)}-${createHash("sha256").update(runDir).digest("hex").slice(0, 8)}`, nats: { servers: cluster.spec.servers } };
    // Each replica is an actor of its own (its own cpus and GPUs); the pool splits generation across them and gives every one each weight version.
    const engines: { name: string; port: Handle<RolloutEngine> }[] = [];
    for (let i = 0; i < rolloutReplicas(recipe); i++) {
      const name = replicaName(i);
      engines.push({ name, port: await cluster.spawn(RolloutEngine, [{ ...rolloutConfig(recipe, a["rollout-engine"].cpus), device: actorDevice(recipe, "rollout-engine"), weightSync }], spawnOpts("rollout-engine", true, name)) });
    }
    const rollout = rolloutPort(engines);
    const learner = await cluster.spawn(Learner, [{
      ...model, device: actorDevice(recipe, "learner"), trainer: recipe.trainer, steps: recipe.selfplay.steps, threads: a.learner.cpus,
      maxPositions: recipe.data.maxPromptTokens + recipe.data.maxResponseTokens, weightSync,
    }], spawnOpts("learner", true));
    releaseWeights = () => learner.close();

    const refActor = referenceActor(recipe);
    let reference: ReferencePort | undefined;
    if (refActor) {
      reference = await cluster.spawn(ReferenceModel, [{ ...model, device: actorDevice(recipe, "reference-model"), threads: a["reference-model"].cpus }], spawnOpts("reference-model", true));
    } else if (recipe.trainer.kl.estimator !== "off") {
      reference = { score: (prompts, responses) => learner.scoreReference(prompts, responses), servedBy: "learner" };
      console.log("reference log-probs: the LoRA learner's frozen base (adapters off); no reference-model actor is started");
    }

    web = args.web ? await startWebView({ runDir, cluster }) : undefined;
    if (web) console.log(`web view: ${web.url}`);
    const started = Date.now();
    // A resume starts after its checkpoint's step: the ETA counts only the steps this invocation ran.
    const from = args.resume ? (completeCheckpoints(runDir).at(-1)?.step ?? 0) : 0;
    const cfg: DriverConfig = recipe;
    const answers = executorPort(executors);
    // Evaluation reuses the run's rollout engine (the current weights) and executor; code and math suites start their own scorers.
    evaluator = recipe.eval.every > 0 && recipe.eval.suites.length > 0
      ? new InTrainingEval(recipe, { rollout, executor: answers }, {
        runDir, workers: recipe.executor.workers, benchmarks: benchmarksDir(), log: (s) => console.log(s),
        evalplusChat: recipe.eval.codePrompt === "evalplus" ? evalplusUsesChat(model.modelDir) : undefined,
      })
      : undefined;
    const last = await runSelfplay(cfg, { rollout, executor: answers, buffer, learner, reference }, {
      runDir, resume: args.resume, signal: abort.signal, weightSync: recipe.resources.weightSync,
      // `azr kill`, restarts exhausted or a lost node: the registry says so, and the run stops at once.
      actorGone: goneFromRegistry(cluster.registry),
      actorUsage: actorUsageReader(cluster, [...executors.map((e) => e.name), "task-buffer", ...engines.map((e) => e.name), "learner", ...(refActor ? ["reference-model"] : [])]),
      log: (s) => console.log(s),
      onStep: (r) => console.log(progressLine(r, recipe.selfplay.steps, started, from)),
      evaluate: evaluator && ((step) => evaluator!.evaluate(step)),
    });
    if (engines.length > 1) {
      // What each replica did: its share of the generation, and every weight version loaded.
      for (const e of engines) {
        const s = await e.port.stats();
        console.log(`${e.name}: ${s.generated} sequences generated, weights version ${s.weightsVersion} (loaded: ${s.loadedVersions.join(", ") || "none"})`);
      }
    }
    console.log(last ? `done: ${last.step} steps; metrics in ${join(runDir, "metrics.jsonl")}` : "nothing to do: the run is already at its last step");
  } catch (e) {
    if (abort.signal.aborted) console.error(stoppedLine(runDir, recipe.trainer.saveEvery));
    else if (e instanceof ActorGoneError || e instanceof LearnerLostError) {
      // Not a bug to show a stack for: an actor was killed for good (azr kill) or ran out of restarts,
      // or the learner kept dying (or died where the run cannot roll back): the checkpoint is what goes on.
      console.error(`azr selfplay: ${e.message}`);
      console.error(actorGoneLine(runDir));
      process.exitCode = 1;
    } else if (e instanceof ActorExistsError) {
      // Another run holds the recipe's actor names in this cluster (two runs on one NATS_URL server).
      throw new RecipeSetupError(`cluster '${cluster.name}' on ${cluster.spec.servers.join(", ")} already has an actor named '${e.actor}' (${e.state} on node ${e.node}): ` +
        `another run uses this cluster. Give this run its own --cluster <name> (runs sharing one NATS server each need one), or stop that run first`, { cause: e });
    } else throw e;
  } finally {
    await evaluator?.close();
    await releaseWeights?.().catch(() => {}); // a dead learner has nothing to release (its files went with its exit)
    await web?.close();
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(sig, onSigint);
  }
}

export const selfplayCommand: CommandModule<object, SelfplayArgs> = {
  command: "selfplay",
  describe: "run Absolute Zero self-play with a recipe (tiny by default)",
  builder: (y) =>
    recipeOptions(y, "selfplay.steps=5")
      // No default here: --resume continues the run's own recipe, and must tell "not given" from "tiny".
      .option("recipe", { type: "string", default: undefined, describe: "built-in recipe name (azr recipes) or a .json/.ts recipe file (default tiny; with --resume, the run's own)" })
      .option("run-dir", { type: "string", describe: "run folder (default runs/<recipe>-<time>)" })
      .option("resume", { type: "boolean", default: false, describe: "continue the run in --run-dir from its newest checkpoint, with the recipe it started with (--set changes it)" })
      .option("steps", { type: "number", describe: "shortcut for --set selfplay.steps=N" })
      .option("off-policy", { type: "number", describe: "1: rollouts of step t+1 overlap the update of step t, importance-ratio corrected (shortcut for --set selfplay.offPolicy=N; default 0, synchronous)" })
      .option("web", { type: "boolean", default: false, describe: "serve the run's web view while it runs" })
      .option("cluster", { type: "string", default: DEFAULT_CLUSTER, describe: "cluster name (subject and bucket namespace): runs sharing one NATS server (NATS_URL) each need their own" }) as never,
  handler: (argv) => reportSetupErrors("selfplay", () => selfplay(argv)),
};
