import type { Completion, SampleRequest, Teacher } from "../teachers/types.ts";
import { TeacherError } from "../teachers/types.ts";

/** Thrown for an attempt cut short because the run is stopping: the candidate is neither done nor failed. */
export class RunStopped extends Error {
  override name = "RunStopped";
}

export interface AttemptLimits {
  /** Hard deadline of the whole attempt. */
  deadlineMs: number;
  /** Longest silence of a stream (only when the teacher reports activity, i.e. streaming). */
  stallMs?: number;
}

interface Attempt {
  started: number;
  lastActivity: number;
  cut(reason: unknown): void;
}

/**
 * The attempts in flight, watched by one timer for the whole run rather than one per request (timers
 * and abort listeners per request cost more CPU than a request to a fast local server): it ticks at an
 * eighth of the tightest limit, so a deadline or stall is noticed within ~12% of its length. A request
 * past its deadline, or a stream silent past its stall limit, is cut with a retryable TeacherError;
 * `abortAll` (the end of a stop's grace period) cuts everything with RunStopped.
 */
export class InFlight {
  private readonly attempts = new Set<Attempt>();
  private timer: NodeJS.Timeout | undefined;
  private readonly tickMs: number;

  /**
   * `signals: false` sends requests without an abort signal: a cut only settles the attempt, and the
   * request ends by the transport's own timeout (set to the same deadline) or when the teacher is
   * closed. Cheaper per request; only for a plain teacher, never a pool (whose queue must see aborts)
   * nor a stream (whose stalls must free the connection).
   */
  constructor(
    readonly limits: AttemptLimits,
    readonly signals = true,
  ) {
    const tightest = Math.min(limits.deadlineMs, limits.stallMs ?? Number.POSITIVE_INFINITY);
    this.tickMs = Math.max(5, Math.min(1000, tightest / 8));
  }
  get size(): number {
    return this.attempts.size;
  }
  add(attempt: Attempt): void {
    this.attempts.add(attempt);
    if (!this.timer) {
      this.timer = setInterval(() => this.check(), this.tickMs);
      this.timer.unref(); // the requests themselves keep the process alive, not their watchdog
    }
  }
  delete(attempt: Attempt): void {
    this.attempts.delete(attempt);
    if (this.attempts.size === 0) this.stopTimer();
  }
  abortAll(): void {
    for (const a of this.attempts) a.cut(new RunStopped("stopped while in flight"));
  }
  private check(): void {
    const t = performance.now();
    const { deadlineMs, stallMs } = this.limits;
    for (const a of this.attempts) {
      if (t - a.started >= deadlineMs)
        a.cut(
          new TeacherError(`no complete response within ${seconds(deadlineMs)} (--request-timeout)`, true),
        );
      else if (stallMs !== undefined && t - a.lastActivity >= stallMs)
        a.cut(new TeacherError(`stream silent for ${seconds(stallMs)} (--stall-timeout)`, true));
    }
  }
  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * One attempt at a request under the run's deadline and stall limits. A cut aborts the request's signal
 * with the reason (so a pool holds a deadline or stall against the endpoint, and a stop against nobody)
 * and rejects at once, even if the teacher does not listen to its signal.
 */
export async function sampleOnce(
  teacher: Teacher,
  request: SampleRequest,
  inFlight: InFlight,
): Promise<Completion[]> {
  const controller = inFlight.signals ? new AbortController() : undefined;
  let rejectCut!: (reason: unknown) => void;
  const cutShort = new Promise<never>((_, reject) => {
    rejectCut = reject;
  });
  const started = performance.now();
  const attempt: Attempt = {
    started,
    lastActivity: started,
    cut(reason) {
      inFlight.delete(attempt);
      rejectCut(reason); // first, so the race settles with this reason and not the teacher's "aborted"
      controller?.abort(reason);
    },
  };
  inFlight.add(attempt);
  try {
    const sampling = teacher.sample({
      ...request,
      ...(controller ? { signal: controller.signal } : {}),
      ...(inFlight.limits.stallMs === undefined
        ? {}
        : {
            onActivity: () => {
              attempt.lastActivity = performance.now();
            },
          }),
    });
    return await Promise.race([sampling, cutShort]);
  } finally {
    inFlight.delete(attempt);
  }
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
