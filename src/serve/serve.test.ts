import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { writeTinyGgufModel } from "../../test/support/tinyGguf.ts";
import { generate } from "../generate/generate.ts";
import { type RunningServer, serve } from "./serve.ts";

/** A student folder (tiny random weights, a real BPE tokenizer with ChatML) served to the official client. */
describe("distill serve", () => {
  let running: RunningServer;
  let client: OpenAI;
  before(async () => {
    const { dir } = writeTinyGgufModel(mkdtempSync(path.join(tmpdir(), "distill-serve-")), { arch: "qwen2" });
    running = await serve({ model: dir, name: "tiny", port: 0, defaultMaxTokens: 16 });
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

  it("answers bad requests with OpenAI-shaped errors", async () => {
    await assert.rejects(
      client.chat.completions.create({ model: "tiny", messages: [] }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /messages/.test(e.message),
    );
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
