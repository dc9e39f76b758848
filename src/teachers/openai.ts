import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai";
import { UserError } from "../util/errors.ts";
import { countTokens } from "../util/tokens.ts";
import {
  createAgents,
  createHttpFetch,
  type HttpReply,
  HttpTimeoutError,
  headersOf,
  httpPost,
} from "./httpFetch.ts";
import {
  type Completion,
  type FinishReason,
  isRetryableStatus,
  type SampleRequest,
  type ScoredToken,
  type Teacher,
  TeacherError,
  type TokenLogprobs,
} from "./types.ts";

export interface OpenAITeacherOptions {
  model: string;
  baseURL: string;
  /** Name of the environment variable holding the key (default OPENAI_API_KEY). Never the key itself. */
  apiKeyEnv?: string;
  /** Stream the response (long reasoning outputs); reasoning deltas are collected too. */
  stream?: boolean;
  /** Per-request timeout in milliseconds (default 10 minutes, for long reasoning). */
  timeoutMs?: number;
}

/**
 * Any OpenAI-compatible chat-completions endpoint (OpenAI, DeepSeek, vLLM, SGLang, Ollama, llama.cpp
 * server, OpenRouter). Streaming goes through the official `openai` client (its SSE parser);
 * a non-streaming request is one JSON POST on the same keep-alive sockets, parsed once: the client's
 * per-request work (header merging, logging, web `Response`s) cost more CPU than the request itself
 * against fast local servers (bench:generate). Its errors are built with the client's own
 * `APIError.generate`, so both paths map to the same `TeacherError`s. Retries are the generator's,
 * so neither path retries by itself: every attempt is accounted for in one place.
 * DeepSeek's `reasoning_content` (and vLLM/OpenRouter's `reasoning`) is read from messages and deltas.
 */
export function createOpenAITeacher(options: OpenAITeacherOptions): Teacher {
  const keyName = options.apiKeyEnv ?? "OPENAI_API_KEY";
  const apiKey = process.env[keyName];
  if (!apiKey && !isLoopback(options.baseURL)) {
    throw new UserError(
      `set the API key in the environment variable ${keyName} (or name another with --api-key-env)`,
    );
  }
  const timeoutMs = options.timeoutMs ?? 600_000;
  const agents = createAgents();
  const client = new OpenAI({
    apiKey: apiKey || "no-key",
    baseURL: options.baseURL,
    maxRetries: 0,
    timeout: timeoutMs,
    fetch: createHttpFetch(agents),
  });
  // what the client sends on a non-streaming call, less its telemetry (x-stainless-*) headers
  const endpoint = new URL(options.baseURL);
  endpoint.pathname = `${endpoint.pathname.replace(/\/+$/, "")}/chat/completions`;
  const scoreEndpoint = new URL(options.baseURL);
  scoreEndpoint.pathname = `${scoreEndpoint.pathname.replace(/\/+$/, "")}/completions`;
  const headers = {
    "content-type": "application/json",
    accept: "application/json",
    "user-agent": "distillery (openai-compatible)",
    authorization: `Bearer ${apiKey || "no-key"}`,
  };
  const redact = (text: string) => (apiKey ? text.split(apiKey).join("[redacted]") : text);
  return {
    id: `openai:${options.model}@${options.baseURL}`,
    // asked for, an endpoint may still return none (DeepSeek's reasoner): the caller checks each completion
    givesLogprobs: true,
    async sample(request: SampleRequest): Promise<Completion[]> {
      const body = toRequestBody(options.model, request);
      try {
        if (options.stream) return [await streamOnce(client, body, request.signal, request.onActivity)];
        let reply: HttpReply;
        try {
          const transport = { signal: request.signal, timeoutMs };
          reply = await httpPost(agents, endpoint, JSON.stringify(body), headers, transport);
        } catch (err) {
          throw fromTransportError(err, request.signal);
        }
        return fromResponse(parseReply(reply));
      } catch (err) {
        throw toTeacherError(err, redact);
      }
    },
    async score(input, topLogprobs, scoring = {}) {
      const body = scoreRequestBody(options.model, input, topLogprobs);
      try {
        let reply: HttpReply;
        try {
          reply = await httpPost(agents, scoreEndpoint, JSON.stringify(body), headers, { timeoutMs });
        } catch (err) {
          throw fromTransportError(err, undefined);
        }
        const response = parseReply(reply) as unknown as LegacyCompletion;
        const scored = fromScoreResponse(response);
        // vLLM scores only with max_tokens ≥ 1: what it adds after the prompt's tokens is the `next` entry
        const promptTokens =
          typeof input === "string" ? (response.usage?.prompt_tokens ?? scored.length - 1) : input.length;
        return scored.slice(0, promptTokens + (scoring.next ? 1 : 0));
      } catch (err) {
        throw toTeacherError(err, redact);
      }
    },
    async close() {
      agents["http:"].destroy();
      agents["https:"].destroy();
    },
  };
}

/**
 * A whole HTTP reply → the parsed body, or the `openai` client's own error for that status (so
 * `toTeacherError` sees what the client would have thrown). A 2xx body that is not JSON throws the
 * SyntaxError that `toTeacherError` calls a malformed response.
 */
function parseReply(reply: HttpReply): OpenAI.Chat.Completions.ChatCompletion {
  const text = reply.body.toString("utf8");
  if (reply.status >= 200 && reply.status < 300) return JSON.parse(text);
  let json: object | undefined;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined; // a plain-text error page: the client keeps the text as the message
  }
  throw APIError.generate(reply.status, json, json ? undefined : text, headersOf(reply.rawHeaders));
}

/** Socket-level failures → the client's error classes: abort, timeout, anything else a connection error. */
function fromTransportError(err: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted || (err as Error)?.name === "AbortError") return new APIUserAbortError();
  if (err instanceof HttpTimeoutError) return new APIConnectionTimeoutError();
  return new APIConnectionError({ message: (err as Error)?.message, cause: err as Error });
}

type RequestBody = OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming;

/** Request → provider body. Pure, tested on its own. */
export function toRequestBody(model: string, request: SampleRequest): RequestBody {
  return {
    model,
    messages: request.messages,
    temperature: request.temperature,
    top_p: request.topP,
    max_tokens: request.maxTokens,
    n: request.n,
    ...(request.seed === undefined ? {} : { seed: request.seed }),
    ...(request.topLogprobs === undefined ? {} : { logprobs: true, top_logprobs: request.topLogprobs }),
  };
}

/**
 * Scoring through the legacy completions API, as vLLM, SGLang and `distill serve` document it: the text
 * (or token ids) echoed with each token's log-probability and `logprobs` alternatives, greedy, with the
 * one generated token vLLM insists on (`max_tokens` ≥ 1).
 */
export function scoreRequestBody(model: string, input: string | readonly number[], topLogprobs: number) {
  return {
    model,
    prompt: typeof input === "string" ? input : [...input],
    echo: true,
    max_tokens: 1,
    temperature: 0,
    logprobs: topLogprobs,
  };
}

/** The legacy completions response fields scoring reads. */
interface LegacyCompletion {
  usage?: { prompt_tokens?: number };
  choices?: {
    logprobs?: {
      tokens?: string[];
      token_logprobs?: (number | null)[];
      top_logprobs?: (Record<string, number> | null)[] | null;
    } | null;
  }[];
}

/**
 * A scoring response → one entry a token (the first without a log-probability). Alternatives come as
 * an object keyed by token text, so they carry no bytes; most likely first.
 */
export function fromScoreResponse(response: LegacyCompletion): ScoredToken[] {
  const logprobs = response?.choices?.[0]?.logprobs;
  if (!logprobs || !Array.isArray(logprobs.tokens) || !Array.isArray(logprobs.token_logprobs))
    throw new TeacherError("malformed response: no logprobs.tokens to score with", true);
  return logprobs.tokens.map((token, i) => {
    const logprob = logprobs.token_logprobs![i];
    if (logprob === null || logprob === undefined) return { token, logprob: null };
    const top = Object.entries(logprobs.top_logprobs?.[i] ?? {})
      .sort(([, a], [, b]) => b - a)
      .map(([text, lp]) => ({ token: text, logprob: lp, bytes: [] }));
    return { token, logprob, bytes: [], top_logprobs: top };
  });
}

/** Provider response → completions. Pure; a response without choices is malformed (retryable). */
export function fromResponse(response: OpenAI.Chat.Completions.ChatCompletion): Completion[] {
  if (!Array.isArray(response?.choices) || response.choices.length === 0) {
    throw new TeacherError("malformed response: no choices", true);
  }
  const n = response.choices.length;
  return response.choices.map((choice) => {
    const message = choice.message as {
      content?: string | null;
      reasoning_content?: string;
      reasoning?: string;
    };
    const text = message?.content ?? "";
    const reasoning = message?.reasoning_content ?? message?.reasoning ?? undefined;
    const logprobs = logprobsOf(choice.logprobs);
    return {
      text,
      ...(reasoning ? { reasoning } : {}),
      ...(logprobs ? { logprobs } : {}),
      finishReason: mapFinishReason(choice.finish_reason),
      usage: {
        promptTokens: response.usage?.prompt_tokens ?? 0,
        completionTokens: response.usage
          ? Math.round(response.usage.completion_tokens / n)
          : countTokens(text) + countTokens(reasoning ?? ""),
      },
    };
  });
}

/** `onActivity` is called when the stream opens and with each chunk, for the caller's stall detection. */
async function streamOnce(
  client: OpenAI,
  body: RequestBody,
  signal?: AbortSignal,
  onActivity?: () => void,
): Promise<Completion> {
  const stream = await client.chat.completions.create(
    { ...body, n: 1, stream: true, stream_options: { include_usage: true } },
    { signal },
  );
  onActivity?.();
  let text = "";
  let reasoning = "";
  let logprobs: TokenLogprobs[] | undefined;
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of stream) {
    onActivity?.();
    const choice = chunk.choices?.[0];
    const delta = choice?.delta as
      | { content?: string | null; reasoning_content?: string; reasoning?: string }
      | undefined;
    text += delta?.content ?? "";
    reasoning += delta?.reasoning_content ?? delta?.reasoning ?? "";
    const tokens = logprobsOf(choice?.logprobs);
    if (tokens) logprobs = [...(logprobs ?? []), ...tokens];
    finish = choice?.finish_reason ?? finish;
    usage = chunk.usage ?? usage;
  }
  if (finish === null) throw new TeacherError("stream ended without a finish reason", true);
  return {
    text,
    ...(reasoning ? { reasoning } : {}),
    ...(logprobs ? { logprobs } : {}),
    finishReason: mapFinishReason(finish),
    usage: {
      promptTokens: usage?.prompt_tokens ?? 0,
      completionTokens: usage?.completion_tokens ?? countTokens(text) + countTokens(reasoning),
    },
  };
}

/**
 * A choice's (or a stream chunk's) `logprobs.content`, as OpenAI and vLLM shape it, or undefined where
 * the endpoint sent none. Entries are kept as sent (vLLM's `token_id:N` tokens included); a missing
 * `top_logprobs` or `bytes` becomes an empty list.
 */
function logprobsOf(field: unknown): TokenLogprobs[] | undefined {
  const content = (field as { content?: unknown } | null | undefined)?.content;
  if (!Array.isArray(content)) return undefined;
  const entry = (e: { token?: unknown; logprob?: unknown; bytes?: unknown }) => ({
    token: String(e?.token ?? ""),
    logprob: typeof e?.logprob === "number" ? e.logprob : Number.NEGATIVE_INFINITY,
    bytes: Array.isArray(e?.bytes) ? (e.bytes as number[]) : [],
  });
  return content.map((e) => ({
    ...entry(e),
    top_logprobs: Array.isArray(e?.top_logprobs) ? e.top_logprobs.map(entry) : [],
  }));
}

function mapFinishReason(reason: string | null | undefined): FinishReason {
  if (reason === "stop" || reason === "length" || reason === "content_filter" || reason === "tool_calls")
    return reason;
  return "other";
}

/** Transport and API errors → TeacherError saying whether to retry and when. */
export function toTeacherError(err: unknown, redact: (text: string) => string = (t) => t): unknown {
  if (err instanceof TeacherError) return err;
  if (err instanceof APIUserAbortError) return new TeacherError("request aborted", false, { cause: err });
  if (err instanceof APIConnectionTimeoutError)
    return new TeacherError("request timed out", true, { cause: err });
  if (err instanceof APIConnectionError) {
    return new TeacherError(redact(`connection failed: ${err.message}`), true, { cause: err });
  }
  if (err instanceof APIError && err.status !== undefined) {
    return new TeacherError(redact(`HTTP ${err.status}: ${err.message}`), isRetryableStatus(err.status), {
      status: err.status,
      retryAfterMs: retryAfterMs(err.headers),
    });
  }
  if (err instanceof SyntaxError || err instanceof TypeError) {
    // a body that is not the JSON it claims to be: a proxy hiccup or a torn response
    return new TeacherError(redact(`malformed response: ${err.message}`), true, { cause: err });
  }
  return err;
}

/** `retry-after-ms`, else `retry-after` in seconds or as an HTTP date. */
export function retryAfterMs(headers: Headers | undefined): number | undefined {
  const ms = Number(headers?.get("retry-after-ms"));
  if (Number.isFinite(ms) && ms > 0) return ms;
  const raw = headers?.get("retry-after");
  if (!raw) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === "localhost" || host === "[::1]" || host.startsWith("127.");
  } catch {
    return false;
  }
}
