import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { type ReplayReply, type ReplayServer, startReplayServer } from "../../test/support/replayServer.ts";
import { renderTeacherMessages } from "../template/render.ts";
import { createOpenAITeacher, retryAfterMs } from "./openai.ts";
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

/**
 * The non-streaming path reads replies with node:http itself, so what the `openai` client used to
 * handle (status errors, bodies cut short, resets) is checked here against a raw loopback TCP server
 * that writes exactly the bytes each case needs.
 */
describe("openai-compatible teacher, raw HTTP replies", () => {
  let respond: (socket: Socket, request: string) => void = () => {};
  const sockets = new Set<Socket>();
  let server: Server;
  let baseURL = "";
  before(async () => {
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      let received = "";
      socket.on("data", (chunk) => {
        received += chunk.toString("latin1");
        const head = received.indexOf("\r\n\r\n");
        const length = Number(/content-length: (\d+)/i.exec(received)?.[1] ?? 0);
        if (head < 0 || received.length < head + 4 + length) return;
        const request = received;
        received = "";
        respond(socket, request);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const raw = (status: string, headers: string[], body: string) =>
    `HTTP/1.1 ${status}\r\n${[...headers, `content-length: ${Buffer.byteLength(body)}`].join("\r\n")}\r\n\r\n${body}`;
  const json = (status: string, body: unknown, headers: string[] = []) =>
    raw(status, ["content-type: application/json", ...headers], JSON.stringify(body));
  const failure = async (options: { signal?: AbortSignal; key?: string } = {}) => {
    if (options.key) process.env.DISTILLERY_RAW_KEY = options.key;
    const teacher = createOpenAITeacher({ model: "m", baseURL, apiKeyEnv: "DISTILLERY_RAW_KEY" });
    try {
      const err = await teacher.sample({ ...request, signal: options.signal }).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(err instanceof TeacherError, `expected a TeacherError, got ${err}`);
      return err;
    } finally {
      await teacher.close?.();
      delete process.env.DISTILLERY_RAW_KEY;
    }
  };

  it("maps statuses to retryable or not, with the server's message and Retry-After", async () => {
    const soon = new Date(Date.now() + 4000).toUTCString();
    const cases: [string, string[], boolean, (ms: number | undefined) => boolean][] = [
      ["408 Request Timeout", [], true, (ms) => ms === undefined],
      ["409 Conflict", [], true, (ms) => ms === undefined],
      ["429 Too Many Requests", ["retry-after-ms: 1500"], true, (ms) => ms === 1500],
      ["429 Too Many Requests", [`retry-after: ${soon}`], true, (ms) => ms! > 2000 && ms! <= 4000],
      ["502 Bad Gateway", [], true, (ms) => ms === undefined],
      ["404 Not Found", [], false, (ms) => ms === undefined],
      ["422 Unprocessable Entity", [], false, (ms) => ms === undefined],
    ];
    for (const [status, headers, retryable, retryAfter] of cases) {
      respond = (socket) => socket.write(json(status, { error: { message: `because ${status}` } }, headers));
      const err = await failure();
      assert.equal(err.status, Number(status.slice(0, 3)), status);
      assert.equal(err.retryable, retryable, status);
      assert.ok(retryAfter(err.retryAfterMs), `${status}: ${err.retryAfterMs}`);
      assert.match(err.message, new RegExp(`^HTTP ${status.slice(0, 3)}: .*because ${status}`));
    }
    // a plain-text error page keeps its text
    respond = (socket) =>
      socket.write(raw("502 Bad Gateway", ["content-type: text/html"], "<h1>upstream down</h1>"));
    assert.match((await failure()).message, /upstream down/);
  });

  it("posts JSON to <base URL>/chat/completions, with or without a trailing slash", async () => {
    const seen: string[] = [];
    respond = (socket, text) => {
      seen.push(text.split("\r\n")[0], /content-type: ([^\r]*)/i.exec(text)?.[1] ?? "");
      socket.write(json("200 OK", openaiBody));
    };
    for (const base of [baseURL, `${baseURL}/`]) {
      const teacher = createOpenAITeacher({ model: "m", baseURL: base });
      await teacher.sample(request);
      await teacher.close?.();
    }
    assert.deepEqual(seen, [
      "POST /v1/chat/completions HTTP/1.1",
      "application/json",
      "POST /v1/chat/completions HTTP/1.1",
      "application/json",
    ]);
  });

  it("never shows the key, even when the server echoes it", async () => {
    respond = (socket, text) => {
      const auth = /authorization: ([^\r]*)/i.exec(text)?.[1];
      socket.write(json("401 Unauthorized", { error: { message: `invalid key: ${auth}` } }));
    };
    const err = await failure({ key: "sk-raw-secret-456" });
    assert.equal(err.retryable, false);
    assert.match(err.message, /invalid key: Bearer \[redacted\]/);
    assert.doesNotMatch(err.message, /sk-raw-secret-456/);
  });

  it("calls bodies that are not a completion malformed and retryable", async () => {
    const bodies = [
      raw("200 OK", ["content-type: application/json"], '{"id": "x", "choices": ['),
      raw("200 OK", ["content-type: text/plain"], "OK"),
      raw("200 OK", ["content-type: application/json"], "null"),
      raw("200 OK", ["content-type: application/json"], ""),
    ];
    for (const body of bodies) {
      respond = (socket) => socket.write(body);
      const err = await failure();
      assert.equal(err.retryable, true, body);
      assert.match(err.message, /^malformed response/, body);
    }
  });

  it("calls a body cut short or a reset connection a retryable connection failure", async () => {
    const full = JSON.stringify(openaiBody);
    const cases: [string, (socket: Socket) => void][] = [
      [
        "content-length longer than the body",
        (socket) =>
          socket.end(
            `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${full.length}\r\n\r\n${full.slice(0, 40)}`,
          ),
      ],
      [
        "chunked body without its last chunk",
        (socket) =>
          socket.end(
            `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n28\r\n${full.slice(0, 40)}\r\n`,
          ),
      ],
      ["reset before any reply", (socket) => socket.resetAndDestroy()],
      [
        "reset in the middle of the body",
        (socket) => {
          socket.write(
            `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${full.length}\r\n\r\n${full.slice(0, 40)}`,
          );
          setTimeout(() => socket.resetAndDestroy(), 20);
        },
      ],
      ["closed before any reply", (socket) => socket.end()],
    ];
    for (const [name, reply] of cases) {
      respond = (socket) => reply(socket);
      const err = await failure();
      assert.equal(err.retryable, true, `${name}: ${err.message}`);
      assert.match(err.message, /^connection failed: /, name);
    }
    // and the next request on the same kind of connection works
    respond = (socket) => socket.write(json("200 OK", openaiBody));
    const teacher = createOpenAITeacher({ model: "m", baseURL });
    const [c] = await teacher.sample(request);
    assert.equal(c.text, openaiBody.choices[0].message.content);
    await teacher.close?.();
  });

  it("stops at once when the caller aborts, and says not to retry", async () => {
    respond = () => {}; // never answers
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const err = await failure({ signal: controller.signal });
    assert.equal(err.retryable, false);
    assert.match(err.message, /aborted/);
  });
});
