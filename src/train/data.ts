import type { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import { readJsonl } from "../util/jsonl.ts";
import type { ExampleTeacher } from "./teacherLogprobs.ts";

/**
 * One tokenized conversation. `mask[i]` is 1 where token i belongs to the trained assistant turn
 * (its content and its end-of-turn token): only those tokens are predicted with loss, so prompt
 * tokens provably receive no gradient.
 */
export interface Example {
  ids: Int32Array;
  mask: Uint8Array;
  /** With `--kd topk`: the teacher's distribution at its tokens (teacherLogprobs.ts). */
  teacher?: ExampleTeacher;
}

export interface ChatRow {
  messages: { role: string; content: string }[];
  /** The prompt the row answers (mix writes it), which joins it to the teacher's logprobs. */
  prompt_id?: string;
}

/**
 * Read Hugging Face chat rows (`{"messages": [...]}` a line, the last message the assistant's) and
 * tokenize them with the tokenizer's own chat template: the prompt is the conversation rendered up to
 * the generation prompt, the trained part is what the full rendering adds after it, up to and
 * including the end-of-turn token.
 */
export async function loadExamples(
  file: string,
  tokenizer: TextTokenizer,
): Promise<{ examples: Example[]; rows: ChatRow[] }> {
  const examples: Example[] = [];
  const rows: ChatRow[] = [];
  for await (const { value, line } of readJsonl(file)) {
    const row = checkChatRow(value, file, line);
    examples.push(tokenizeConversation(row.messages, tokenizer, { file, line }));
    rows.push(row);
  }
  if (examples.length === 0) throw new UserError("the file holds no chat rows", { file });
  return { examples, rows };
}

export function checkChatRow(value: Record<string, unknown>, file: string, line: number): ChatRow {
  const messages = value.messages;
  if (!Array.isArray(messages) || messages.length < 2) {
    throw new UserError("expected at least a user and an assistant message", {
      file,
      line,
      field: "messages",
    });
  }
  for (const [i, m] of messages.entries()) {
    if (typeof m?.role !== "string" || typeof m?.content !== "string") {
      throw new UserError("each message needs a string role and content", {
        file,
        line,
        field: `messages.${i}`,
      });
    }
  }
  if (messages.at(-1).role !== "assistant") {
    throw new UserError("the last message must be the assistant's (the part trained)", {
      file,
      line,
      field: "messages",
    });
  }
  const id = value.prompt_id;
  return typeof id === "string" || typeof id === "number"
    ? ({ messages, prompt_id: String(id) } as ChatRow)
    : ({ messages } as ChatRow);
}

export function tokenizeConversation(
  messages: ChatRow["messages"],
  tokenizer: TextTokenizer,
  where: { file?: string; line?: number } = {},
): Example {
  const prompt = tokenizer.applyChatTemplate(messages.slice(0, -1), { addGenerationPrompt: true });
  const full = tokenizer.applyChatTemplate(messages);
  if (!full.startsWith(prompt)) {
    throw new UserError("the chat template renders the prompt differently inside the conversation", where);
  }
  const promptIds = tokenizer.encode(prompt);
  const ids = tokenizer.encode(full);
  // BPE may merge across the boundary: the trained part starts where the two tokenizations part
  let start = 0;
  while (start < promptIds.length && promptIds[start] === ids[start]) start++;
  // … and ends at the end-of-turn token (ChatML's <|im_end|>), not at the newline the template adds after it
  const eos = tokenizer.eosTokenId ?? tokenizer.tokenToId("<|im_end|>");
  let end = ids.length;
  if (eos !== undefined) {
    const last = ids.lastIndexOf(eos);
    if (last >= start) end = last + 1;
  }
  const mask = new Uint8Array(end);
  mask.fill(1, start, end);
  return { ids: Int32Array.from(ids.slice(0, end)), mask };
}
