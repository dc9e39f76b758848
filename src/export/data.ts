/**
 * Chat rows for TRL: each line of `--data` is checked as distill train checks it (messages with string
 * role and content, the last one the assistant's), rendered and tokenized with the student's own
 * template, and written back as `{"messages": [{role, content}], "source"?}` only. Other fields are
 * dropped on purpose: `datasets` infers one Arrow schema for the whole file, and provenance fields whose
 * types vary from row to row (numbers here, strings there) make `load_dataset("json")` fail.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import type { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { checkChatRow, tokenizeConversation } from "../train/data.ts";
import { UserError } from "../util/errors.ts";
import { readJsonl } from "../util/jsonl.ts";

export interface ChatDataStats {
  rows: number;
  /** Tokens of all rendered conversations, and of the trained (assistant) part. */
  tokens: number;
  trainedTokens: number;
  longest: number;
  /** Rows longer than the packed row length (TRL truncates them). */
  overContext: number;
}

/** Copies `src` to `dest` as validated chat rows; returns token statistics under the student's tokenizer. */
export async function copyChatRows(
  src: string,
  dest: string,
  tokenizer: TextTokenizer,
  context: number,
): Promise<ChatDataStats> {
  const stats: ChatDataStats = { rows: 0, tokens: 0, trainedTokens: 0, longest: 0, overContext: 0 };
  const fd = openSync(dest, "w");
  let buffer = "";
  try {
    for await (const { value, line } of readJsonl(src)) {
      const row = checkChatRow(value, src, line);
      const example = tokenizeConversation(row.messages, tokenizer, { file: src, line });
      let trained = 0;
      for (const m of example.mask) trained += m;
      if (trained === 0)
        throw new UserError("the assistant's message renders to no tokens", {
          file: src,
          line,
          field: "messages",
        });
      stats.rows++;
      stats.tokens += example.ids.length;
      stats.trainedTokens += trained;
      stats.longest = Math.max(stats.longest, example.ids.length);
      if (example.ids.length > context) stats.overContext++;
      const out: Record<string, unknown> = {
        messages: row.messages.map((m) => ({ role: m.role, content: m.content })),
      };
      if (typeof value.source === "string") out.source = value.source;
      buffer += `${JSON.stringify(out)}\n`;
      if (buffer.length > 1 << 20) {
        writeSync(fd, buffer);
        buffer = "";
      }
    }
    writeSync(fd, buffer);
  } finally {
    closeSync(fd);
  }
  if (stats.rows === 0) throw new UserError("no chat rows", { file: src });
  return stats;
}
