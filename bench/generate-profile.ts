/**
 * Where a decode step's time goes: prefills a batch of the bench-generate models, decodes
 * `steps` tokens through ModelSessions + KvCache, and prints per step the CPU time (this
 * process, all threads: holds on a shared machine) of the session run, the cache append and
 * greedy sampling, then onnxruntime's own profile summed per op type (profiling adds a few µs
 * per node, so the op table is inflated; the first table is the honest total).
 * Usage: node --import tsx bench/generate-profile.ts [tiny|100M] [batch=16] [steps=20] [threads=2]
 */
import ort from "onnxruntime-node";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig, type ArchConfig } from "../model/config.ts";
import { randomWeights } from "../model/checkpoint.ts";
import { ModelSessions } from "../model/ort/session.ts";
import { KvCache, prefilledRow } from "../model/ort/kv-cache.ts";
import { leftPad } from "../model/ort/batch.ts";
import { argmax } from "../model/generate/sampling.ts";

const [label = "tiny", batchArg = "16", stepsArg = "20", threadsArg = "2"] = process.argv.slice(2);
const B = Number(batchArg), N = Number(stepsArg), threads = Number(threadsArg), PROMPT = 32, WARM = 3;
const qwen2 = (o: Record<string, unknown>): ArchConfig =>
  ({ ...parseConfig({ architectures: ["Qwen2ForCausalLM"], tie_word_embeddings: true, max_position_embeddings: 1024, rope_theta: 1e6, ...o }), eosTokenIds: [] });
const CONFIGS: Record<string, ArchConfig> = {
  tiny: qwen2({ vocab_size: 1024, hidden_size: 192, intermediate_size: 512, num_hidden_layers: 6, num_attention_heads: 6, num_key_value_heads: 2 }),
  "100M": qwen2({ vocab_size: 32000, hidden_size: 768, intermediate_size: 2048, num_hidden_layers: 12, num_attention_heads: 12, num_key_value_heads: 2 }),
};
const config = CONFIGS[label];
if (!config) throw new Error(`unknown model ${label}: use tiny or 100M`);

async function profileRun(profile: boolean) {
  // ModelSessions creates its sessions itself: turn profiling on through the create call.
  const prefix = join(tmpdir(), `azr-generate-profile-${process.pid}`);
  const create = ort.InferenceSession.create.bind(ort.InferenceSession) as (...a: unknown[]) => Promise<ort.InferenceSession>;
  (ort.InferenceSession as unknown as { create: unknown }).create = (bytes: unknown, o: object) =>
    create(bytes, profile ? { ...o, enableProfiling: true, profileFilePrefix: prefix } : o);
  const s = new ModelSessions(config, randomWeights(config, 1), { threads, maxPositions: 1024 });
  let seed = 12345;
  const prompts = Array.from({ length: B }, () => Array.from({ length: PROMPT }, () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % config.vocabSize)));
  const batch = leftPad(prompts);
  const pre = await s.prefill(batch.ids, batch.positions, batch.keyBias, B, PROMPT);
  const cache = new KvCache(config, 0, 0);
  cache.admit(Array.from({ length: B }, (_, b) => prefilledRow(config, pre, b, PROMPT, PROMPT)), N + WARM);
  const V = config.vocabSize;
  const pick = (lp: Float32Array) => Array.from({ length: B }, (_, b) => argmax(lp.subarray(b * V, (b + 1) * V)));
  let toks = pick(pre.logprobs);
  const cpu: Record<string, number> = { "session run": 0, "cache append": 0, argmax: 0 };
  const timed = <T>(name: string, f: () => T): T => {
    const c0 = process.cpuUsage();
    const r = f();
    const c = process.cpuUsage(c0);
    cpu[name] += (c.user + c.system) / 1000;
    return r;
  };
  for (let i = 0; i < N + WARM; i++) {
    if (i === WARM) for (const k of Object.keys(cpu)) cpu[k] = 0;
    const pos = Array.from({ length: B }, () => PROMPT + i);
    const c0 = process.cpuUsage();
    const out = await s.decode(toks, pos, cache.keyBias, cache.keys, cache.values, B, cache.capacity);
    const c = process.cpuUsage(c0);
    cpu["session run"] += (c.user + c.system) / 1000;
    timed("cache append", () => cache.append(out.keys, out.values));
    toks = timed("argmax", () => pick(out.logprobs));
  }
  let file: string | undefined;
  // Decode runs the decode graph in its own session where ModelSessions chose it, else the step graph.
  const decodeKind = s.decodeGraph ? "decode" : "step";
  if (profile) {
    // onnxruntime-node's endProfiling returns nothing: each session writes <prefix>_<date>.json.
    // With a separate decode session the prefill's file is there too: keep the one with the most runs.
    (await s.session(decodeKind)).endProfiling();
    const runsIn = (f: string) => (readFileSync(f, "utf8").match(/"model_run"/g) ?? []).length;
    const files = readdirSync(tmpdir()).filter((f) => f.startsWith(`azr-generate-profile-${process.pid}`)).map((f) => join(tmpdir(), f));
    file = files.sort((a, b) => runsIn(b) - runsIn(a))[0];
    for (const f of files.slice(1)) rmSync(f, { force: true });
  }
  await s.dispose();
  (ort.InferenceSession as unknown as { create: unknown }).create = create;
  return { cpu, file, capacity: cache.capacity, decodeKind };
}

const plain = await profileRun(false);
console.log(`${label}, batch ${B}, ${N} decode steps after a ${PROMPT}-token prompt, ${threads} thread(s), cache capacity ${plain.capacity}, ${plain.decodeKind} graph: CPU ms per step`);
for (const [k, v] of Object.entries(plain.cpu)) console.log(`  ${k.padEnd(14)} ${(v / N).toFixed(3)}`);

const prof = await profileRun(true);
interface Event { cat: string; name: string; ts: number; dur: number; args: { op_name?: string } }
if (!prof.file) throw new Error(`onnxruntime wrote no profile file under ${tmpdir()}`);
const events = JSON.parse(readFileSync(prof.file, "utf8")) as Event[];
rmSync(prof.file, { force: true });
const runs = events.filter((e) => e.cat === "Session" && e.name === "model_run");
const from = runs[(prof.decodeKind === "step" ? 1 : 0) + WARM].ts; // after the prefill (if it ran in this session) and the warm-up steps
const byOp = new Map<string, { us: number; nodes: Set<string> }>();
for (const e of events)
  if (e.cat === "Node" && e.ts >= from && e.name.endsWith("_kernel_time")) {
    const o = byOp.get(e.args.op_name!) ?? { us: 0, nodes: new Set<string>() };
    o.us += e.dur;
    o.nodes.add(e.name);
    byOp.set(e.args.op_name!, o);
  }
const total = [...byOp.values()].reduce((a, o) => a + o.us, 0);
console.log(`onnxruntime profile (inflated): kernels ${(total / 1000 / N).toFixed(3)} ms/step in ${[...byOp.values()].reduce((a, o) => a + o.nodes.size, 0)} nodes`);
for (const [op, o] of [...byOp].sort((a, b) => b[1].us - a[1].us))
  console.log(`  ${op.padEnd(34)} ${(o.us / 1000 / N).toFixed(3)} ms/step  ${o.nodes.size} nodes  ${((100 * o.us) / total).toFixed(0)}%`);
