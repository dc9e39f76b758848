import { EndpointsPaused, type TeacherPool } from "../teachers/pool.ts";
import { TeacherError } from "../teachers/types.ts";
import { unreachableCode } from "../teachers/unreachable.ts";

/**
 * Failed attempts before a run with no endpoint ever reached gives up, per endpoint: enough that a
 * refused connection is not a blip (one of them must be a retry, after a backoff), few enough that a
 * dead endpoint costs seconds, not the minutes its candidates' retries would take.
 */
export const unreachableAfter = 3;

/**
 * How long after the first refused connection a run keeps retrying before it gives up, in retry
 * base delays (8 s at the default 1 s): a server started beside the run (`distill serve … &` then
 * `distill generate`) is still loading its model when the first requests go out.
 */
export const unreachablePatience = 8;

/**
 * Watches a run's failed attempts: counts them by cause (shown on the progress line and in the
 * summary), reports the first one's message at once (the screen, not only failed.jsonl, says what is
 * wrong), and tells when every endpoint has failed to connect on its first attempts, for longer than
 * the patience, with none ever answering — an address with nothing behind it, where retrying every
 * candidate would only waste time.
 */
export class FailureWatch {
  /** Failed attempts by cause (`ECONNREFUSED`, `HTTP 503`, `request timed out`…). */
  readonly causes: Record<string, number> = {};
  private reached = false;
  private unreachable = 0;
  private retried = false;
  private readonly codes = new Set<string>();
  /** When the first connection failed (ms); nothing is given up on before `patienceMs` after it. */
  private firstRefusedAt: number | undefined;

  constructor(
    /** The endpoints' URLs (or the teacher's id), for the message. */
    private readonly endpoints: string[],
    /** With a pool, each endpoint's own counts decide; without, this watch's. */
    private readonly pool: TeacherPool | undefined,
    /** Writes one line for a person (nothing when quiet). */
    private readonly report: (line: string) => void,
    /** How long connection failures must go on before the run gives up. */
    private readonly patienceMs = 0,
    private readonly now: () => number = Date.now,
  ) {}

  succeeded(): void {
    this.reached = true;
  }

  /** Count one failed attempt (the `attempt`-th of its candidate); returns why to stop when nothing can be reached. */
  failed(err: unknown, attempt: number): string | undefined {
    if (err instanceof EndpointsPaused) return undefined; // not sent: its endpoints' failures were counted
    const cause = causeOf(err);
    if (Object.keys(this.causes).length === 0)
      this.report(
        `requests are failing: ${messageOf(err)} (retrying; the progress line counts failures by cause)`,
      );
    this.causes[cause] = (this.causes[cause] ?? 0) + 1;
    const code = unreachableCode(err);
    if (code) {
      this.unreachable++;
      this.codes.add(code);
      this.firstRefusedAt ??= this.now();
      if (attempt >= 2) this.retried = true;
    } else if (err instanceof TeacherError && err.status !== undefined) this.reached = true;
    return this.unreachableNow() ? this.stopReason() : undefined;
  }

  /**
   * A candidate ran out of attempts on `err`: why to stop now when it was a connection failure and no
   * endpoint has ever answered (patience or not: its retries were the patience), else undefined. Its
   * candidate is then left for the re-run rather than recorded as failed.
   */
  exhausted(err: unknown): string | undefined {
    if (!unreachableCode(err) || this.reached || (this.pool && !this.everyEndpointRefused()))
      return undefined;
    return this.stopReason();
  }

  private stopReason(): string {
    return `cannot reach ${this.endpoints.join(", ")}: ${[...this.codes].join(", ")} on all ${this.unreachable} attempts, none answered`;
  }

  /** `ECONNREFUSED 12, HTTP 503 3`, most frequent first. */
  describe(): string {
    return Object.entries(this.causes)
      .sort(([, a], [, b]) => b - a)
      .map(([cause, n]) => `${cause} ${n}`)
      .join(", ");
  }

  private unreachableNow(): boolean {
    if (this.reached || !this.retried) return false;
    if (this.now() - (this.firstRefusedAt ?? 0) < this.patienceMs) return false;
    if (!this.pool) return this.unreachable >= unreachableAfter;
    return this.everyEndpointRefused();
  }

  /** Every endpoint of the pool failed to connect `unreachableAfter` times and none ever answered. */
  private everyEndpointRefused(): boolean {
    return this.pool!.stats().every((e) => !e.reached && e.unreachable >= unreachableAfter);
  }
}

/** The name a failure is counted under: its system code, its HTTP status, else its message up to a colon. */
export function causeOf(err: unknown): string {
  const code = unreachableCode(err) ?? (err as { code?: unknown })?.code;
  if (typeof code === "string" && /^E[A-Z_]+$/.test(code)) return code;
  if (err instanceof TeacherError && err.status !== undefined) return `HTTP ${err.status}`;
  const lead = messageOf(err).split(":")[0].trim();
  return lead.length > 64 ? `${lead.slice(0, 63)}…` : lead;
}

/** An error's message, with the system code when the message leaves it out (`connection failed: Connection error. (ECONNREFUSED)`). */
function messageOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = unreachableCode(err);
  return code && !message.includes(code) ? `${message} (${code})` : message;
}
