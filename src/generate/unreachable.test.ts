import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { startReplayServer } from "../../test/support/replayServer.ts";
import { TeacherError } from "../teachers/types.ts";
import { FailureWatch, unreachableAfter } from "./failures.ts";
import { generate } from "./generate.ts";

const repo = path.resolve(import.meta.dirname, "../..");
const tmp = () => mkdtempSync(path.join(tmpdir(), "distill-unreachable-"));
const lineCount = (file: string) =>
  existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean).length : 0;

/** A loopback port with nothing listening: bound once, then closed, so connecting to it is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `distill <args>` as its own process; the test's own loopback servers keep answering meanwhile. */
function runCli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(repo, "src/cli.ts"), ...args], {
    cwd: repo,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  return new Promise((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr })));
}

/** A chat completion in the template, as an OpenAI-compatible server sends it. */
const answer = {
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 0,
  model: "x",
  choices: [
    {
      index: 0,
      message: { role: "assistant", content: "<think>\nA simple request.\n</think>\n<answer>42</answer>" },
      finish_reason: "stop",
    },
  ],
  usage: { prompt_tokens: 20, completion_tokens: 12, total_tokens: 32 },
};

/** A connection refused as the OpenAI adapter reports it: a TeacherError caused by Node's socket error. */
function refused(): TeacherError {
  const socket = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" });
  return new TeacherError(`connection failed: ${socket.message}`, true, { cause: socket });
}

describe("generate: a dead endpoint", () => {
  it("stops after its patience (8 s) with one message and exit 3, shows the cause as failures start, and resumes later", async () => {
    const url = `http://127.0.0.1:${await closedPort()}/v1`;
    const out = tmp();
    const args = ["generate", "--prompts", "builtin:general", "--limit", "50", "--request-timeout", "2"];
    const dead = await runCli([...args, "--teacher", `openai:x@${url}`, "--out", out]);
    assert.equal(dead.status, 3, dead.stderr);
    assert.match(dead.stderr, /generate: requests are failing: connection failed: connect ECONNREFUSED/);
    assert.match(dead.stderr, /failed attempts by cause: ECONNREFUSED \d+/);
    assert.ok(
      dead.stderr.includes(`cannot reach ${url}: ECONNREFUSED on all `),
      `the stop names the URL and the cause:\n${dead.stderr}`,
    );
    assert.match(dead.stderr, /stopped with 200 candidates to go; re-run the same command once it is up/);
    // nothing is recorded as failed: every candidate is left for the re-run
    assert.equal(lineCount(path.join(out, "failed.jsonl")), 0);
    assert.equal(lineCount(path.join(out, "generations.jsonl")), 0);

    // the same run, once an endpoint answers (the fleet's URLs are not part of a run's settings)
    const live = await startReplayServer(() => ({ body: answer }), { keepRequests: false });
    try {
      const resumed = await runCli([...args, "--teacher", `openai:x@${live.baseURL}`, "--out", out]);
      assert.equal(resumed.status, 0, resumed.stderr);
      assert.doesNotMatch(resumed.stderr, /requests are failing/);
      assert.equal(lineCount(path.join(out, "generations.jsonl")), 200);
    } finally {
      await live.close();
    }
  });

  it("waits for a server that starts listening after the run began (distill serve … & then generate)", async () => {
    const port = await closedPort();
    const late = createServer((_req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(answer));
    });
    const opened = new Promise<void>((resolve) =>
      setTimeout(() => late.listen(port, "127.0.0.1", resolve), 600),
    );
    try {
      const s = await generate({
        prompts: "builtin:general",
        limit: 5,
        samplesPerPrompt: 1,
        retryBaseMs: 200, // patience 1.6 s
        quiet: true,
        teacher: `openai:x@http://127.0.0.1:${port}/v1`,
        out: tmp(),
      });
      assert.equal(s.stopped, undefined, s.stopReason);
      assert.equal(s.written, 5);
      assert.ok(s.errors.ECONNREFUSED > 0, "the first requests were refused");
    } finally {
      await opened;
      late.closeAllConnections();
      await new Promise((resolve) => late.close(resolve));
    }
  });

  it("a pool stops only when every endpoint fails to connect, and names them all", async () => {
    const urls = [`http://127.0.0.1:${await closedPort()}/v1`, `http://127.0.0.1:${await closedPort()}/v1`];
    const options = {
      prompts: "builtin:general",
      limit: 10,
      samplesPerPrompt: 2,
      retryBaseMs: 20,
      quiet: true,
    };
    const s = await generate({ ...options, teacher: `openai:x@${urls.join(",")}`, out: tmp() });
    assert.equal(s.stopped, "unreachable");
    assert.equal(s.stopReason?.startsWith(`cannot reach ${urls.join(", ")}: ECONNREFUSED on all`), true);
    assert.equal(s.written + s.failed, 0);
    assert.equal(s.remaining + s.abandoned, 20);
    for (const e of s.endpoints ?? []) assert.ok(e.unreachable >= unreachableAfter && !e.reached);

    const live = await startReplayServer(() => ({ body: answer }), { keepRequests: false });
    try {
      const mixed = await generate({
        ...options,
        teacher: `openai:x@${urls[0]},${live.baseURL}`,
        out: tmp(),
      });
      assert.equal(mixed.stopped, undefined, "one endpoint answers: the run goes on");
      assert.equal(mixed.written, 20);
      assert.ok(mixed.errors.ECONNREFUSED > 0, "the dead endpoint's failures are counted by cause");
    } finally {
      await live.close();
    }
  });
});

describe("FailureWatch", () => {
  const watch = () => new FailureWatch(["http://127.0.0.1:9/v1"], undefined, () => {});

  it("gives up only after a retried connection failure with nothing ever reached", () => {
    const w = watch();
    for (let i = 0; i < 5; i++)
      assert.equal(w.failed(refused(), 1), undefined, "first attempts alone: a blip");
    assert.match(
      w.failed(refused(), 2) ?? "",
      /^cannot reach http:\/\/127\.0\.0\.1:9\/v1: ECONNREFUSED on all 6/,
    );
  });

  it("keeps retrying for its patience after the first refusal: a server still loading gets that long", () => {
    let now = 1000;
    const w = new FailureWatch(
      ["u"],
      undefined,
      () => {},
      8000,
      () => now,
    );
    for (let i = 0; i < 5; i++) w.failed(refused(), 1);
    now += 7999;
    assert.equal(w.failed(refused(), 2), undefined, "retried, but within the patience");
    now += 1;
    assert.match(w.failed(refused(), 3) ?? "", /^cannot reach u: ECONNREFUSED on all 7 attempts/);
  });

  it("never gives up on an endpoint that once answered, with a completion or any HTTP status", () => {
    const answered = watch();
    answered.succeeded();
    for (let i = 0; i < 5; i++) assert.equal(answered.failed(refused(), 2), undefined);
    const erring = watch();
    erring.failed(new TeacherError("HTTP 500: overloaded", true, { status: 500 }), 1);
    for (let i = 0; i < 5; i++) assert.equal(erring.failed(refused(), 2), undefined);
    assert.equal(erring.describe(), "ECONNREFUSED 5, HTTP 500 1");
  });

  it("reports the first failure's message once, as it happens", () => {
    const lines: string[] = [];
    const w = new FailureWatch(["u"], undefined, (line) => lines.push(line));
    w.failed(refused(), 1);
    w.failed(new TeacherError("HTTP 503: busy", true, { status: 503 }), 1);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^requests are failing: connection failed: connect ECONNREFUSED 127\.0\.0\.1:9/);
  });
});
