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

/**
 * The requests in flight, so a stop can cut them when the grace period ends. One controller per
 * attempt; `abortAll` is the end of the grace period.
 */
export class InFlight {
  private readonly controllers = new Set<AbortController>();
  get size(): number {
    return this.controllers.size;
  }
  add(c: AbortController): void {
    this.controllers.add(c);
  }
  delete(c: AbortController): void {
    this.controllers.delete(c);
  }
  abortAll(): void {
    for (const c of this.controllers) c.abort(new RunStopped("stopped while in flight"));
  }
}

/**
 * One attempt at a request under a hard deadline and, for streams, a stall limit: a response that takes
 * too long, or a stream that goes silent, is aborted and reported as a retryable TeacherError (the abort
 * reason too, so a pool holds it against the endpoint). One timer per attempt, re-armed only when it
 * fires (a stream's chunks just stamp the time).
 */
export async function sampleOnce(
  teacher: Teacher,
  request: SampleRequest,
  limits: AttemptLimits,
  inFlight: InFlight,
): Promise<Completion[]> {
  const controller = new AbortController();
  const started = performance.now();
  let lastActivity = started;
  let timer: NodeJS.Timeout | undefined;
  const check = () => {
    const t = performance.now();
    const left = limits.deadlineMs - (t - started);
    const quiet =
      limits.stallMs === undefined ? Number.POSITIVE_INFINITY : limits.stallMs - (t - lastActivity);
    if (left <= 0)
      controller.abort(
        new TeacherError(
          `no complete response within ${seconds(limits.deadlineMs)} (--request-timeout)`,
          true,
        ),
      );
    else if (quiet <= 0)
      controller.abort(
        new TeacherError(`stream silent for ${seconds(limits.stallMs ?? 0)} (--stall-timeout)`, true),
      );
    else timer = setTimeout(check, Math.min(left, quiet));
  };
  timer = setTimeout(check, Math.min(limits.deadlineMs, limits.stallMs ?? Number.POSITIVE_INFINITY));
  const aborted = new Promise<never>((_, reject) =>
    controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true }),
  );
  inFlight.add(controller);
  try {
    const sampling = teacher.sample({
      ...request,
      signal: controller.signal,
      ...(limits.stallMs === undefined
        ? {}
        : {
            onActivity: () => {
              lastActivity = performance.now();
            },
          }),
    });
    return await Promise.race([sampling, aborted]);
  } catch (err) {
    throw controller.signal.aborted ? controller.signal.reason : err;
  } finally {
    clearTimeout(timer);
    inFlight.delete(controller);
  }
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
