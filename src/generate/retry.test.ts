import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TeacherError } from "../teachers/types.ts";
import { withRetries } from "./retry.ts";

const policy = { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 60_000 };
const overloaded = () => new TeacherError("HTTP 503", true, { status: 503 });

describe("retries", () => {
  it("honours Retry-After, else backs off with full jitter under a doubling ceiling", async () => {
    const waits: number[] = [];
    const sleep = async (ms: number) => {
      waits.push(ms);
    };
    let calls = 0;
    const result = await withRetries(
      async () => {
        calls++;
        if (calls === 1) throw new TeacherError("HTTP 429", true, { status: 429, retryAfterMs: 1234 });
        if (calls < 5) throw overloaded();
        return "ok";
      },
      policy,
      sleep,
    );
    assert.deepEqual(result, { value: "ok", attempts: 5 });
    assert.equal(waits[0], 1234);
    for (const [i, w] of waits.slice(1).entries()) assert.ok(w >= 0 && w < 1000 * 2 ** (i + 1), `${w}`);
  });

  it("a stop ends retries (the candidate is left, not failed), but a refusal by the server stays a failure", async () => {
    const stop = new AbortController();
    let calls = 0;
    const stopped = await withRetries(
      async () => {
        calls++;
        stop.abort();
        throw overloaded();
      },
      { ...policy, signal: stop.signal },
    );
    assert.equal(calls, 1);
    assert.equal(stopped.stopped, true);
    const refused = await withRetries(
      async () => {
        throw new TeacherError("HTTP 400", false, { status: 400 });
      },
      { ...policy, signal: stop.signal },
    );
    // already stopped before the first attempt: nothing is tried
    assert.deepEqual(refused, { error: stop.signal.reason, attempts: 0, stopped: true });
    const late = new AbortController();
    const failed = await withRetries(
      async () => {
        late.abort();
        throw new TeacherError("HTTP 400", false, { status: 400 });
      },
      { ...policy, signal: late.signal },
    );
    assert.equal(failed.stopped, undefined);
    assert.equal(failed.attempts, 1);
  });

  it("a backoff wait ends at once when the run stops", async () => {
    const stop = new AbortController();
    const started = Date.now();
    const pending = withRetries(
      async () => {
        throw new TeacherError("HTTP 429", true, { status: 429, retryAfterMs: 60_000 });
      },
      { ...policy, signal: stop.signal },
    );
    setTimeout(() => stop.abort(), 20);
    const result = await pending;
    assert.equal(result.stopped, true);
    assert.ok(Date.now() - started < 30_000, "did not sit out the minute");
  });
});
