import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { writeTinyGgufModel } from "../../test/support/tinyGguf.ts";
import { renderTeacherMessages } from "../template/render.ts";
import { createGgufTeacher } from "./gguf.ts";
import type { Teacher } from "./types.ts";

/**
 * The gguf adapter against a real llama.cpp (node-llama-cpp's prebuilt CPU build) running a tiny
 * random-weight model the test writes itself: what it says is noise, but loading, the model's own
 * chat template, seeded sampling, max-token cuts and usage accounting are all real.
 */
describe("gguf teacher", () => {
  let teacher: Teacher;
  before(() => {
    const { ggufPath } = writeTinyGgufModel(mkdtempSync(path.join(tmpdir(), "distill-gguf-")), {
      arch: "qwen2",
    });
    teacher = createGgufTeacher({ path: ggufPath, contextSize: 512, sequences: 2, threads: 1 });
  });
  after(() => teacher.close?.());

  const request = {
    messages: renderTeacherMessages("Solve for x: 2x + 3 = 7"),
    n: 1,
    temperature: 0.8,
    topP: 0.95,
    maxTokens: 24,
    seed: 11,
  };

  it("samples with the model's chat template and reports usage and a length stop", async () => {
    const [c] = await teacher.sample(request);
    assert.ok(c.text.length > 0);
    assert.ok(c.usage.promptTokens > 10, `prompt tokens ${c.usage.promptTokens}`);
    assert.ok(
      c.usage.completionTokens > 0 && c.usage.completionTokens <= 26,
      `completion tokens ${c.usage.completionTokens}`,
    );
    assert.ok(c.finishReason === "length" || c.finishReason === "stop");
  });

  it("is reproducible for a seed and different across seeds", async () => {
    const [a] = await teacher.sample(request);
    const [b] = await teacher.sample(request);
    assert.equal(a.text, b.text);
    const others = await Promise.all([12, 13, 14].map((seed) => teacher.sample({ ...request, seed })));
    assert.ok(others.some(([o]) => o.text !== a.text));
  });

  it("adds no system message of its own: the prompt is the model's template over the request's messages", async () => {
    const plain = { ...request, messages: [{ role: "user" as const, content: "Solve for x: 2x + 3 = 7" }] };
    const system =
      "You are a helpful, respectful and honest assistant. Always answer as helpfully as possible.";
    const [bare] = await teacher.sample(plain);
    const [withSystem] = await teacher.sample({
      ...plain,
      messages: [{ role: "system", content: system }, ...plain.messages],
    });
    // ChatML around the user turn alone: a handful of tokens beyond the text (node-llama-cpp's default
    // system prompt, were it there, would add some 80)
    const userTokens = "Solve for x: 2x + 3 = 7".length; // the tiny model's vocabulary is bytes and a few merges
    assert.ok(bare.usage.promptTokens <= userTokens + 16, `prompt tokens ${bare.usage.promptTokens}`);
    assert.ok(
      withSystem.usage.promptTokens >= bare.usage.promptTokens + 20,
      `a system message asked for is there: ${withSystem.usage.promptTokens} vs ${bare.usage.promptTokens}`,
    );
  });

  it("refuses a missing file with a clear message", () => {
    assert.throws(
      () => createGgufTeacher({ path: "/nonexistent/model.gguf" }),
      /model\.gguf: GGUF model not found/,
    );
  });
});
