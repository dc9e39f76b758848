import type { TemplateMarkers } from "../template/markers.ts";
import { type ChatMessage, renderChatSample } from "../template/render.ts";
import { UserError } from "../util/errors.ts";
import { readJsonl } from "../util/jsonl.ts";

/** One line of train.jsonl / validation.jsonl: Hugging Face chat format, as TRL and `datasets` read it. */
export interface ChatRow {
  messages: ChatMessage[];
  source: string;
  prompt_id: string;
}

/**
 * Read a source's rows as chat rows, with line numbers. A row is either a filtered candidate (`prompt`,
 * `reasoning`, `answer`: rendered with the template into the assistant turn by renderChatSample) or
 * already a chat row (`messages` with a user and an assistant turn), passed through. Anything else is
 * a UserError naming the file, line and field.
 */
export async function* readChatRows(
  file: string,
  source: string,
  markers: TemplateMarkers,
): AsyncGenerator<{ row: ChatRow; line: number }> {
  for await (const { value, line } of readJsonl(file)) {
    yield { row: toChatRow(value, source, markers, file, line), line };
  }
}

export function toChatRow(
  value: unknown,
  source: string,
  markers: TemplateMarkers,
  file: string,
  line: number,
): ChatRow {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new UserError("expected a JSON object", { file, line });
  const row = value as Record<string, unknown>;
  const promptId =
    typeof row.prompt_id === "string" || typeof row.prompt_id === "number"
      ? String(row.prompt_id)
      : `${source}-${line}`;
  if (row.messages !== undefined) {
    const messages = row.messages;
    const ok =
      Array.isArray(messages) &&
      messages.every(
        (m) =>
          m &&
          typeof m === "object" &&
          typeof m.content === "string" &&
          ["system", "user", "assistant"].includes(m.role),
      ) &&
      messages.some((m) => m.role === "user") &&
      messages.some((m) => m.role === "assistant");
    if (!ok)
      throw new UserError("must be a list of {role, content} with a user and an assistant turn", {
        file,
        line,
        field: "messages",
      });
    return {
      messages: (messages as ChatMessage[]).map((m) => ({ role: m.role, content: m.content })),
      source,
      prompt_id: promptId,
    };
  }
  const need = (field: string, ok: boolean, what: string) => {
    if (!ok)
      throw new UserError(
        row[field] === undefined || row[field] === null ? `missing (${what})` : `must be ${what}`,
        {
          file,
          line,
          field,
        },
      );
  };
  need("prompt", typeof row.prompt === "string" && row.prompt.trim() !== "", "a non-empty string");
  need("answer", typeof row.answer === "string" && row.answer.trim() !== "", "a non-empty string");
  need(
    "reasoning",
    typeof row.reasoning === "string",
    "a string; rows come from distill filter's kept.jsonl",
  );
  return {
    messages: renderChatSample(
      { prompt: row.prompt as string, reasoning: row.reasoning as string, answer: row.answer as string },
      markers,
    ),
    source,
    prompt_id: promptId,
  };
}
