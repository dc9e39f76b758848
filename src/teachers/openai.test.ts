import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { renderTeacherMessages } from "../template/render.ts";
import { createOpenAITeacher, parseOpenAISpec, retryAfterMs } from "./openai.ts";
import { type ReplayReply, type ReplayServer, startReplayServer } from "./replayServer.ts";
import { TeacherError } from "./types.ts";

const fixture = (name: string) =>
  readFileSync(new URL(`../../test/fixtures/${name}`, import.meta.url), "utf8");
const openaiBody = JSON.parse(fixture("openai-chat-completion.json"));
const deepseekBody = JSON.parse(fixture("deepseek-reasoner-completion.json"));
const deepseekStream = fixture("deepseek-reasoner-stream.txt");

const request = {
  messages: renderTeacherMessages("Solve for x: 3x + 5 = 20"),
  n: 1,
  temperature: 0.6,
  topP: 0.95,
  maxTokens: 512,
  seed: 7,
};

describe("openai-compatible teacher", () => {
  let reply: (index: number) => ReplayReply = () => ({ body: openaiBody });
  let server: ReplayServer;
  before(async () => {
    server = await startReplayServer((r) => reply(r.index));
  });
  after(() => server.close());
  const teacher = (options: { stream?: boolean; timeoutMs?: number } = {}) =>
    createOpenAITeacher({ model: "test-model", baseURL: server.baseURL, ...options });

  it("parses the spec", () => {
    assert.deepEqual(parseOpenAISpec("openai:deepseek-reasoner@https://api.deepseek.com"), {
      model: "deepseek-reasoner",
      baseURL: "https://api.deepseek.com",
    });
    assert.throws(() => parseOpenAISpec("openai:gpt-4o"), /openai:<model>@/);
  });

  it("maps an OpenAI response and sends the sampling parameters", async () => {
    reply = () => ({ body: openaiBody });
    const [c] = await teacher().sample(request);
    assert.equal(c.text, openaiBody.choices[0].message.content);
    assert.equal(c.finishReason, "stop");
    assert.deepEqual(c.usage, { promptTokens: 41, completionTokens: 27 });
    const sent = server.requests.at(-1)!.body;
    assert.equal(sent.model, "test-model");
    assert.equal(sent.temperature, 0.6);
    assert.equal(sent.top_p, 0.95);
    assert.equal(sent.max_tokens, 512);
    assert.equal(sent.seed, 7);
  });

  it("reads DeepSeek's reasoning_content from messages and from stream deltas", async () => {
    reply = () => ({ body: deepseekBody });
    const [c] = await teacher().sample(request);
    assert.match(c.reasoning ?? "", /^Okay, so I need to solve/);
    assert.equal(c.text, "<answer>x = 5</answer>");
    reply = () => ({ body: deepseekStream });
    const [s] = await teacher({ stream: true }).sample(request);
    assert.equal(s.reasoning, "Subtract 5: 3x = 15, x = 5.");
    assert.equal(s.text, "<answer>x = 5</answer>");
    assert.equal(s.finishReason, "stop");
    assert.deepEqual(s.usage, { promptTokens: 44, completionTokens: 21 });
  });

  it("says which errors are retryable, and when to retry", async () => {
    const cases: [ReplayReply, boolean, number | undefined][] = [
      [
        { status: 429, headers: { "retry-after": "2" }, body: { error: { message: "Rate limit" } } },
        true,
        2000,
      ],
      [{ status: 429, body: { error: { message: "Rate limit" } } }, true, undefined],
      [{ status: 500, body: { error: { message: "boom" } } }, true, undefined],
      [{ status: 503, body: "Service Unavailable" }, true, undefined],
      [{ status: 400, body: { error: { message: "bad request" } } }, false, undefined],
      [{ status: 401, body: { error: { message: "bad key" } } }, false, undefined],
      [{ status: 200, body: '{"id": "x", "choices": [' }, true, undefined],
      [{ status: 200, body: { id: "x", object: "chat.completion" } }, true, undefined],
      [{ drop: true }, true, undefined],
    ];
    for (const [r, retryable, after] of cases) {
      reply = () => r;
      const err = await teacher()
        .sample(request)
        .then(
          () => null,
          (e: unknown) => e,
        );
      assert.ok(err instanceof TeacherError, `${JSON.stringify(r)} gave ${err}`);
      assert.equal(err.retryable, retryable, `${JSON.stringify(r)}: ${err.message}`);
      assert.equal(err.retryAfterMs, after);
    }
  });

  it("times out a slow endpoint as a retryable error", async () => {
    reply = () => ({ body: openaiBody, delayMs: 1500 });
    const err = await teacher({ timeoutMs: 200 })
      .sample(request)
      .then(
        () => null,
        (e: unknown) => e,
      );
    assert.ok(err instanceof TeacherError);
    assert.equal(err.retryable, true);
    assert.match(err.message, /timed out/);
  });

  it("sends the key from the environment and needs one for remote endpoints", async () => {
    process.env.DISTILLERY_TEST_KEY = "sk-test-secret-123";
    reply = () => ({ body: openaiBody });
    await createOpenAITeacher({
      model: "m",
      baseURL: server.baseURL,
      apiKeyEnv: "DISTILLERY_TEST_KEY",
    }).sample(request);
    assert.equal(server.requests.at(-1)!.headers.authorization, "Bearer sk-test-secret-123");
    delete process.env.DISTILLERY_TEST_KEY;
    assert.throws(
      () =>
        createOpenAITeacher({
          model: "m",
          baseURL: "https://api.example.com/v1",
          apiKeyEnv: "DISTILLERY_TEST_KEY",
        }),
      /DISTILLERY_TEST_KEY/,
    );
  });

  it("reads Retry-After in its three forms", () => {
    assert.equal(retryAfterMs(new Headers({ "retry-after-ms": "250" })), 250);
    assert.equal(retryAfterMs(new Headers({ "retry-after": "3" })), 3000);
    const soon = new Date(Date.now() + 5000).toUTCString();
    const ms = retryAfterMs(new Headers({ "retry-after": soon })) ?? 0;
    assert.ok(ms > 3000 && ms <= 5000, `${ms}`);
    assert.equal(retryAfterMs(new Headers()), undefined);
  });
});
