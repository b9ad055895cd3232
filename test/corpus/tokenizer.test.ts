/**
 * The corpus tokenizer: written as a standard tokenizer.json, loaded by @huggingface/tokenizers
 * (the path real models' tokenizers take), exact round trip on any text, digits always single,
 * common code words single tokens, tags atomic and kept when special tokens are skipped.
 */
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Tokenizer } from "@huggingface/tokenizers";
import { formatCorpus, TINY_FORMAT_OPTIONS, type ExecutedProgram } from "../../azr/corpus/format.ts";
import { generatePrograms } from "../../azr/corpus/programs.ts";
import { CorpusEncoder, EOS_TOKEN, pretokenize, TAG_TOKENS, tokenizerConfig, tokenizerJson, trainBpe } from "../../azr/corpus/tokenizer.ts";

// A corpus without execution: outputs are placeholders, which is all a tokenizer needs.
const programs: ExecutedProgram[] = generatePrograms({ seed: 2, count: 120 }).map((p) => ({
  ...p,
  pairs: Array.from({ length: 8 }, (_, k) => ({ input: `${k * 37}, 'abc'`, output: `[${k}, ${k * k}]` })),
}));
const texts = formatCorpus(programs, 2, TINY_FORMAT_OPTIONS).map((e) => e.text);
const bpe = trainBpe(texts, { vocabSize: 768 });
const json = tokenizerJson(bpe);
const tok = new Tokenizer(JSON.parse(JSON.stringify(json)), tokenizerConfig());

describe("corpus tokenizer", () => {
  it("has the asked vocabulary size, bytes and added tokens included", () => {
    assert.equal(tok.get_vocab(true).size, 768);
    for (const t of [EOS_TOKEN, "<|pad|>", ...TAG_TOKENS]) assert.notEqual(tok.token_to_id(t), undefined, t);
  });

  it("round-trips every corpus text exactly", () => {
    for (const t of texts) assert.equal(tok.decode(tok.encode(t).ids), t);
  });

  it("round-trips text it never saw: unicode, tabs, CRLF, emoji, long digit runs", () => {
    const odd = ["naïve café — 日本語\tTAB\r\nCRLF 🙂 ", "x=12345678901234567890", "  \n\n   trailing   ", "<think><think></answer>", "\x00\x01\x7f"];
    for (const t of odd) assert.equal(tok.decode(tok.encode(t).ids), t);
  });

  it("reads numbers digit by digit", () => {
    for (const t of tok.get_vocab(true).keys()) assert.ok(!/[0-9].*[0-9]/.test(t), `token ${JSON.stringify(t)} holds two digits`);
    assert.deepEqual(tok.tokenize("1234"), ["1", "2", "3", "4"]);
  });

  it("common code and prompt words are single tokens", () => {
    for (const w of ["def", "Ġreturn", "Ġfor", "Ġin", "Ġif", "Ġlen", "Ġoutput", "Ġinput", "python"]) assert.notEqual(tok.token_to_id(w), undefined, `${w} not a token`);
    assert.deepEqual(tok.tokenize("def f(x):\n    return x"), ["def", "Ġf", "(", "x", "):", "Ċ", "ĠĠĠ", "Ġreturn", "Ġx"]);
  });

  it("tags are atomic and survive skip_special_tokens; eos does not", () => {
    const text = "<think>\n</think>\n<answer>\n1\n</answer>" + EOS_TOKEN;
    const ids = tok.encode(text).ids;
    for (const t of TAG_TOKENS) assert.ok(ids.includes(tok.token_to_id(t)!), t);
    assert.equal(tok.decode(ids, { skip_special_tokens: true }), "<think>\n</think>\n<answer>\n1\n</answer>");
  });

  it("encoding newline-delimited segments separately gives the same tokens (answer spans are whole tokens)", () => {
    for (const t of texts.slice(0, 200)) {
      const parts = t.split(/(?<=\n)/); // cut after every newline
      const joined = parts.flatMap((p) => tok.encode(p).ids);
      assert.deepEqual(joined, tok.encode(t).ids);
    }
  });

  it("pretokenize agrees with the tokenizer's own pre-tokenizer on piece boundaries", () => {
    for (const t of texts.slice(0, 50)) {
      const pieces = pretokenize(t);
      assert.equal(pieces.join(""), t.replace(new RegExp([EOS_TOKEN, ...TAG_TOKENS].map((x) => x.replace(/[|<>/]/g, "\\$&")).join("|"), "g"), ""));
    }
  });

  it("the fast CorpusEncoder gives exactly the library's ids, and decodes back", () => {
    const enc = new CorpusEncoder(json);
    const odd = ["naïve café — 日本語\tTAB\r\nCRLF 🙂 ", "<think><think></answer><|endoftext|>x", "   \n  a  "];
    for (const t of [...texts, ...odd]) {
      const ids = enc.encode(t);
      assert.deepEqual(ids, tok.encode(t).ids, t.slice(0, 80));
      assert.equal(enc.decode(ids), t);
    }
  });

  it("training is deterministic", () => {
    assert.deepEqual(trainBpe(texts.slice(0, 300), { vocabSize: 400 }), trainBpe(texts.slice(0, 300), { vocabSize: 400 }));
  });
});

describe("the committed tokenizer (data/tiny)", () => {
  it("loads through @huggingface/tokenizers and round-trips corpus texts", () => {
    const dir = new URL("../../data/tiny/", import.meta.url);
    const committed = JSON.parse(readFileSync(new URL("tokenizer.json", dir), "utf8")) as Record<string, unknown>;
    const t = new Tokenizer(committed, JSON.parse(readFileSync(new URL("tokenizer_config.json", dir), "utf8")));
    assert.equal(t.get_vocab(true).size, 1024);
    const enc = new CorpusEncoder(committed);
    for (const text of texts.slice(0, 100)) {
      const ids = t.encode(text).ids;
      assert.equal(t.decode(ids), text);
      assert.deepEqual(enc.encode(text), ids);
    }
  });
});
