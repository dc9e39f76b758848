import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { startFaultServer } from "../../test/support/faultServer.ts";
import { type Completion, type SampleRequest, type Teacher, TeacherError } from "../teachers/types.ts";
import { InFlight, RunStopped, sampleOnce } from "./attempt.ts";
import { type GenerationRecord, generate } from "./generate.ts";

const request: SampleRequest = {
  messages: [{ role: "user", content: "Solve 2x = 4" }],
  n: 1,
  temperature: 0,
  topP: 1,
  maxTokens: 16,
};
const completion: Completion = {
  text: "x = 2",
  finishReason: "stop",
  usage: { promptTokens: 1, completionTokens: 1 },
};

/** A streaming teacher that sends `chunks` chunks `everyMs` apart, then answers — or falls silent. */
function streamingTeacher(chunks: number, everyMs: number, silentAfter = Number.POSITIVE_INFINITY): Teacher {
  return {
    id: "stream",
    sample: (r) =>
      new Promise((resolve, reject) => {
        let sent = 0;
        const timer = setInterval(() => {
          if (sent >= silentAfter) return; // connection open, nothing arrives
          r.onActivity?.();
          if (++sent === chunks) {
            clearInterval(timer);
            resolve([completion]);
          }
        }, everyMs);
        r.signal?.addEventListener("abort", () => {
          clearInterval(timer);
          reject(new TeacherError("request aborted", false));
        });
      }),
  };
}

describe("one attempt: deadline, stall, stop", () => {
  it("lets a slow stream that keeps sending finish, and aborts one that falls silent", async () => {
    const inFlight = new InFlight({ deadlineMs: 10_000, stallMs: 150 });
    // 12 chunks 25 ms apart (300 ms) under a 150 ms stall limit: slow, not stalled
    const [c] = await sampleOnce(streamingTeacher(12, 25), request, inFlight);
    assert.equal(c.text, "x = 2");
    const err = await sampleOnce(streamingTeacher(12, 25, 3), request, inFlight).catch((e) => e);
    assert.ok(err instanceof TeacherError && err.retryable, String(err));
    assert.match(err.message, /stream silent for 0\.15 s \(--stall-timeout\)/);
    assert.equal(inFlight.size, 0);
  });

  it("aborts a request past its hard deadline even while it keeps sending", async () => {
    const limits = { deadlineMs: 120, stallMs: 100 };
    const err = await sampleOnce(streamingTeacher(1000, 10), request, new InFlight(limits)).catch((e) => e);
    assert.ok(err instanceof TeacherError && err.retryable);
    assert.match(err.message, /no complete response within 0\.12 s \(--request-timeout\)/);
  });

  it("cuts requests in flight when a stop's grace period ends", async () => {
    const inFlight = new InFlight({ deadlineMs: 60_000 });
    const pending = sampleOnce(streamingTeacher(1000, 10), request, inFlight).catch((e) => e);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(inFlight.size, 1);
    inFlight.abortAll();
    assert.ok((await pending) instanceof RunStopped);
  });

  it("streams from a server that stalls mid-stream: stalled streams are retried, every candidate completes", {
    timeout: 30_000,
  }, async () => {
    // stalls last a minute: only stall detection (0.2 s) gets these candidates done in time
    const server = await startFaultServer({
      seed: 9,
      rates: { stall: 0.25, truncated: 0.1 },
      stallMs: 60_000,
    });
    try {
      const out = mkdtempSync(path.join(tmpdir(), "distill-stall-"));
      const summary = await generate({
        prompts: "builtin:equations?count=30",
        teacher: `openai:stall-test@${server.baseURL}`,
        samplesPerPrompt: 1,
        stream: true,
        stallTimeout: 0.2,
        requestTimeout: 120,
        retryBaseMs: 1,
        maxAttempts: 10,
        out,
        quiet: true,
      });
      assert.equal(summary.written, 30);
      assert.ok((server.byKind.stall ?? 0) > 0);
      const records: GenerationRecord[] = readFileSync(path.join(out, "generations.jsonl"), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      assert.ok(records.some((r) => r.attempts > 1));
      assert.ok(records.every((r) => r.answer === "x = 5"));
    } finally {
      await server.close();
    }
  });
});
