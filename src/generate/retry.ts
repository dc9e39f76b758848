import { TeacherError } from "../teachers/types.ts";

export interface RetryPolicy {
  /** Tries in all, the first included. */
  maxAttempts: number;
  /** First backoff ceiling; doubles each retry ("full jitter": the wait is uniform below the ceiling). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Once aborted, no further attempt starts and a backoff wait ends at once. */
  signal?: AbortSignal;
}

export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 6, baseDelayMs: 1000, maxDelayMs: 60_000 };

export interface Attempted<T> {
  value?: T;
  error?: unknown;
  attempts: number;
  /** The run was stopped before this candidate could finish: neither a result nor a failure. */
  stopped?: boolean;
}

/**
 * Run `fn` until it succeeds, fails with a non-retryable error, or runs out of attempts. A server's
 * `Retry-After` is honoured as given (capped at maxDelayMs); otherwise exponential backoff with full
 * jitter, so many workers hit by the same 429 do not come back in lockstep. Never throws.
 */
export async function withRetries<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  sleep: (ms: number, signal?: AbortSignal) => Promise<void> = abortableSleep,
): Promise<Attempted<T>> {
  const { signal } = policy;
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) return { error: signal.reason, attempts: attempt - 1, stopped: true };
    try {
      return { value: await fn(attempt), attempts: attempt };
    } catch (error) {
      const retryable = error instanceof TeacherError && error.retryable;
      // the server refused the request itself (400, 401…): a failure, stopping or not
      if (!retryable && error instanceof TeacherError && error.status !== undefined)
        return { error, attempts: attempt };
      // otherwise a stop cuts retries short: the candidate is left for a re-run, not recorded as failed
      if (signal?.aborted) return { error, attempts: attempt, stopped: true };
      if (!retryable || attempt >= policy.maxAttempts) return { error, attempts: attempt };
      const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      const advised = (error as TeacherError).retryAfterMs;
      await sleep(
        advised === undefined ? Math.random() * ceiling : Math.min(advised, policy.maxDelayMs),
        signal,
      );
    }
  }
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
