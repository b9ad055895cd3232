/** A random tiny model with the project's own tokenizer format, for self-play tests (until data/tiny lands). */
import { after, before } from "node:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { identityTriplet, proposerPrompt, promptText } from "../../azr/index.ts";
import { tokenizerConfig, tokenizerJson, trainBpe } from "../../azr/corpus/tokenizer.ts";
import { parseConfig } from "../../model/config.ts";
import { randomWeights, saveModel } from "../../model/checkpoint.ts";

/** `kvHeads` 2 makes a model that splits over two tensor-parallel ranks. */
export function writeRandomTinyModel(seed = 1, kvHeads = 1): string {
  const dir = mkdtempSync(join(tmpdir(), "azr-tiny-random-"));
  const sample = promptText(proposerPrompt({ type: "deduction", references: [identityTriplet()] }, {
    variant: "compact", chatTemplate: false, bannedWords: ["random"], rejectMultipleFunctions: true, timeoutSeconds: 10, nInputs: 4,
  }));
  const bpe = trainBpe([sample, "def f(a):\n    return a * 2\n```python\n```input\n```output\n"], { vocabSize: 320 });
  const tok = tokenizerJson(bpe);
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tok));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(tokenizerConfig()));
  const vocab = bpe.vocab.length + (tok.added_tokens as unknown[]).length;
  const eos = bpe.vocab.length; // the first added token is <|endoftext|>
  const config = parseConfig({
    architectures: ["Qwen2ForCausalLM"], vocab_size: vocab, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1,
    num_attention_heads: 2, num_key_value_heads: kvHeads, rms_norm_eps: 1e-6, max_position_embeddings: 2048, rope_theta: 10000,
    tie_word_embeddings: true, eos_token_id: eos,
  });
  saveModel(dir, config, randomWeights(config, seed, 0.02));
  return dir;
}

/** A random tiny model that declares `positions` positions (Qwen2.5's 32,768 are past the ORT default's 8,192). */
export function writeLongContextModel(seed: number, positions: number): string {
  const dir = writeRandomTinyModel(seed);
  const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...config, max_position_embeddings: positions }));
  return dir;
}

/** Two random tiny models for a file's weight-sync tests, written before them and removed after: the rollout engine's `base`, the learner's `trained`. */
export function useBaseAndTrained(): { readonly base: string; readonly trained: string } {
  const dirs: string[] = [];
  before(() => void dirs.push(writeRandomTinyModel(1), writeRandomTinyModel(2)));
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  return {
    get base() {
      return dirs[0];
    },
    get trained() {
      return dirs[1];
    },
  };
}

/** Runs `fn` with console.log lines collected (the CLI's progress log). */
export async function captureLog(fn: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  try {
    await fn();
  } finally {
    console.log = log;
  }
  return lines;
}

/** A learner stand-in for driver tests: counts its steps, publishes empty weights, checkpoints the step count. */
export class RecordingLearner {
  steps = 0;
  async trainStep() {
    return { step: ++this.steps, loss: 0, gradNorm: 0, lr: 0, tokens: 0, terms: {} };
  }
  async weights() {
    return { version: this.steps, tensors: new Map<string, Float32Array>() };
  }
  async save(dir: string) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "steps"), String(this.steps));
  }
  async load(dir: string) {
    this.steps = Number(readFileSync(join(dir, "steps"), "utf8"));
  }
}
