/**
 * The ORT engine's worker thread: owns the weights, sessions and tokenizer, and runs generate /
 * score there so the host thread stays responsive. Requests run one at a time in arrival order;
 * abort and "more" (prompts fed to a running generate) messages are read between decode steps.
 */
import { parentPort, workerData } from "node:worker_threads";
import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { loadModel, saveModel, type Weights } from "../checkpoint.ts";
import { readGenerationEosIds, type ArchConfig } from "../config.ts";
import { TextTokenizer } from "../tokenizer.ts";
import { ModelSessions } from "./session.ts";
import { DEFAULT_MAX_BATCH } from "./lanes.ts";
import { generateBatch } from "../generate/loop.ts";
import { PromptFeed } from "../generate/feed.ts";
import { scoreResponses } from "../generate/score.ts";
import type { HostMessage, RemoteError, WorkerInit, WorkerMessage } from "./protocol.ts";

const port = parentPort!;
const post = (m: WorkerMessage, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
const asRemote = (e: unknown): RemoteError =>
  e instanceof Error ? { name: e.name, message: e.message, stack: e.stack } : { name: "Error", message: String(e) };

const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "generation_config.json", "special_tokens_map.json", "chat_template.jinja"];

let config: ArchConfig;
let weights: Weights;
let sessions: ModelSessions;
let tokenizer: TextTokenizer | undefined;
let tokenizerDir: string | undefined;
let eosTokenIds: number[] = [];
const init = workerData as WorkerInit;
const maxBatch = init.options.maxBatch ?? DEFAULT_MAX_BATCH;
const aborts = new Map<number, AbortController>();
const feeds = new Map<number, PromptFeed>();

try {
  if (init.source === "dir") ({ config, weights } = loadModel(init.dir));
  else ({ config, weights } = init);
  tokenizerDir = init.options.tokenizerDir ?? (init.source === "dir" ? init.dir : undefined);
  if (tokenizerDir && existsSync(join(tokenizerDir, "tokenizer.json"))) tokenizer = TextTokenizer.fromDir(tokenizerDir);
  // The model's eos ids plus generation_config.json's and the tokenizer's (chat models end a turn
  // with their own token). generation_config.json travels with the tokenizer files (see save).
  const generationEos = [...new Set([init.source === "dir" ? init.dir : undefined, tokenizerDir])].flatMap((d) => (d ? readGenerationEosIds(d) : []));
  eosTokenIds = [...new Set([...config.eosTokenIds, ...generationEos, ...(tokenizer?.eosTokenIds() ?? [])])];
  sessions = new ModelSessions(config, weights, { threads: init.options.threads, maxPositions: init.options.maxPositions, spin: init.options.spin, decodeGraph: init.options.decodeGraph });
  post({ id: 0, kind: "ready", config, eosTokenIds, hasTokenizer: tokenizer !== undefined });
} catch (e) {
  post({ id: 0, kind: "initError", error: asRemote(e) });
}

async function handle(m: HostMessage): Promise<void> {
  switch (m.kind) {
    case "generate": {
      const ctrl = aborts.get(m.id)!;
      const decode = tokenizer ? (ids: number[]) => tokenizer!.decode(ids, { skipSpecialTokens: false }) : undefined;
      const feed = feeds.get(m.id);
      for await (const gen of generateBatch(sessions, m.req, { eosTokenIds, decode, signal: ctrl.signal, maxBatch, indices: m.indices, feed })) {
        post({ id: m.id, kind: "generation", gen }, [gen.logprobs.buffer as ArrayBuffer]);
      }
      post({ id: m.id, kind: "result", value: null });
      return;
    }
    case "score": {
      const out = await scoreResponses(sessions, m.req.prompts, m.req.responses);
      post({ id: m.id, kind: "result", value: out });
      return;
    }
    case "getWeights":
      post({ id: m.id, kind: "result", value: weights }); // structured clone copies
      return;
    case "setWeights":
      for (const [name, w] of weights) {
        const next = m.weights.get(name);
        if (!next) throw new Error(`setWeights: weight ${name} is missing from version ${m.version}`);
        if (next.length !== w.length) throw new Error(`setWeights: ${name} has ${next.length} values, expected ${w.length}`);
      }
      weights = m.weights;
      sessions.setWeights(weights);
      post({ id: m.id, kind: "result", value: null });
      return;
    case "save":
      saveModel(m.dir, config, weights);
      if (tokenizerDir)
        for (const f of TOKENIZER_FILES) if (existsSync(join(tokenizerDir, f))) copyFileSync(join(tokenizerDir, f), join(m.dir, f));
      post({ id: m.id, kind: "result", value: null });
      return;
    case "dispose":
      await sessions?.dispose();
      post({ id: m.id, kind: "result", value: null });
      port.close();
      return;
  }
}

let queue: Promise<void> = Promise.resolve();
port.on("message", (m: HostMessage) => {
  if (m.kind === "abort") {
    aborts.get(m.id)?.abort(new Error("generation aborted by the caller"));
    return;
  }
  if (m.kind === "more") {
    feeds.get(m.id)?.push(m.indices, m.last); // read now, not queued: the generation it feeds is running
    return;
  }
  if (m.kind === "generate") aborts.set(m.id, new AbortController());
  if (m.kind === "generate" && m.feed) feeds.set(m.id, new PromptFeed());
  queue = queue.then(() =>
    handle(m)
      .catch((e) => post({ id: m.id, kind: "error", error: asRemote(e) }))
      .finally(() => (aborts.delete(m.id), feeds.delete(m.id))),
  );
});
