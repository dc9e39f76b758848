import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createTeacherPool } from "./pool.ts";
import { type Completion, type SampleRequest, type Teacher, TeacherError } from "./types.ts";

const request: SampleRequest = {
  messages: [{ role: "user", content: "Solve 2x = 4" }],
  n: 1,
  temperature: 0,
  topP: 1,
  maxTokens: 16,
};
const completion: Completion = {
  text: "<answer>x = 2</answer>",
  finishReason: "stop",
  usage: { promptTokens: 10, completionTokens: 5 },
};

/** A teacher whose requests wait until the test answers them, in order: the scheduler sees real load. */
function heldTeacher(id: string) {
  const pending: { resolve: (c: Completion[]) => void; reject: (e: unknown) => void }[] = [];
  const teacher: Teacher = {
    id,
    sample: () => new Promise((resolve, reject) => pending.push({ resolve, reject })),
  };
  return {
    teacher,
    pending,
    answer: () => pending.shift()!.resolve([completion]),
    fail: (err: unknown) => pending.shift()!.reject(err),
  };
}

/** A teacher answering at once by a rule; counts its requests. */
function scriptedTeacher(id: string, rule: (i: number) => Completion | TeacherError) {
  let requests = 0;
  const teacher: Teacher = {
    id,
    async sample() {
      const r = rule(requests++);
      if (r instanceof TeacherError) throw r;
      return [r];
    },
  };
  return { teacher, requests: () => requests };
}

const tick = () => new Promise((r) => setImmediate(r));
const overload = () => new TeacherError("HTTP 429: slow down", true, { status: 429 });
const broken = () => new TeacherError("HTTP 500: boom", true, { status: 500 });

describe("teacher pool", () => {
  it("sends each request to the least-loaded endpoint and queues beyond every endpoint's concurrency", async () => {
    const a = heldTeacher("a");
    const b = heldTeacher("b");
    const pool = createTeacherPool([
      { teacher: a.teacher, limits: { concurrency: 2 } },
      { teacher: b.teacher, limits: { concurrency: 3 } },
    ]);
    const results = Array.from({ length: 6 }, () => pool.sample(request));
    await tick();
    assert.equal(a.pending.length, 2);
    assert.equal(b.pending.length, 3); // the sixth waits: both endpoints are full
    a.answer();
    await tick();
    assert.equal(a.pending.length, 2); // the freed slot took the waiting request
    while (a.pending.length) a.answer();
    while (b.pending.length) b.answer();
    const done = await Promise.all(results);
    assert.equal(done.length, 6);
    assert.deepEqual(done.map(([c]) => c.meta?.endpoint).sort(), ["a", "a", "a", "b", "b", "b"]);
  });

  it("halves the window once on a burst of 429s and grows it back on healthy answers", async () => {
    const a = heldTeacher("a");
    const pool = createTeacherPool([{ teacher: a.teacher, limits: { concurrency: 8 } }], {
      failuresToPause: 100,
    });
    const inflight = Array.from({ length: 8 }, () => pool.sample(request).catch((e) => e));
    await tick();
    assert.equal(a.pending.length, 8);
    // eight answers to requests sent at the same load are one congestion signal, not eight
    for (let i = 0; i < 8; i++) a.fail(overload());
    await Promise.all(inflight);
    assert.equal(pool.stats()[0].window, 4);
    assert.equal(pool.stats()[0].backoffs, 1);
    const more = Array.from({ length: 6 }, () => pool.sample(request).catch((e) => e));
    await tick();
    assert.equal(a.pending.length, 4, "at most the halved window in flight");
    a.fail(overload()); // a fresh request overloaded: halve again
    await tick();
    assert.equal(pool.stats()[0].window, 2);
    while (a.pending.length) {
      a.answer();
      await tick();
    }
    await Promise.all(more);
    for (let i = 0; i < 40; i++) {
      const p = pool.sample(request);
      await tick();
      a.answer();
      await p;
    }
    assert.equal(pool.stats()[0].window, 8, "grown back to the ceiling");
  });

  it("does not lengthen a pause for requests sent before it that fail during it", async () => {
    let clock = 0;
    const a = heldTeacher("a");
    const pool = createTeacherPool([{ teacher: a.teacher, limits: { concurrency: 8 } }], {
      failuresToPause: 3,
      pauseMs: 1000,
      now: () => clock,
    });
    const sent = Array.from({ length: 8 }, () => pool.sample(request).catch((e) => e));
    await tick();
    assert.equal(a.pending.length, 8);
    for (let i = 0; i < 8; i++) a.fail(broken());
    await Promise.all(sent);
    assert.equal(pool.stats()[0].state, "paused");
    assert.equal(pool.stats()[0].pauses, 1);
    clock += 1000;
    const probe = pool.sample(request);
    await tick();
    assert.equal(a.pending.length, 1, "the probe goes out when the first pause ends");
    a.answer();
    await probe;
    assert.equal(pool.stats()[0].state, "healthy");
  });

  it("pauses an endpoint that keeps failing, sends one probe when the pause ends, reopens on success", async () => {
    let clock = 0;
    let aHealthy = false;
    const a = scriptedTeacher("a", () => (aHealthy ? completion : broken()));
    const b = scriptedTeacher("b", () => completion);
    const pool = createTeacherPool(
      [
        { teacher: a.teacher, limits: { concurrency: 1 } },
        { teacher: b.teacher, limits: { concurrency: 1 } },
      ],
      { failuresToPause: 3, pauseMs: 1000, now: () => clock },
    );
    // serial requests alternate while both are idle; a fails three times and is paused
    for (let i = 0; i < 6; i++) await pool.sample(request).catch(() => null);
    assert.equal(a.requests(), 3);
    assert.equal(pool.stats()[0].state, "paused");
    for (let i = 0; i < 20; i++) await pool.sample(request);
    assert.equal(a.requests(), 3, "a paused endpoint is not sent anything");
    clock += 1000;
    await pool.sample(request).catch(() => null); // the probe, which fails
    assert.equal(a.requests(), 4);
    assert.equal(pool.stats()[0].state, "paused");
    clock += 1000; // the pause doubled: still paused
    for (let i = 0; i < 5; i++) await pool.sample(request);
    assert.equal(a.requests(), 4);
    clock += 1000;
    aHealthy = true;
    await pool.sample(request); // the probe succeeds
    assert.equal(pool.stats()[0].state, "healthy");
    assert.equal(pool.stats()[0].pauses, 1);
    const before = a.requests();
    for (let i = 0; i < 10; i++) await pool.sample(request);
    assert.ok(a.requests() - before >= 4, "traffic returns to the reopened endpoint");
  });

  it("fails fast with a retryable error and the time to the next probe while every endpoint is paused", async () => {
    let clock = 0;
    const a = scriptedTeacher("a", () => broken());
    const pool = createTeacherPool([{ teacher: a.teacher, limits: { concurrency: 4 } }], {
      failuresToPause: 2,
      pauseMs: 500,
      now: () => clock,
    });
    await pool.sample(request).catch(() => null);
    await pool.sample(request).catch(() => null);
    clock += 100;
    const err = await pool.sample(request).catch((e) => e);
    assert.ok(err instanceof TeacherError && err.retryable);
    assert.equal(err.retryAfterMs, 400);
    assert.equal(a.requests(), 2, "nothing reached the paused endpoint");
  });

  it("a request's own abort is not held against the endpoint", async () => {
    const a = heldTeacher("a");
    const pool = createTeacherPool([{ teacher: a.teacher, limits: { concurrency: 1 } }], {
      failuresToPause: 1,
    });
    const controller = new AbortController();
    const p = pool.sample({ ...request, signal: controller.signal }).catch((e) => e);
    await tick();
    const queued = pool.sample({ ...request, signal: controller.signal }).catch((e) => e);
    controller.abort(new Error("stop"));
    a.fail(new TeacherError("request aborted", true));
    assert.match(String(await p), /aborted/);
    assert.match(String(await queued), /stop/, "a waiting request leaves the queue when aborted");
    const held = pool.sample(request).catch((e) => e);
    await tick();
    const waiting = pool.sample(request).catch((e) => e);
    pool.cancelWaiting(new Error("stopping"));
    assert.match(String(await waiting), /stopping/);
    a.answer();
    assert.equal((await held)[0].text, completion.text, "requests in flight are not cancelled");
    assert.equal(pool.stats()[0].state, "healthy");
    assert.equal(pool.stats()[0].inFlight, 0);
  });

  it("keeps to requests per minute: a burst of 10 s' worth, then the refill rate", async () => {
    const a = scriptedTeacher("a", () => completion);
    // 60 a minute: 10 at once, then one a second
    const pool = createTeacherPool([
      { teacher: a.teacher, limits: { concurrency: 100, requestsPerMinute: 60 } },
    ]);
    const all = Array.from({ length: 11 }, () => pool.sample(request));
    await tick();
    await tick();
    assert.equal(a.requests(), 10);
    await Promise.all(all);
    assert.equal(a.requests(), 11);
  });

  it("keeps to tokens per minute, reserving a request's usual tokens when it is sent", async () => {
    let clock = 0;
    const a = heldTeacher("a");
    // 600 tokens a minute: 100 at once, then 10 a second; each answer costs 15 tokens
    const pool = createTeacherPool(
      [{ teacher: a.teacher, limits: { concurrency: 100, tokensPerMinute: 600 } }],
      {
        now: () => clock,
      },
    );
    const first = pool.sample(request); // nothing known yet: nothing reserved
    await tick();
    a.answer();
    await first;
    // now each request reserves 15: 85 left → 6 go at once (the 6th overdraws to -5), the 7th waits
    const burst = Array.from({ length: 7 }, () => pool.sample(request));
    await tick();
    assert.equal(a.pending.length, 6);
    while (a.pending.length) a.answer();
    await Promise.all(burst.slice(0, 6));
    clock += 1000; // +10 tokens: level 5, so the waiting request goes
    const more = pool.sample(request); // any event wakes the queue
    await tick();
    assert.equal(a.pending.length, 1, "the waiting one went; the new one waits");
    clock += 2000;
    a.answer();
    await tick();
    while (a.pending.length) a.answer();
    await Promise.all([burst[6], more]);
  });
});
