import { type Completion, type SampleRequest, type Teacher, TeacherError } from "./types.ts";
import { unreachableCode } from "./unreachable.ts";

/**
 * One teacher over several endpoints (a vLLM/SGLang fleet, or several providers serving one model).
 * Each request goes to the least-loaded endpoint that is healthy and within its limits; the caller
 * waits while every endpoint is busy. Per endpoint:
 * - concurrency adapts by AIMD, as TCP does: an overload answer (429, 503, 529) halves the window,
 *   each healthy response grows it by 1/window (≈ +1 per window of successes), up to the ceiling;
 * - requests/min and tokens/min are token buckets (10 s of burst); a request reserves the mean tokens
 *   of those before it when sent, settled with its reported usage when it returns;
 * - `failuresToPause` retryable failures in a row pause it; when the pause ends one probe request
 *   goes through, and only its success reopens the endpoint (each failed probe doubles the pause).
 * While every endpoint is paused, requests fail at once with a retryable error carrying the time to
 * the next probe, so the caller's backoff waits instead of hammering a dead fleet.
 */
export interface EndpointLimits {
  /** Most requests in flight here: the ceiling the adaptive window grows back to. */
  concurrency: number;
  requestsPerMinute?: number;
  /** Prompt + completion tokens a minute. */
  tokensPerMinute?: number;
}

export interface PoolOptions {
  /** Retryable failures in a row that pause an endpoint (default 5). */
  failuresToPause?: number;
  /** The first pause; doubles with each failed probe up to `maxPauseMs` (defaults 1 s and 60 s). */
  pauseMs?: number;
  maxPauseMs?: number;
  now?: () => number;
  /** The pool's id (default: the endpoints' ids joined by commas). */
  id?: string;
}

export interface EndpointStats {
  id: string;
  /** The adaptive concurrency window now (≤ limits.concurrency). */
  window: number;
  inFlight: number;
  requests: number;
  successes: number;
  failures: number;
  /** Times the window was halved by an overload answer. */
  backoffs: number;
  /** Times the endpoint was paused for failing repeatedly. */
  pauses: number;
  /** Requests that could not reach it at all (ECONNREFUSED, ENOTFOUND…). */
  unreachable: number;
  /** It has answered at least once: a completion, or any HTTP status. */
  reached: boolean;
  state: "healthy" | "paused" | "probing";
}

export interface TeacherPool extends Teacher {
  stats(): EndpointStats[];
  /** Reject every request still waiting for an endpoint (a stopping run issues nothing more). */
  cancelWaiting(reason: unknown): void;
}

/**
 * The pool's own "wait": every endpoint is paused, so the request was not sent. Its cause is the
 * endpoints' failures before it, which the caller has already seen.
 */
export class EndpointsPaused extends TeacherError {}

/** HTTP answers that mean "too much load here", which shrink the window. */
const overloadStatuses = new Set([429, 503, 529]);

export function createTeacherPool(
  endpoints: { teacher: Teacher; limits: EndpointLimits }[],
  options: PoolOptions = {},
): TeacherPool {
  if (endpoints.length === 0) throw new Error("a teacher pool needs at least one endpoint");
  const now = options.now ?? (() => performance.now());
  const failuresToPause = options.failuresToPause ?? 5;
  const basePause = options.pauseMs ?? 1000;
  const maxPause = options.maxPauseMs ?? 60_000;
  const states = endpoints.map((e) => new EndpointState(e.teacher, e.limits, now()));
  type Slot = { endpoint: EndpointState; seq: number; reserved: number };
  const waiters: { resolve: (slot: Slot) => void; reject: (err: unknown) => void }[] = [];
  let dispatched = 0;
  let timer: NodeJS.Timeout | undefined;

  const pump = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    while (waiters.length > 0) {
      const t = now();
      const choice = pickEndpoint(states, t, basePause);
      if (choice instanceof EndpointState) {
        const seq = ++dispatched;
        const reserved = choice.dispatch(t, seq);
        waiters.shift()!.resolve({ endpoint: choice, seq, reserved });
        continue;
      }
      if (choice.allPaused) {
        // no endpoint will take anything before its probe: let the callers' backoff do the waiting
        const wait = Math.max(1, Math.min(choice.wakeAt, t + maxPause) - t);
        const err = new EndpointsPaused(`every endpoint is paused after repeated failures`, true, {
          retryAfterMs: wait,
        });
        for (const w of waiters.splice(0)) w.reject(err);
        return;
      }
      if (Number.isFinite(choice.wakeAt)) {
        timer = setTimeout(pump, Math.max(1, Math.ceil(choice.wakeAt - t)));
      }
      return; // otherwise a release will pump again
    }
  };

  const acquire = (signal?: AbortSignal) =>
    new Promise<Slot>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const waiter = { resolve, reject };
      waiters.push(waiter);
      signal?.addEventListener(
        "abort",
        () => {
          const at = waiters.indexOf(waiter);
          if (at >= 0) {
            waiters.splice(at, 1);
            reject(signal.reason);
          }
        },
        { once: true },
      );
      pump();
    });

  return {
    id: options.id ?? endpoints.map((e) => e.teacher.id).join(","),
    givesLogprobs: endpoints.every((e) => e.teacher.givesLogprobs),
    async sample(request: SampleRequest): Promise<Completion[]> {
      const { endpoint, seq, reserved } = await acquire(request.signal);
      try {
        const completions = await endpoint.teacher.sample(request);
        endpoint.succeed(completions, now(), reserved);
        return completions.map((c) => ({ ...c, meta: { ...c.meta, endpoint: endpoint.teacher.id } }));
      } catch (err) {
        // an abort counts against the endpoint only if its reason is the endpoint's fault (a deadline or
        // stall the caller reports as a TeacherError), not when the caller is stopping
        const reason = request.signal?.aborted ? request.signal.reason : err;
        if (reason instanceof TeacherError || !request.signal?.aborted)
          endpoint.fail(reason, seq, dispatched, now(), { failuresToPause, basePause, maxPause });
        else endpoint.release(seq);
        endpoint.refund(now(), reserved);
        throw err;
      } finally {
        pump();
      }
    },
    stats: () => states.map((s) => s.stats()),
    cancelWaiting(reason: unknown) {
      for (const w of waiters.splice(0)) w.reject(reason);
    },
    async close() {
      if (timer) clearTimeout(timer);
      await Promise.all(endpoints.map((e) => e.teacher.close?.()));
    },
  };
}

/**
 * The endpoint a request should go to at `t` — a paused one whose probe is due, else the least-loaded
 * healthy one within its window and rates — or, when none can take it, when to look again and
 * whether every endpoint is paused.
 */
function pickEndpoint(
  states: EndpointState[],
  t: number,
  basePause: number,
): EndpointState | { wakeAt: number; allPaused: boolean } {
  let best: EndpointState | undefined;
  let bestLoad = Number.POSITIVE_INFINITY;
  let wakeAt = Number.POSITIVE_INFINITY;
  let allPaused = true;
  for (const s of states) {
    if (s.state !== "healthy") {
      if (s.state === "paused" && t >= s.pausedUntil) return s; // its probe
      wakeAt = Math.min(wakeAt, s.state === "paused" ? s.pausedUntil : t + basePause);
      continue;
    }
    allPaused = false;
    const ready = s.readyAt(t);
    if (ready > t) {
      wakeAt = Math.min(wakeAt, ready);
      continue;
    }
    const load = s.inFlight / Math.max(1, Math.floor(s.window));
    if (s.inFlight < Math.max(1, Math.floor(s.window)) && load < bestLoad) {
      best = s;
      bestLoad = load;
    }
  }
  return best ?? { wakeAt, allPaused };
}

/** One endpoint's window, buckets and health. Private to the pool. */
class EndpointState {
  window: number;
  inFlight = 0;
  state: EndpointStats["state"] = "healthy";
  pausedUntil = 0;
  private pauseMs = 0;
  private failuresInRow = 0;
  /** The request sent as the probe of the current pause. */
  private probeSeq = 0;
  private lastBackoffSeq = 0;
  private requestBucket: Bucket | undefined;
  private tokenBucket: Bucket | undefined;
  private counts = { requests: 0, successes: 0, failures: 0, backoffs: 0, pauses: 0, unreachable: 0 };
  private reached = false;
  /** Mean tokens of a request here, reserved from the tokens/min bucket when one is sent. */
  private meanTokens = 0;

  constructor(
    readonly teacher: Teacher,
    readonly limits: EndpointLimits,
    t: number,
  ) {
    this.window = limits.concurrency;
    if (limits.requestsPerMinute) this.requestBucket = new Bucket(limits.requestsPerMinute, t);
    if (limits.tokensPerMinute) this.tokenBucket = new Bucket(limits.tokensPerMinute, t);
  }

  /** When the rate limits let the next request go (≤ t: now). */
  readyAt(t: number): number {
    return Math.max(this.requestBucket?.readyAt(t, 1) ?? t, this.tokenBucket?.readyAt(t, 0) ?? t);
  }

  /** Count request `seq` sent now (the probe, if paused); returns the tokens reserved for it (the mean so far). */
  dispatch(t: number, seq: number): number {
    if (this.state === "paused") {
      this.state = "probing";
      this.probeSeq = seq;
    }
    this.inFlight++;
    this.counts.requests++;
    this.requestBucket?.take(t, 1);
    // reserve what a request usually costs, so many sent at once cannot overdraw tokens/min
    const reserved = this.tokenBucket ? this.meanTokens : 0;
    this.tokenBucket?.take(t, reserved);
    return reserved;
  }

  refund(t: number, reserved: number): void {
    this.tokenBucket?.take(t, -reserved);
  }

  release(seq: number): void {
    this.inFlight--;
    if (this.isProbe(seq)) this.state = "paused"; // the probe was cancelled: probe again
  }

  private isProbe(seq: number): boolean {
    return this.state === "probing" && seq === this.probeSeq;
  }

  succeed(completions: Completion[], t: number, reserved: number): void {
    this.inFlight--;
    this.reached = true;
    this.counts.successes++;
    this.failuresInRow = 0;
    this.state = "healthy";
    this.pauseMs = 0;
    this.window = Math.min(this.limits.concurrency, this.window + 1 / this.window);
    const tokens = completions.reduce((sum, c) => sum + c.usage.promptTokens + c.usage.completionTokens, 0);
    this.tokenBucket?.take(t, tokens - reserved);
    this.meanTokens += (tokens - this.meanTokens) / this.counts.successes;
  }

  fail(
    err: unknown,
    seq: number,
    lastSeq: number,
    t: number,
    policy: { failuresToPause: number; basePause: number; maxPause: number },
  ): void {
    this.inFlight--;
    if (unreachableCode(err)) this.counts.unreachable++;
    else if (err instanceof TeacherError && err.status !== undefined) this.reached = true;
    const retryable = err instanceof TeacherError && err.retryable;
    if (!retryable) {
      // the request was bad (400, 401…), not the endpoint
      if (this.isProbe(seq)) this.state = "paused";
      return;
    }
    this.counts.failures++;
    this.failuresInRow++;
    const status = (err as TeacherError).status;
    // halve once per window: answers to requests sent before the last backoff reflect the old load
    if (status !== undefined && overloadStatuses.has(status) && seq > this.lastBackoffSeq) {
      this.window = Math.max(1, this.window / 2);
      this.lastBackoffSeq = lastSeq;
      this.counts.backoffs++;
    }
    // a request sent before the pause that fails during it says nothing new: the pause stands as it is
    if (this.state !== "healthy" && !this.isProbe(seq)) return;
    if (this.state === "probing" || this.failuresInRow >= policy.failuresToPause) {
      if (this.state === "healthy") this.counts.pauses++;
      this.pauseMs = this.pauseMs === 0 ? policy.basePause : Math.min(policy.maxPause, this.pauseMs * 2);
      this.pausedUntil = t + this.pauseMs;
      this.state = "paused";
    }
  }

  stats(): EndpointStats {
    return {
      id: this.teacher.id,
      window: Math.round(this.window * 100) / 100,
      inFlight: this.inFlight,
      ...this.counts,
      reached: this.reached,
      state: this.state,
    };
  }
}

/** A token bucket refilled continuously at `perMinute`, holding at most 10 seconds' worth. */
class Bucket {
  private level: number;
  private readonly capacity: number;
  private readonly perMs: number;
  constructor(
    perMinute: number,
    private at: number,
  ) {
    this.capacity = Math.max(1, perMinute / 6);
    this.level = this.capacity;
    this.perMs = perMinute / 60_000;
  }
  private refill(t: number): void {
    this.level = Math.min(this.capacity, this.level + (t - this.at) * this.perMs);
    this.at = Math.max(this.at, t);
  }
  /** When `amount` can be taken (tokens buckets take 0 up front: they only need a positive level). */
  readyAt(t: number, amount: number): number {
    this.refill(t);
    const need = amount === 0 ? 1e-9 - this.level : amount - this.level;
    return need <= 0 ? t : t + need / this.perMs;
  }
  take(t: number, amount: number): void {
    this.refill(t);
    this.level -= amount;
  }
}
