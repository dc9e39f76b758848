import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { writeTinyGgufModel } from "../../test/support/tinyGguf.ts";
import { generate } from "../generate/generate.ts";
import { Decoder } from "../model/forward.ts";
import { generate as generateTokens } from "../model/generate.ts";
import { loadModelOrAdapter } from "../model/loraFolder.ts";
import { scoreContinuation } from "../model/score.ts";
import { createLocalModelTeacher } from "../teachers/local.ts";
import { createOpenAITeacher } from "../teachers/openai.ts";
import { loadTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import { type RunningServer, serve } from "./serve.ts";

const repo = path.join(import.meta.dirname, "..", "..");
const cliPath = path.join(repo, "src", "cli.ts");

/** A student folder (tiny random weights, a real BPE tokenizer with ChatML) served to the official client. */
describe("distill serve", () => {
  let running: RunningServer;
  let client: OpenAI;
  let modelDir: string;
  const hello = [{ role: "user" as const, content: "Solve for x: 2x = 6" }];
  before(async () => {
    modelDir = writeTinyGgufModel(mkdtempSync(path.join(tmpdir(), "distill-serve-")), { arch: "qwen2" }).dir;
    running = await serve({ model: modelDir, name: "tiny", port: 0, defaultMaxTokens: 16 });
    client = new OpenAI({ baseURL: running.url, apiKey: "unused", maxRetries: 0 });
  });
  after(() => running.close());

  it("lists the model and answers chat completions, plain and streamed", async () => {
    const models = await client.models.list();
    assert.deepEqual(
      models.data.map((m) => m.id),
      ["tiny"],
    );
    const messages = [{ role: "user" as const, content: "Solve for x: 2x = 6" }];
    const plain = await client.chat.completions.create({
      model: "tiny",
      messages,
      max_tokens: 12,
      temperature: 0,
    });
    assert.equal(typeof plain.choices[0].message.content, "string");
    assert.ok(plain.usage!.completion_tokens > 0 && plain.usage!.completion_tokens <= 12);
    assert.ok(["stop", "length"].includes(plain.choices[0].finish_reason));

    const stream = await client.chat.completions.create({
      model: "tiny",
      messages,
      max_tokens: 12,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let pieces = 0;
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.choices[0]?.delta?.content) pieces++;
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    assert.equal(text, plain.choices[0].message.content, "greedy: streamed and plain agree");
    assert.equal(finish, plain.choices[0].finish_reason);
    assert.equal(usage?.completion_tokens, plain.usage!.completion_tokens);
    // token by token, not the whole text at the end (a token that splits a character waits for the next)
    assert.ok(pieces > 1 && pieces <= plain.usage!.completion_tokens, `${pieces} pieces`);
  });

  it("scores token ids and the next token, for the openai: teacher as for vLLM (max_tokens 1)", async () => {
    const local = createLocalModelTeacher(modelDir);
    const remote = createOpenAITeacher({ model: "tiny", baseURL: running.url });
    const { tokenizerDir } = loadModelOrAdapter(modelDir);
    const tokenizer = loadTokenizer(tokenizerDir);
    const ids = tokenizer.encode(
      "<|im_start|>user\nSolve for x: 2x = 6<|im_end|>\n<|im_start|>assistant\n<think>",
    );
    try {
      const want = await local.score!(ids, 3, { next: true });
      assert.equal(want.length, ids.length + 1);
      for (const input of [ids, tokenizer.decode(ids)]) {
        const got = await remote.score!(input, 3, { next: true });
        assert.equal(got.length, want.length);
        for (const [i, w] of want.entries()) {
          const g = got[i]!;
          assert.equal(g.token, w.token);
          if (w.logprob === null) assert.equal(g.logprob, null);
          else {
            assert.ok(Math.abs(g.logprob! - w.logprob) < 1e-6, `token ${i}`);
            const alternatives = "top_logprobs" in g ? g.top_logprobs.map((a) => a.token) : [];
            // keyed by text, the legacy shape keeps one of two tokens that decode alike (split characters)
            const texts = "top_logprobs" in w ? [...new Set(w.top_logprobs.map((a) => a.token))] : [];
            assert.deepEqual(alternatives, texts);
          }
        }
        assert.equal((await remote.score!(input, 2)).length, ids.length);
      }
    } finally {
      await remote.close?.();
    }
  });

  it("returns logprobs and top_logprobs as the model computes them, plain and streamed, and scores text", async () => {
    const ask = {
      model: "tiny",
      messages: hello,
      max_tokens: 12,
      temperature: 0,
      logprobs: true,
      top_logprobs: 3,
    };
    const plain = await client.chat.completions.create(ask);
    const entries = plain.choices[0].logprobs?.content ?? [];
    const { completion_tokens } = plain.usage!;
    const stopped = plain.choices[0].finish_reason === "stop";
    assert.equal(entries.length, completion_tokens - (stopped ? 1 : 0), "one entry a text token");
    // the bytes spell the text; greedy picks the most likely token
    const bytes = Buffer.from(entries.flatMap((e) => e.bytes ?? []));
    assert.equal(bytes.toString("utf8"), plain.choices[0].message.content);
    for (const e of entries) {
      assert.equal(e.top_logprobs.length, 3);
      assert.equal(e.top_logprobs[0].logprob, e.logprob);
      assert.ok(e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob);
    }
    // the same numbers as scoring the greedy tokens in one forward pass over prompt + completion
    const { model, tokenizerDir } = loadModelOrAdapter(modelDir);
    const tokenizer = loadTokenizer(tokenizerDir);
    const prompt = tokenizer.encode(tokenizer.applyChatTemplate(hello, { addGenerationPrompt: true }));
    const decoder = new Decoder(model);
    const greedy = generateTokens(decoder, prompt, { maxTokens: 12 }).tokens;
    const scored = scoreContinuation(decoder, prompt, greedy).tokenLogProbs;
    for (const [i, e] of entries.entries()) assert.ok(Math.abs(e.logprob - scored[i]) < 1e-4, `token ${i}`);

    const stream = await client.chat.completions.create({ ...ask, stream: true });
    const streamed: typeof entries = [];
    for await (const chunk of stream) streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []));
    assert.deepEqual(streamed, entries);
    await assert.rejects(
      client.chat.completions.create({ model: "tiny", messages: hello, top_logprobs: 2 }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === "top_logprobs",
    );
    await assert.rejects(
      client.chat.completions.create({ ...ask, top_logprobs: 21 }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === "top_logprobs",
    );
    // scoring a text the model did not write: the legacy completions API with echo, as vLLM serves it
    const text = tokenizer.decode([...prompt, ...greedy]);
    const scoredText = await client.completions.create({
      model: "tiny",
      prompt: text,
      echo: true,
      max_tokens: 0,
      logprobs: 2,
    });
    const lp = scoredText.choices[0].logprobs!;
    const ids = tokenizer.encode(text);
    assert.equal(lp.tokens!.length, ids.length);
    assert.equal(lp.token_logprobs![0], null);
    const all = scoreContinuation(decoder, ids.slice(0, 1), ids.slice(1)).tokenLogProbs;
    for (let i = 1; i < ids.length; i++) assert.ok(Math.abs(lp.token_logprobs![i]! - all[i - 1]!) < 1e-4);
    assert.equal(Object.keys(lp.top_logprobs![1]!).length <= 2, true);
    await assert.rejects(
      client.completions.create({ model: "tiny", prompt: text, max_tokens: 5 }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /scores text only/.test(e.message),
    );
    // a teacher that computes no probabilities says so
    const builtin = await serve({ model: "builtin:equations", port: 0 });
    try {
      const other = new OpenAI({ baseURL: builtin.url, apiKey: "unused", maxRetries: 0 });
      await assert.rejects(
        other.chat.completions.create({ ...ask, model: "builtin:equations" }),
        (e: unknown) => e instanceof OpenAI.BadRequestError && /log-probabilities/.test(e.message),
      );
      await assert.rejects(
        other.completions.create({ model: "builtin:equations", prompt: "x", echo: true, max_tokens: 0 }),
        (e: unknown) => e instanceof OpenAI.BadRequestError && /does not score text/.test(e.message),
      );
    } finally {
      await builtin.close();
    }
  });

  it("answers bad requests with OpenAI-shaped errors naming the field", async () => {
    await assert.rejects(
      client.chat.completions.create({ model: "tiny", messages: [] }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /messages/.test(e.message),
    );
    await assert.rejects(
      client.chat.completions.create({ model: "tiny", messages: hello, max_tokens: -5 }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === "max_tokens",
    );
    const messages = hello;
    const refused: [Record<string, unknown> | unknown[] | string, number, string | null, string][] = [
      [{ messages, max_tokens: -5 }, 400, "max_tokens", "invalid_value"],
      [{ messages, max_completion_tokens: 1.5 }, 400, "max_completion_tokens", "invalid_value"],
      [{ messages, temperature: "abc" }, 400, "temperature", "invalid_value"],
      [{ messages, temperature: 3 }, 400, "temperature", "invalid_value"],
      [{ messages, top_p: 0 }, 400, "top_p", "invalid_value"],
      [{ messages, n: 0 }, 400, "n", "invalid_value"],
      [{ messages, seed: "1" }, 400, "seed", "invalid_value"],
      [{ messages, stream: "yes" }, 400, "stream", "invalid_value"],
      [{ messages, stream_options: { include_usage: "y" } }, 400, "stream_options", "invalid_value"],
      [{ messages, presence_penalty: 0.5 }, 400, "presence_penalty", "invalid_value"],
      [{ messages, logprobs: "yes" }, 400, "logprobs", "invalid_value"],
      [{ messages, tools: [] }, 400, "tools", "unknown_parameter"],
      [{ messages: [{ role: "robot", content: "hi" }] }, 400, "messages", "invalid_value"],
      [{ messages: [{ role: "user", content: [{ type: "image_url" }] }] }, 400, "messages", "invalid_value"],
      [{ messages, model: "other" }, 404, "model", "model_not_found"],
      [[1, 2], 400, null, "invalid_type"],
      ["{not json", 400, null, "invalid_json"],
    ];
    for (const [body, status, param, code] of refused) {
      const reply = await fetch(`${running.url}/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
      const { error } = (await reply.json()) as { error: Record<string, unknown> };
      const what = JSON.stringify(body);
      assert.equal(reply.status, status, what);
      assert.deepEqual(Object.keys(error).sort(), ["code", "message", "param", "type"], what);
      assert.equal(error.type, "invalid_request_error", what);
      assert.equal(error.param, param, what);
      assert.equal(error.code, code, what);
      assert.ok(typeof error.message === "string" && error.message.length > 0, what);
    }
  });

  it("takes text parts, nulls as unset and the user field", async () => {
    const reply = await fetch(`${running.url}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "tiny",
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "Solve for x: " },
              { type: "text", text: "2x = 6" },
            ],
          },
        ],
        max_tokens: 4,
        temperature: null,
        stream_options: null,
        user: "someone",
      }),
    });
    assert.equal(reply.status, 200);
    const body = (await reply.json()) as { usage: { completion_tokens: number } };
    assert.ok(body.usage.completion_tokens > 0 && body.usage.completion_tokens <= 4);
  });

  it("serves a folder under the folder's name unless --name says otherwise", async () => {
    const other = await serve({ model: `model:${modelDir}/`, port: 0 });
    try {
      const models = (await (await fetch(`${other.url}/models`)).json()) as { data: { id: string }[] };
      assert.deepEqual(
        models.data.map((m) => m.id),
        [path.basename(modelDir)],
      );
    } finally {
      await other.close();
    }
  });

  it("refuses --parallel below 1 instead of hanging every request", async () => {
    await assert.rejects(
      serve({ model: modelDir, port: 0, parallel: 0 }),
      (e: unknown) => e instanceof UserError && /parallel must be an integer of at least 1/.test(e.message),
    );
    const cli = spawnSync(
      process.execPath,
      ["--import", "tsx", cliPath, "serve", "--model", modelDir, "--parallel", "0"],
      {
        encoding: "utf8",
        cwd: repo,
      },
    );
    assert.equal(cli.status, 2, cli.stderr);
    assert.match(cli.stderr, /--parallel/);
  });

  it("is a teacher for distill generate", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "distill-serve-gen-"));
    const summary = await generate({
      prompts: "builtin:equations?count=3",
      teacher: `openai:tiny@${running.url}`,
      out,
      samplesPerPrompt: 2,
      maxTokens: 16,
      quiet: true,
    });
    assert.equal(summary.written, 6);
    assert.equal(summary.failed, 0);
    const lines = readFileSync(path.join(out, "generations.jsonl"), "utf8").trim().split("\n");
    assert.ok(lines.every((l) => JSON.parse(l).teacher === `openai:tiny@${running.url}`));
  });
});

/**
 * `npx distill serve` runs as npm → `sh -c distill …` → node. A SIGTERM to npm kills the shell and
 * leaves the server to init; a SIGKILL leaves shell and server. Both must stop the server: here a
 * node parent plays npm, with a real `sh -c` wrapper between it and a real `distill serve`.
 */
describe("distill serve's lifetime", () => {
  let modelDir: string;
  before(() => {
    modelDir = writeTinyGgufModel(mkdtempSync(path.join(tmpdir(), "distill-serve-life-")), {
      arch: "qwen2",
    }).dir;
  });

  for (const signal of ["SIGKILL", "SIGTERM"] as const) {
    it(`stops when its launcher gets ${signal}`, async () => {
      const log = path.join(mkdtempSync(path.join(tmpdir(), "distill-serve-log-")), "serve.log");
      const command = `"${process.execPath}" --import tsx "${cliPath}" serve --model "${modelDir}" --port 0 2>"${log}"`;
      // like npm: on SIGTERM it passes the signal to its shell and exits
      const launcher = spawn(
        process.execPath,
        [
          "-e",
          `const c = require("node:child_process").spawn("sh", ["-c", process.argv[1]], { stdio: "ignore" });
           console.log(c.pid);
           process.on("SIGTERM", () => { c.kill("SIGTERM"); process.exit(0); });
           setInterval(() => {}, 1000);`,
          command,
        ],
        { cwd: repo, stdio: ["ignore", "pipe", "inherit"] },
      );
      const shellPid = Number(await firstLine(launcher.stdout));
      let serverPid: number | undefined;
      try {
        const url = await waitFor(() => /at (http:\/\/\S+\/v1)/.exec(readIfThere(log))?.[1], 60_000);
        serverPid = childrenOf(shellPid)[0];
        assert.ok(serverPid, "the server runs under the shell wrapper");
        assert.equal((await fetch(`${url}/models`)).status, 200);
        launcher.kill(signal);
        await waitFor(() => !isAlive(serverPid!) || undefined, 15_000);
        await assert.rejects(fetch(`${url}/models`), "nothing listens any more");
      } finally {
        if (serverPid && isAlive(serverPid)) process.kill(serverPid, "SIGKILL");
        launcher.kill("SIGKILL");
      }
    });
  }
});

function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    stream.on("data", (chunk) => {
      text += chunk;
      if (text.includes("\n")) resolve(text.split("\n")[0]);
    });
    stream.on("end", () => reject(new Error(`launcher ended: ${text}`)));
  });
}

async function waitFor<T>(probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function readIfThere(file: string): string {
  return existsSync(file) ? readFileSync(file, "utf8") : "";
}

/** Live children of `pid`, from /proc (Linux). */
function childrenOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      const stat = readIfThere(`/proc/${name}/stat`);
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid;
    })
    .map(Number);
}

/** Running (a zombie waiting for its reaper has stopped). */
function isAlive(pid: number): boolean {
  const stat = readIfThere(`/proc/${pid}/stat`);
  return stat !== "" && stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}
