/**
 * The tiny model's tokenizer, trained on the corpus and written in Hugging Face's standard
 * `tokenizer.json` form (byte-level BPE, as GPT-2/Qwen2 use), so it loads through the same code
 * path as real models' tokenizers.
 *
 * Design, for a tiny model reading code:
 * - pre-tokenizer: words (identifiers, keywords) with an optional leading space; every digit
 *   alone (so numbers are read digit by digit, never as arbitrary chunks); punctuation runs;
 *   a newline always alone (corpus answer spans are newline-delimited, hence whole tokens);
 *   indentation as one run of spaces;
 * - byte-level base alphabet (all 256 bytes): any text encodes, exact round trip;
 * - BPE merges learned from the corpus up to a vocabulary size: frequent Python keywords,
 *   identifiers, operators and prompt words become single tokens;
 * - added tokens: `<|endoftext|>` (eos) and `<|pad|>` are special; `<think>`, `</think>`,
 *   `<answer>`, `</answer>` are atomic but NOT special, so decoding with special tokens skipped
 *   keeps them — azr-spec §5.1 checks the format on exactly that decoding.
 * Covers: pre-tokenising, BPE training, the tokenizer.json / tokenizer_config.json objects.
 * Not: encoding at run time (that is @huggingface/tokenizers, reading these files).
 */

/** The pre-tokenizer pattern, in the syntax tokenizer.json's `Split` takes (and JS accepts). */
export const PRETOKENIZE_PATTERN = " ?[A-Za-z_]+| ?[0-9]| ?[^\\sA-Za-z_0-9]+|\\n| +(?= )|\\s";

export const EOS_TOKEN = "<|endoftext|>";
export const PAD_TOKEN = "<|pad|>";
/** Atomic tags of the R1 format (not special: kept by skip-special-tokens decoding). */
export const TAG_TOKENS = ["<think>", "</think>", "<answer>", "</answer>"] as const;

/** GPT-2's byte → printable character map used by byte-level BPE. */
export function bytesToUnicode(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const map: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) map[b] = keep.includes(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + extra++);
  return map;
}

const BYTE_CHARS = bytesToUnicode();
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A piece's bytes as byte-level symbols. */
export function byteLevel(piece: string): string[] {
  return Array.from(encoder.encode(piece), (b) => BYTE_CHARS[b]);
}

/** Splits text on the added tokens (which never enter BPE), then by the pre-tokenizer pattern. */
export function pretokenize(text: string, added: readonly string[] = [EOS_TOKEN, PAD_TOKEN, ...TAG_TOKENS]): string[] {
  const escaped = added.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const chunks = escaped.length ? text.split(new RegExp(`(?:${escaped.join("|")})`)) : [text];
  const re = new RegExp(PRETOKENIZE_PATTERN, "gu");
  const out: string[] = [];
  for (const chunk of chunks) for (const m of chunk.matchAll(re)) out.push(m[0]);
  return out;
}

export interface BpeOptions {
  /** Total vocabulary including the 256 byte symbols and the added tokens. */
  vocabSize: number;
  /** A pair must occur at least this often to be merged. */
  minFrequency?: number;
}

export interface TrainedBpe {
  /** Byte symbols first (byte order), then one token per merge, in merge order. */
  vocab: string[];
  merges: [string, string][];
}

/**
 * Byte-level BPE on piece frequencies. Ties go to the lexicographically smaller pair, so the
 * result depends only on the texts. Cost: one pass over the distinct pieces per merge, which is
 * small for a code corpus (a few thousand distinct pieces).
 */
export function trainBpe(texts: Iterable<string>, opts: BpeOptions): TrainedBpe {
  const counts = new Map<string, number>();
  for (const t of texts) for (const p of pretokenize(t)) counts.set(p, (counts.get(p) ?? 0) + 1);
  const words = [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([p, n]) => ({ syms: byteLevel(p), n }));
  const vocab = BYTE_CHARS.slice();
  const merges: [string, string][] = [];
  const budget = opts.vocabSize - vocab.length - 2 - TAG_TOKENS.length;
  const minFreq = opts.minFrequency ?? 2;
  for (let m = 0; m < budget; m++) {
    const pairs = new Map<string, number>();
    for (const w of words) {
      for (let i = 0; i + 1 < w.syms.length; i++) {
        const key = w.syms[i] + "\u0000" + w.syms[i + 1];
        pairs.set(key, (pairs.get(key) ?? 0) + w.n);
      }
    }
    let best = "", bestN = 0;
    for (const [k, n] of pairs) if (n > bestN || (n === bestN && k < best)) [best, bestN] = [k, n];
    if (bestN < minFreq) break;
    const [a, b] = best.split("\u0000");
    const merged = a + b;
    merges.push([a, b]);
    vocab.push(merged);
    for (const w of words) {
      if (w.syms.length < 2) continue;
      const next: string[] = [];
      for (let i = 0; i < w.syms.length; i++) {
        if (i + 1 < w.syms.length && w.syms[i] === a && w.syms[i + 1] === b) {
          next.push(merged);
          i++;
        } else next.push(w.syms[i]);
      }
      w.syms = next;
    }
  }
  return { vocab, merges };
}

/** The `tokenizer.json` object for a trained BPE. */
export function tokenizerJson(bpe: TrainedBpe): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  bpe.vocab.forEach((t, i) => (vocab[t] = i));
  let next = bpe.vocab.length;
  const added = [
    { content: EOS_TOKEN, special: true },
    { content: PAD_TOKEN, special: true },
    ...TAG_TOKENS.map((content) => ({ content, special: false })),
  ].map((t) => ({ id: next++, content: t.content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: t.special }));
  const byteLevelStep = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [{ type: "Split", pattern: { Regex: PRETOKENIZE_PATTERN }, behavior: "Isolated", invert: false }, byteLevelStep],
    },
    post_processor: null,
    decoder: byteLevelStep,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: bpe.merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

/** `tokenizer_config.json`: eos/pad names, no BOS (azr-spec §3.1), no space clean-up on decode. */
export function tokenizerConfig(): Record<string, unknown> {
  return {
    tokenizer_class: "PreTrainedTokenizerFast",
    bos_token: null,
    eos_token: EOS_TOKEN,
    pad_token: PAD_TOKEN,
    unk_token: null,
    add_bos_token: false,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
    model_max_length: 2048,
  };
}

/**
 * A fast encoder for the tokenizers this module writes (byte-level BPE, our pre-tokenizer, atomic
 * added tokens), caching each distinct piece: a code corpus repeats few pieces, so encoding is
 * mostly cache hits. It must give exactly @huggingface/tokenizers' ids (tests and make-corpus check
 * that on corpus texts); it exists so a corpus of tens of millions of characters tokenises in
 * seconds. Not: a general tokenizer.json reader (other models load through @huggingface/tokenizers).
 */
export class CorpusEncoder {
  private readonly ranks = new Map<string, number>();
  private readonly ids = new Map<string, number>();
  private readonly added = new Map<string, number>();
  private readonly addedRe: RegExp;
  private readonly pieceRe = new RegExp(PRETOKENIZE_PATTERN, "gu");
  private readonly cache = new Map<string, number[]>();

  constructor(json: Record<string, unknown>) {
    const model = json.model as { type: string; vocab: Record<string, number>; merges: (string | [string, string])[] };
    if (model.type !== "BPE") throw new Error(`CorpusEncoder reads byte-level BPE tokenizers, got model type ${model.type}`);
    for (const [t, id] of Object.entries(model.vocab)) this.ids.set(t, id);
    model.merges.forEach((m, i) => this.ranks.set(typeof m === "string" ? m.replace(" ", "\u0000") : m.join("\u0000"), i));
    for (const a of json.added_tokens as { id: number; content: string }[]) this.added.set(a.content, a.id);
    const escaped = [...this.added.keys()].sort((a, b) => b.length - a.length).map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    this.addedRe = new RegExp(`(${escaped.join("|")})`);
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const chunk of text.split(this.addedRe)) {
      if (chunk === "") continue;
      const special = this.added.get(chunk);
      if (special !== undefined) {
        out.push(special);
        continue;
      }
      for (const m of chunk.matchAll(this.pieceRe)) for (const id of this.piece(m[0])) out.push(id);
    }
    return out;
  }

  /** Ids back to text (added tokens as their text): what a byte-level decoder returns. */
  decode(ids: readonly number[]): string {
    this.tokens ??= new Map([...[...this.ids].map(([t, id]) => [id, t] as const), ...[...this.added].map(([t, id]) => [id, t] as const)]);
    this.byteOf ??= new Map(BYTE_CHARS.map((c, b) => [c, b]));
    let text = "";
    let bytes: number[] = [];
    const flush = () => {
      if (bytes.length) text += decoder.decode(new Uint8Array(bytes));
      bytes = [];
    };
    for (const id of ids) {
      const t = this.tokens.get(id);
      if (t === undefined) throw new Error(`CorpusEncoder.decode: unknown id ${id}`);
      if (this.added.has(t)) {
        flush();
        text += t;
      } else for (const ch of t) bytes.push(this.byteOf.get(ch)!);
    }
    flush();
    return text;
  }

  private tokens: Map<number, string> | undefined;
  private byteOf: Map<string, number> | undefined;

  /** BPE on one piece: repeatedly merge the adjacent pair with the lowest merge rank. */
  private piece(p: string): number[] {
    const hit = this.cache.get(p);
    if (hit) return hit;
    let syms = byteLevel(p);
    for (;;) {
      let best = -1, bestRank = Infinity;
      for (let i = 0; i + 1 < syms.length; i++) {
        const r = this.ranks.get(syms[i] + "\u0000" + syms[i + 1]);
        if (r !== undefined && r < bestRank) [best, bestRank] = [i, r];
      }
      if (best < 0) break;
      const [a, b] = [syms[best], syms[best + 1]];
      const next: string[] = [];
      for (let i = 0; i < syms.length; i++) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) {
          next.push(a + b);
          i++;
        } else next.push(syms[i]);
      }
      syms = next;
    }
    const ids = syms.map((s) => {
      const id = this.ids.get(s);
      if (id === undefined) throw new Error(`CorpusEncoder: symbol ${JSON.stringify(s)} is not in the vocabulary`);
      return id;
    });
    this.cache.set(p, ids);
    return ids;
  }
}
