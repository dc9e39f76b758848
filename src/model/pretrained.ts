/**
 * A loaded model folder ready for evaluation: weights, tokenizer and chat template together, with
 * text-in/text-out generation over chats (rendered by the tokenizer's own template).
 */
import { type ChatMessage, loadTokenizer, type TextTokenizer } from "../tokenizer/tokenizer.ts";
import { Decoder } from "./forward.ts";
import {
  type BatchGenerateOptions,
  type GenerateOptions,
  type GenerateResult,
  generate,
  generateBatch,
} from "./generate.ts";
import { loadModelOrAdapter } from "./loraFolder.ts";
import type { Model } from "./model.ts";
import { loadStopTokens } from "./stopTokens.ts";

export interface Pretrained {
  dir: string;
  model: Model;
  tokenizer: TextTokenizer;
  decoder: Decoder;
  /** Ids that end an assistant turn (see stopTokens.ts). */
  stopTokens: number[];
}

/** Loads `config.json` + safetensors + tokenizer files of an HF folder, or a LoRA adapter merged onto its base. */
export function loadPretrained(dir: string, opts: { kernels?: "auto" | "js" } = {}): Pretrained {
  const { model, modelDir, tokenizerDir } = loadModelOrAdapter(dir);
  const tokenizer = loadTokenizer(tokenizerDir);
  const stopTokens = loadStopTokens(modelDir, model.config, tokenizer);
  return { dir, model, tokenizer, decoder: new Decoder(model, opts), stopTokens };
}

export interface ChatGenerateOptions extends Omit<GenerateOptions, "stopTokens"> {
  /** Extra stop ids besides the model's end-of-turn ids. */
  stopTokens?: readonly number[];
  /** Variables for the chat template, e.g. `{ enable_thinking: false }`. */
  templateVariables?: Record<string, unknown>;
}

export interface ChatResult extends GenerateResult {
  /** The completion decoded, without the end-of-turn token. */
  text: string;
}

/** Renders `messages` with a generation prompt, generates, and decodes the assistant's reply. */
export function generateChat(
  p: Pretrained,
  messages: readonly ChatMessage[],
  opts: ChatGenerateOptions = {},
): ChatResult {
  const prompt = chatPromptIds(p, messages, opts.templateVariables);
  const stopTokens = [...p.stopTokens, ...(opts.stopTokens ?? [])];
  return withText(p, generate(p.decoder, prompt, { ...opts, stopTokens }), stopTokens);
}

/** `generateChat` over many conversations, decoded in batches (see `generateBatch`). */
export function generateChatBatch(
  p: Pretrained,
  conversations: readonly (readonly ChatMessage[])[],
  opts: ChatGenerateOptions & Pick<BatchGenerateOptions, "batchSize" | "seeds"> = {},
): ChatResult[] {
  const prompts = conversations.map((m) => chatPromptIds(p, m, opts.templateVariables));
  const stopTokens = [...p.stopTokens, ...(opts.stopTokens ?? [])];
  return generateBatch(p.decoder, prompts, { ...opts, stopTokens }).map((r) => withText(p, r, stopTokens));
}

/** Token ids of a chat rendered with the generation prompt (the template writes any special tokens). */
export function chatPromptIds(
  p: Pretrained,
  messages: readonly ChatMessage[],
  templateVariables?: Record<string, unknown>,
): number[] {
  const text = p.tokenizer.applyChatTemplate(messages, {
    addGenerationPrompt: true,
    variables: templateVariables,
  });
  return p.tokenizer.encode(text);
}

function withText(p: Pretrained, r: GenerateResult, stopTokens: number[]): ChatResult {
  const ids =
    r.finishReason === "stop" && stopTokens.includes(r.tokens.at(-1)!) ? r.tokens.slice(0, -1) : r.tokens;
  return { ...r, text: p.tokenizer.decode(ids) };
}
