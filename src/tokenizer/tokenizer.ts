/**
 * Tokenizers from `tokenizer.json` (+ `tokenizer_config.json`) through @huggingface/tokenizers, and chat
 * rendering through the tokenizer's own Jinja template (@huggingface/jinja), the way transformers'
 * `apply_chat_template` does it.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Template } from "@huggingface/jinja";
import { Tokenizer } from "@huggingface/tokenizers";
import { UserError } from "../util/errors.ts";
import { byteLevelBytes } from "./byteLevel.ts";

export interface ChatMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

export interface ChatTemplateOptions {
  /** Append the assistant header so the model continues as the assistant (default false). */
  addGenerationPrompt?: boolean;
  /** Extra template variables, e.g. `{ enable_thinking: false }` for Qwen3. */
  variables?: Record<string, unknown>;
}

type TokenField = string | { content: string } | null | undefined;

/** One tokenizer: encode/decode text, look up ids, render chats. */
export class TextTokenizer {
  private readonly tokenizer: Tokenizer;
  private readonly template: Template | null;
  readonly chatTemplate: string | null;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly padToken: string | null;

  constructor(
    readonly tokenizerJson: Record<string, unknown>,
    readonly tokenizerConfig: Record<string, unknown> = {},
    chatTemplate?: string | null,
  ) {
    this.tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
    const cfgTemplate = tokenizerConfig.chat_template;
    // Some configs hold a list of named templates; "default" is the one transformers picks.
    const fromConfig = Array.isArray(cfgTemplate)
      ? ((cfgTemplate as { name: string; template: string }[]).find((t) => t.name === "default")?.template ??
        null)
      : typeof cfgTemplate === "string"
        ? cfgTemplate
        : null;
    this.chatTemplate = chatTemplate ?? fromConfig;
    this.template = this.chatTemplate ? new Template(this.chatTemplate) : null;
    this.bosToken = tokenText(tokenizerConfig.bos_token as TokenField);
    this.eosToken = tokenText(tokenizerConfig.eos_token as TokenField);
    this.padToken = tokenText(tokenizerConfig.pad_token as TokenField);
  }

  private cachedVocabSize = -1;

  /** Size of the id space: BPE vocabulary plus added tokens (largest id + 1). */
  get vocabSize(): number {
    if (this.cachedVocabSize < 0) {
      let max = -1;
      for (const id of this.tokenizer.get_vocab(true).values()) if (id > max) max = id;
      this.cachedVocabSize = max + 1;
    }
    return this.cachedVocabSize;
  }

  /** Token ids of `text`; special tokens written in the text (e.g. `<|im_start|>`) become their ids. */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false }).ids;
  }

  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    // a model whose first token is end-of-turn answers with nothing; the library throws on no ids
    if (ids.length === 0) return "";
    return this.tokenizer.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? false });
  }

  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
  }

  /**
   * The bytes one token stands for, as OpenAI's logprobs `bytes` give them: a byte-level BPE entry
   * through GPT-2's table (a token may hold part of a character), anything else as its text in UTF-8.
   */
  tokenBytes(id: number): number[] {
    this.addedIds ??= new Set([...this.tokenizer.get_added_tokens_decoder()].map(([added]) => added));
    const entry = this.idToToken(id);
    const bytes = !this.addedIds.has(id) && entry !== undefined ? byteLevelBytes(entry) : null;
    return bytes ?? Array.from(new TextEncoder().encode(this.decode([id])));
  }

  /** Added tokens (ChatML markers and the like) are stored as text, not byte-level symbols. */
  private addedIds?: Set<number>;

  get eosTokenId(): number | undefined {
    return this.eosToken ? this.tokenToId(this.eosToken) : undefined;
  }

  get bosTokenId(): number | undefined {
    return this.bosToken ? this.tokenToId(this.bosToken) : undefined;
  }

  get padTokenId(): number | undefined {
    return this.padToken ? this.tokenToId(this.padToken) : undefined;
  }

  /** Ids of added tokens marked special (ChatML markers, end of text). */
  get specialTokenIds(): number[] {
    return [...this.tokenizer.get_added_tokens_decoder()].filter(([, t]) => t.special).map(([id]) => id);
  }

  /** Renders messages with the tokenizer's chat template (transformers' `apply_chat_template(tokenize=False)`). */
  applyChatTemplate(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
    if (!this.template)
      throw new UserError("this tokenizer has no chat_template", { field: "chat_template" });
    return this.template.render({
      ...opts.variables,
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
      bos_token: this.bosToken ?? "",
      eos_token: this.eosToken ?? "",
      pad_token: this.padToken ?? "",
      unk_token: "",
    });
  }
}

/** Loads `tokenizer.json`, `tokenizer_config.json` and `chat_template.jinja` (when present) from a folder. */
export function loadTokenizer(dir: string): TextTokenizer {
  const jsonPath = join(dir, "tokenizer.json");
  if (!existsSync(jsonPath)) throw new UserError("no tokenizer.json", { file: dir });
  const tokenizerJson = readJson(jsonPath);
  const configPath = join(dir, "tokenizer_config.json");
  const tokenizerConfig = existsSync(configPath) ? readJson(configPath) : {};
  const jinjaPath = join(dir, "chat_template.jinja");
  const chatTemplate = existsSync(jinjaPath) ? readFileSync(jinjaPath, "utf8") : null;
  try {
    return new TextTokenizer(tokenizerJson, tokenizerConfig, chatTemplate);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`cannot build tokenizer: ${(err as Error).message}`, { file: jsonPath });
  }
}

/** Writes `tokenizer.json` and `tokenizer_config.json` (e.g. a trained BPE tokenizer) into a folder. */
export function writeTokenizerFiles(
  dir: string,
  files: { tokenizerJson: unknown; tokenizerConfig: unknown },
): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "tokenizer.json"), `${JSON.stringify(files.tokenizerJson)}\n`);
  writeFileSync(join(dir, "tokenizer_config.json"), `${JSON.stringify(files.tokenizerConfig, null, 2)}\n`);
}

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new UserError(`cannot read JSON: ${(err as Error).message}`, { file: path });
  }
}

function tokenText(t: TokenField): string | null {
  if (t == null) return null;
  return typeof t === "string" ? t : t.content;
}
