/**
 * The one interface every teacher implements. No runtime dependencies here: adapters (built-in,
 * OpenAI-compatible, local GGUF) live in their own files and map to and from these shapes.
 */
import type { ChatMessage } from "../template/render.ts";

export interface SamplingParams {
  /** 0 means greedy. */
  temperature: number;
  topP: number;
  /** Upper bound on completion tokens; a completion cut by it reports `finishReason: "length"`. */
  maxTokens: number;
  /** Seeds the sampler where the teacher supports seeds (built-in and GGUF always, endpoints maybe). */
  seed?: number;
}

export interface SampleRequest extends SamplingParams {
  messages: ChatMessage[];
  /** How many completions to sample for these messages. */
  n: number;
  signal?: AbortSignal;
  /** Called whenever a streamed response delivers data, so a caller can tell a slow stream from a stalled one. */
  onActivity?: () => void;
  /**
   * Called with each new piece of completion `index`'s text as it is produced, for a caller that streams
   * (`distill serve`). Teachers that produce a completion at once never call it: the caller sends the rest
   * of `Completion.text` when `sample` resolves.
   */
  onText?: (index: number, delta: string, logprobs?: TokenLogprobs[]) => void;
  /**
   * Ask for each completion token's log-probability and this many most likely alternatives (0–20, as
   * OpenAI's `top_logprobs`). Only teachers with `givesLogprobs` take it.
   */
  topLogprobs?: number;
}

/** One completion token's log-probabilities, in OpenAI's `logprobs.content[]` shape. */
export interface TokenLogprobs {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

/** A scored token: the first of a text has no log-probability (nothing comes before it). */
export type ScoredToken = TokenLogprobs | { token: string; logprob: null };

export type FinishReason = "stop" | "length" | "content_filter" | "tool_calls" | "other";

export interface Completion {
  /** The text the teacher returned as its answer content. */
  text: string;
  /** Reasoning returned beside the content (DeepSeek `reasoning_content`, vLLM `reasoning`), if any. */
  reasoning?: string;
  finishReason: FinishReason;
  usage: { promptTokens: number; completionTokens: number };
  /** Teacher-specific facts worth keeping, e.g. the faults a built-in teacher injected. */
  meta?: Record<string, unknown>;
  /** Per token of `text` (stop tokens left out), when the request set topLogprobs. */
  logprobs?: TokenLogprobs[];
}

export interface Teacher {
  /** The spec the teacher was made from, with no secret in it, e.g. `openai:deepseek-reasoner@https://…`. */
  readonly id: string;
  sample(request: SampleRequest): Promise<Completion[]>;
  /** Whether `sample` honours `topLogprobs` (a model folder does). */
  readonly givesLogprobs?: boolean;
  /**
   * Scores a text the teacher did not write — or token ids of its vocabulary, which a student that shares
   * it sampled: every token's log-probability given the tokens before it (the first has none) and
   * `topLogprobs` alternatives; with `next`, one entry more, the most likely token after the last (what
   * vLLM's echo scoring returns, as it needs `max_tokens` ≥ 1). Teachers that cannot leave it out.
   */
  score?(
    input: string | readonly number[],
    topLogprobs: number,
    options?: { next?: boolean },
  ): Promise<ScoredToken[]>;
  /** Release models, sockets, workers. */
  close?(): Promise<void>;
}

/**
 * A failed request. `retryable` says whether the same request may succeed later (rate limits,
 * overload, timeouts, dropped connections), and `retryAfterMs` carries the server's own advice.
 */
export class TeacherError extends Error {
  override name = "TeacherError";
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly details: { status?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: details.cause });
  }
  get status(): number | undefined {
    return this.details.status;
  }
  get retryAfterMs(): number | undefined {
    return this.details.retryAfterMs;
  }
}

/** HTTP statuses worth retrying: timeout, conflict, rate limit, server errors. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}
