import type { ChatMessage } from "../template/render.ts";

/** A chat-completions request, checked field by field and with its defaults filled in. */
export interface ChatRequest {
  messages: ChatMessage[];
  n: number;
  temperature: number;
  topP: number;
  maxTokens: number;
  seed?: number;
  stream: boolean;
  includeUsage: boolean;
  /** With `logprobs: true`: alternatives per token (`top_logprobs`, default 0); undefined asks for none. */
  topLogprobs?: number;
}

/**
 * Why a request is refused, as OpenAI words it: `{ error: { message, type: "invalid_request_error",
 * param, code } }` with HTTP `status` (400, or 404 for a model this server does not serve).
 */
export class RequestProblem {
  constructor(
    readonly status: number,
    readonly message: string,
    readonly param: string | null,
    readonly code: string,
  ) {}
}

type FieldCheck = (value: unknown) => string | null;

const numberIn =
  (min: number, max: number, minOpen = false): FieldCheck =>
  (v) =>
    typeof v === "number" && (minOpen ? v > min : v >= min) && v <= max
      ? null
      : `must be a number ${minOpen ? "greater than" : "from"} ${min} ${minOpen ? "and at most" : "to"} ${max}`;

const integerIn =
  (min: number, max: number): FieldCheck =>
  (v) =>
    Number.isInteger(v) && (v as number) >= min && (v as number) <= max
      ? null
      : `must be an integer from ${min} to ${max}`;

const oneOf =
  (...allowed: unknown[]): FieldCheck =>
  (v) =>
    allowed.includes(v)
      ? null
      : `is not supported by this server (only ${allowed.map((a) => JSON.stringify(a)).join(" or ")})`;

/**
 * Every field a request may hold (besides `messages` and `model`) and what it may be; `null` counts as
 * absent. Fields the server cannot honour are accepted only at the value that changes nothing, and
 * fields not listed are refused: a setting is never silently ignored.
 */
const fieldChecks: Record<string, FieldCheck> = {
  temperature: numberIn(0, 2),
  top_p: numberIn(0, 1, true),
  max_tokens: integerIn(1, 1_000_000),
  max_completion_tokens: integerIn(1, 1_000_000),
  n: integerIn(1, 64),
  seed: integerIn(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
  stream: (v) => (typeof v === "boolean" ? null : "must be true or false"),
  stream_options: (v) =>
    typeof v === "object" &&
    !Array.isArray(v) &&
    Object.entries(v as object).every(([k, x]) => k === "include_usage" && typeof x === "boolean")
      ? null
      : 'must be an object with at most "include_usage": true or false',
  user: (v) => (typeof v === "string" ? null : "must be a string"),
  frequency_penalty: oneOf(0),
  presence_penalty: oneOf(0),
  logprobs: (v) => (typeof v === "boolean" ? null : "must be true or false"),
  top_logprobs: integerIn(0, 20),
};

const roles = ["system", "user", "assistant"] as const;

/** A problem with HTTP status 400 (`invalid_value` unless said otherwise). */
function bad(param: string | null, message: string, code = "invalid_value"): RequestProblem {
  return new RequestProblem(400, message, param, code);
}

/** The body's fields, when it is a JSON object naming `name` or no model (404 for another model). */
function bodyFor(body: unknown, name: string): Record<string, unknown> | RequestProblem {
  if (body === null || typeof body !== "object" || Array.isArray(body))
    return bad(null, "the body must be a JSON object", "invalid_type");
  const fields = body as Record<string, unknown>;
  if (fields.model === undefined || fields.model === null || fields.model === name) return fields;
  if (typeof fields.model !== "string") return bad("model", "model must be a string", "invalid_type");
  const message = `the model "${fields.model}" is not served here (it serves "${name}")`;
  return new RequestProblem(404, message, "model", "model_not_found");
}

/**
 * Check a parsed request body for the model `name`: a problem naming the field, or the request with
 * defaults (temperature 1, top_p 1, n 1, `defaultMaxTokens`).
 */
export function parseChatRequest(
  body: unknown,
  name: string,
  defaultMaxTokens: number,
): ChatRequest | RequestProblem {
  const fields = bodyFor(body, name);
  if (isProblem(fields)) return fields;
  const messages = messagesOf(fields.messages);
  if (typeof messages === "string") return bad("messages", messages);
  for (const [key, value] of Object.entries(fields)) {
    if (key === "model" || key === "messages") continue;
    const check = fieldChecks[key];
    if (!check)
      return bad(
        key,
        `unrecognized request argument supplied: ${key} (this server takes model, messages, ${Object.keys(fieldChecks).join(", ")})`,
        "unknown_parameter",
      );
    const problem = value === null ? null : check(value);
    if (problem) return bad(key, `${key} ${problem}; got ${JSON.stringify(value)}`);
  }
  const given = <T>(key: string, fallback: T): T => (fields[key] ?? fallback) as T;
  const logprobs = given("logprobs", false);
  if (!logprobs && fields.top_logprobs != null)
    return bad("top_logprobs", "top_logprobs needs logprobs: true");
  return {
    ...(logprobs ? { topLogprobs: given("top_logprobs", 0) } : {}),
    messages,
    n: given("n", 1),
    temperature: given("temperature", 1),
    topP: given("top_p", 1),
    maxTokens: given("max_completion_tokens", given("max_tokens", defaultMaxTokens)),
    seed: given<number | undefined>("seed", undefined),
    stream: given("stream", false),
    includeUsage: (fields.stream_options as { include_usage?: boolean } | null)?.include_usage === true,
  };
}

/** A scoring request to `/v1/completions`: the text (or token ids), how many alternatives a token, and whether to add the next token. */
export interface ScoreRequest {
  prompt: string | number[];
  logprobs: number;
  /** `max_tokens: 1`: the model's most likely next token is scored and returned too (vLLM needs ≥ 1). */
  next: boolean;
}

/**
 * `/v1/completions` serves scoring only: `prompt` (one string, or one list of token ids), `echo: true`,
 * `max_tokens` 0 or 1 (the most likely next token after the text), `logprobs` 0–20 (default 0); anything
 * else is refused by name.
 */
export function parseScoreRequest(body: unknown, name: string): ScoreRequest | RequestProblem {
  const f = bodyFor(body, name);
  if (isProblem(f)) return f;
  const ids =
    Array.isArray(f.prompt) && f.prompt.length > 0 && f.prompt.every((t) => Number.isInteger(t) && t >= 0);
  if (!ids && (typeof f.prompt !== "string" || f.prompt.length === 0))
    return bad("prompt", "prompt must be a non-empty string or a list of token ids");
  if (f.echo !== true || (f.max_tokens !== 0 && f.max_tokens !== 1))
    return bad(
      f.echo !== true ? "echo" : "max_tokens",
      "this server's /v1/completions scores text only: set echo: true and max_tokens: 0 (or 1 for the next token too; generate through /v1/chat/completions)",
      "unsupported_parameter",
    );
  const allowed = new Set(["model", "prompt", "echo", "max_tokens", "logprobs", "user", "temperature"]);
  const extra = Object.keys(f).find((k) => !allowed.has(k) && f[k] != null);
  if (extra) return bad(extra, `unrecognized request argument supplied: ${extra}`, "unknown_parameter");
  const logprobs = f.logprobs ?? 0;
  const problem = integerIn(0, 20)(logprobs);
  if (problem) return bad("logprobs", `logprobs ${problem}; got ${JSON.stringify(f.logprobs)}`);
  return { prompt: f.prompt as string | number[], logprobs: logprobs as number, next: f.max_tokens === 1 };
}

export function isProblem<T extends object>(value: T | RequestProblem): value is RequestProblem {
  return value instanceof RequestProblem;
}

/**
 * The conversation, or what is wrong with it. Content is a string or OpenAI's list of text parts
 * (`[{ type: "text", text }]`, joined); other parts (images, audio) are refused.
 */
function messagesOf(value: unknown): ChatMessage[] | string {
  if (!Array.isArray(value) || value.length === 0) return "messages must be a non-empty array";
  const messages: ChatMessage[] = [];
  for (const [i, m] of value.entries()) {
    if (m === null || typeof m !== "object") return `messages[${i}] must be an object with role and content`;
    const { role, content } = m as { role?: unknown; content?: unknown };
    if (!roles.includes(role as (typeof roles)[number]))
      return `messages[${i}].role must be one of ${roles.join(", ")}; got ${JSON.stringify(role)}`;
    const text = textOf(content);
    if (text === null)
      return `messages[${i}].content must be a string or a list of {"type": "text", "text": …} parts`;
    messages.push({ role: role as ChatMessage["role"], content: text });
  }
  return messages;
}

function textOf(content: unknown): string | null {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return null;
  const parts = content.map((p) => (p?.type === "text" && typeof p.text === "string" ? p.text : null));
  return parts.includes(null) ? null : parts.join("");
}
