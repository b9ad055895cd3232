/**
 * Text ↔ token ids for a Hugging Face model directory: `tokenizer.json` through
 * @huggingface/tokenizers, the chat template from `chat_template.jinja` or `tokenizer_config.json`
 * (a string, or a list of named templates of which "default" is used) through @huggingface/jinja. Covers: encode/decode, special tokens, chat templates with
 * add_generation_prompt and extra template variables. Not: training tokenizers, sentencepiece
 * `tokenizer.model` without `tokenizer.json` (refused with the conversion to run).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { Template } from "@huggingface/jinja";

export interface ChatMessage {
  role: "system" | "user" | "assistant" | (string & {});
  content: string;
}

export class TokenizerError extends Error {
  override name = "TokenizerError";
}

type TokenConfig = Record<string, any>;

/** A special token in tokenizer_config.json is a string or an AddedToken object. */
const tokenText = (t: unknown): string | undefined => (typeof t === "string" ? t : t && typeof t === "object" ? (t as { content?: string }).content : undefined);

export class TextTokenizer {
  private readonly tok: Tokenizer;
  private readonly template?: Template;
  /** Names of tokenizer_config.json's chat templates when none is named "default". */
  private readonly otherTemplates: string[] = [];
  readonly bosToken?: string;
  readonly eosToken?: string;

  constructor(tokenizerJson: object, private readonly config: TokenConfig) {
    this.tok = new Tokenizer(tokenizerJson, config);
    this.bosToken = tokenText(config.bos_token);
    this.eosToken = tokenText(config.eos_token);
    const tpl = config.chat_template;
    // Hugging Face also allows a list of named templates; apply_chat_template uses the one named
    // "default" and refuses when there is none, so the others' names are kept for that error
    const named = Array.isArray(tpl) ? tpl.filter((t) => t && typeof t.name === "string" && typeof t.template === "string") : [];
    const text = typeof tpl === "string" ? tpl : named.find((t) => t.name === "default")?.template;
    if (text) this.template = new Template(text);
    else this.otherTemplates = named.map((t) => t.name);
  }

  /**
   * Loads `tokenizer.json` (+ `tokenizer_config.json` when present) from a model directory.
   * `textTokens`: added tokens to encode as ordinary text, through the model's BPE, instead of as
   * their single id (Qwen3 base ships `<think>`/`</think>` with untrained embeddings); the ids
   * still decode to the same text. Names that are not added tokens of this tokenizer change nothing.
   */
  static fromDir(dir: string, opts: { textTokens?: readonly string[] } = {}): TextTokenizer {
    const file = join(dir, "tokenizer.json");
    if (!existsSync(file)) {
      // older Llama/Mistral-style folders ship only a sentencepiece model, which azr does not read
      if (existsSync(join(dir, "tokenizer.model")))
        throw new TokenizerError(`${dir} has a sentencepiece tokenizer.model but no tokenizer.json, the only tokenizer format azr reads: write one with transformers (AutoTokenizer.from_pretrained(dir).save_pretrained(dir)) or copy it from the model's Hub repository`);
      throw new TokenizerError(`no tokenizer.json in ${dir}: copy the model's tokenizer files next to config.json`);
    }
    const cfgFile = join(dir, "tokenizer_config.json");
    const config = existsSync(cfgFile) ? JSON.parse(readFileSync(cfgFile, "utf8")) : {};
    // Newer Hugging Face folders keep the chat template in its own file (transformers reads it
    // before tokenizer_config.json's): without it, such a model would have no chat template.
    const jinja = join(dir, "chat_template.jinja");
    if (existsSync(jinja)) config.chat_template = readFileSync(jinja, "utf8");
    const json = JSON.parse(readFileSync(file, "utf8"));
    const asText = new Set(opts.textTokens ?? []);
    if (asText.size && Array.isArray(json.added_tokens)) json.added_tokens = json.added_tokens.filter((t: { content: string }) => !asText.has(t.content));
    return new TextTokenizer(json, config);
  }

  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false }).ids;
  }

  decode(ids: number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return ""; // the library refuses an empty list
    return this.tok.decode(ids, { skip_special_tokens: opts.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false });
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  /** Ids that end generation: the config's eos token (the chat turn end for chat models). */
  eosTokenIds(): number[] {
    const id = this.eosToken === undefined ? undefined : this.tokenToId(this.eosToken);
    return id === undefined ? [] : [id];
  }

  get hasChatTemplate(): boolean {
    return this.template !== undefined;
  }

  /** Renders the chat template; `vars` reach the template as variables (e.g. enable_thinking). */
  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt?: boolean; vars?: Record<string, unknown> } = {}): string {
    if (!this.template && this.otherTemplates.length)
      throw new TokenizerError(`tokenizer_config.json's chat_template lists templates named ${this.otherTemplates.map((n) => `'${n}'`).join(", ")} but none named 'default', the one azr (like transformers) renders: add a chat_template.jinja or a template named 'default'`);
    if (!this.template) throw new TokenizerError("this tokenizer has no chat template (neither chat_template.jinja nor tokenizer_config.json's chat_template)");
    return this.template.render({
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
      bos_token: this.bosToken ?? "",
      eos_token: this.eosToken ?? "",
      ...opts.vars,
    });
  }
}
