/**
 * One prompt everywhere: a student's training prompt is read from its folder, from its GGUF and from
 * `distill serve`'s model list, and generate/eval send exactly that; a teacher that records none gets
 * the template instruction; `--instruction` overrides.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { startReplayServer } from "../../test/support/replayServer.ts";
import { writeTinyGgufModel } from "../../test/support/tinyGguf.ts";
import { generate } from "../generate/generate.ts";
import { exportGgufFromFolder } from "../model/ggufExport.ts";
import { readGguf } from "../model/ggufFormat.ts";
import { writePromptRecord } from "../model/promptRecord.ts";
import { serve } from "../serve/serve.ts";
import { endsWithInstruction } from "../template/render.ts";
import { resolvePrompting } from "./prompting.ts";
import { parseTeacherSpec } from "./spec.ts";

const root = mkdtempSync(path.join(tmpdir(), "distill-prompting-"));
after(() => rmSync(root, { recursive: true, force: true }));
const resolved = async (spec: string, option?: "auto" | "none" | "template") =>
  (await resolvePrompting(parseTeacherSpec(spec), option)).instruction;

test("a student's record is followed from its folder and its GGUF; a GGUF that records none gets the instruction", async () => {
  const tiny = writeTinyGgufModel(path.join(root, "student"), { arch: "qwen2" });
  assert.equal(await resolved(tiny.dir), "none", "a folder of the project's own: the bare problem");
  assert.equal(await resolved(`gguf:${tiny.ggufPath}`), "template", "a GGUF with no record is a teacher");
  for (const instruction of ["template", "none"] as const) {
    writePromptRecord(tiny.dir, { instruction });
    const gguf = path.join(root, `${instruction}.gguf`);
    exportGgufFromFolder(tiny.dir, gguf);
    assert.equal(readGguf(gguf).metadata.get("distill.instruction"), instruction);
    assert.equal(await resolved(`model:${tiny.dir}`), instruction);
    assert.equal(await resolved(`gguf:${gguf}`), instruction);
    assert.equal(await resolved(`gguf:${gguf}`, "template"), "template", "--instruction overrides");
  }
  assert.equal(await resolved("builtin:equations"), "template");
});

test("distill serve lists the record; eval through it sends the bare problem, another server gets the instruction", async () => {
  const tiny = writeTinyGgufModel(path.join(root, "served"), { arch: "qwen2" });
  writePromptRecord(tiny.dir, { instruction: "none" });
  const running = await serve({ model: tiny.dir, name: "tiny", port: 0, defaultMaxTokens: 4 });
  const body = JSON.parse(
    readFileSync(path.join(import.meta.dirname, "../../test/fixtures/openai-chat-completion.json"), "utf8"),
  );
  const other = await startReplayServer(() => ({ body }), { keepRequests: true });
  try {
    const models = (await (await fetch(`${running.url}/models`)).json()) as {
      data: { id: string; distill?: unknown }[];
    };
    assert.deepEqual(models.data[0].distill, { instruction: "none" });
    assert.equal(await resolved(`openai:tiny@${running.url}`), "none");
    assert.equal(await resolved(`openai:gpt@${other.baseURL}`), "template");
    assert.equal(await resolved("openai:x@http://127.0.0.1:9/v1"), "template", "nothing listening");

    const prompts = path.join(root, "prompts.jsonl");
    writeFileSync(prompts, '{"question": "Solve 3x + 5 = 20", "answer": "5"}\n');
    const run = (teacher: string, out: string, instruction?: "none" | "template") =>
      generate({
        prompts: `jsonl:${prompts}`,
        teacher,
        out: path.join(root, out),
        maxTokens: 4,
        samplesPerPrompt: 1,
        quiet: true,
        instruction,
      });
    assert.equal((await run(`openai:tiny@${running.url}`, "via-serve")).instruction, "none");
    assert.equal((await run(`openai:gpt@${other.baseURL}`, "teacher")).instruction, "template");
    assert.equal((await run(`openai:gpt@${other.baseURL}`, "told", "none")).instruction, "none");
    const sent = other.requests
      .map((r) => r.body.messages as { content: string }[] | undefined)
      .filter((m) => m !== undefined)
      .map((m) => m.at(-1)!.content);
    assert.deepEqual(sent.map(endsWithInstruction), [true, false]);
    // resumed, a configuration keeps its prompt: auto would now give the instruction to "told"'s candidates
    await assert.rejects(
      run(`openai:gpt@${other.baseURL}`, "told"),
      /prompted with instruction "none", this run would use "template" .*add --instruction none/,
    );
  } finally {
    await other.close();
    await running.close();
  }
});
