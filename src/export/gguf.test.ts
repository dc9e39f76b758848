import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { JinjaTemplateChatWrapper, LlamaChatSession } from "node-llama-cpp";
import { llamaForTests } from "../../test/support/llamaCpp.ts";
import { writeTinyGgufModel } from "../../test/support/tinyGguf.ts";
import { readGguf } from "../model/ggufFormat.ts";
import { loadTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import { exportModel } from "./export.ts";

const root = mkdtempSync(join(tmpdir(), "distill-export-gguf-"));
const llama = llamaForTests(root);

test("gguf export: F16 GGUF with the student's chat template, an Ollama Modelfile and a README", async () => {
  const tiny = writeTinyGgufModel(join(root, "student"), { arch: "qwen2" });
  const out = join(root, "gguf");
  const s = await exportModel({ model: tiny.dir, format: "gguf", out, name: "eq-student" });
  assert.equal(s.format, "gguf");
  assert.deepEqual(s.files, ["model.gguf", "Modelfile", "README.txt"]);

  // The file: F16 matrices, F32 norms, the template and name the student's folder gives.
  const g = readGguf(join(out, "model.gguf"));
  const tokenizer = loadTokenizer(tiny.dir);
  assert.equal(g.metadata.get("general.file_type"), 1);
  assert.equal(g.metadata.get("general.name"), "eq-student");
  assert.equal(g.metadata.get("tokenizer.chat_template"), tokenizer.chatTemplate);
  const embd = g.readTensor("token_embd.weight");
  const src = tiny.model.params.get("model.embed_tokens.weight")!.data;
  let maxErr = 0;
  for (let i = 0; i < src.length; i++) maxErr = Math.max(maxErr, Math.abs(embd[i] - src[i]));
  assert.ok(maxErr < 1e-3 && maxErr > 0, `F16 rounding of the embeddings: ${maxErr}`);

  // llama.cpp renders the embedded Jinja template as the student's tokenizer does, and generates.
  const model = await llama().loadModel({ modelPath: join(out, "model.gguf") });
  const template = model.fileInfo.metadata.tokenizer.chat_template as string;
  const wrapper = new JinjaTemplateChatWrapper({ template });
  const { contextText } = wrapper.generateContextState({
    chatHistory: [
      { type: "system", text: "You solve equations." },
      { type: "user", text: "Solve for x: 2x + 3 = 7" },
      { type: "model", response: [] },
    ],
  });
  const expected = tokenizer.applyChatTemplate(
    [
      { role: "system", content: "You solve equations." },
      { role: "user", content: "Solve for x: 2x + 3 = 7" },
    ],
    { addGenerationPrompt: true },
  );
  assert.equal(contextText.toString(), expected);
  const context = await model.createContext({ contextSize: 512, threads: 1 });
  const session = new LlamaChatSession({ contextSequence: context.getSequence() });
  assert.equal(session.chatWrapper.wrapperName, "ChatML");
  const meta = await session.promptWithMeta("Solve for x: 2x + 3 = 7", { maxTokens: 6, temperature: 0 });
  assert.ok(["maxTokens", "eogToken", "stopGenerationTrigger"].includes(meta.stopReason), meta.stopReason);
  assert.ok(meta.response.length > 0);
  await context.dispose();
  await model.dispose();

  const modelfile = readFileSync(join(out, "Modelfile"), "utf8");
  assert.match(modelfile, /^FROM \.\/model\.gguf$/m);
  assert.match(
    modelfile,
    /^TEMPLATE """[\s\S]*<\|im_start\|>\{\{ \.Role \}\}[\s\S]*<\|im_start\|>assistant\n"""$/m,
  );
  assert.match(modelfile, /^PARAMETER stop "<\|im_end\|>"$/m);
  assert.match(modelfile, /^PARAMETER temperature 0\.6$/m);
  assert.match(modelfile, /^PARAMETER num_ctx 2048$/m);
  const readme = readFileSync(join(out, "README.txt"), "utf8");
  assert.match(readme, /llama-cli -m model\.gguf -cnv/);
  assert.match(readme, /ollama create eq-student -f Modelfile/);
});

test("gguf export: F32 on request; another template family; other formats' flags, bf16, a folder without config.json and an unknown format are user errors", async () => {
  const tiny = writeTinyGgufModel(join(root, "student32"), { arch: "llama" });
  const out = join(root, "gguf32");
  await exportModel({ model: tiny.dir, format: "gguf", out, dtype: "f32" });
  const g = readGguf(join(out, "model.gguf"));
  assert.equal(g.metadata.get("general.file_type"), 0);
  assert.deepEqual(g.readTensor("output_norm.weight"), tiny.model.params.get("model.norm.weight")!.data);
  // Another template family: the GGUF carries it, and the Modelfile leaves the template to Ollama.
  const config = JSON.parse(readFileSync(join(tiny.dir, "tokenizer_config.json"), "utf8"));
  const llama3 =
    "{% for m in messages %}{{ '<|start_header_id|>' + m.role + '<|end_header_id|>\\n\\n' + m.content + '<|eot_id|>' }}{% endfor %}";
  writeFileSync(
    join(tiny.dir, "tokenizer_config.json"),
    JSON.stringify({ ...config, chat_template: llama3 }),
  );
  await exportModel({ model: tiny.dir, format: "gguf", out: join(root, "gguf-l3") });
  assert.equal(readGguf(join(root, "gguf-l3", "model.gguf")).metadata.get("tokenizer.chat_template"), llama3);
  const modelfile = readFileSync(join(root, "gguf-l3", "Modelfile"), "utf8");
  assert.ok(modelfile.startsWith("FROM ./model.gguf\n"));
  assert.doesNotMatch(modelfile, /TEMPLATE|im_end/);
  assert.match(modelfile, /^PARAMETER top_p 0\.95$/m);

  await assert.rejects(
    exportModel({ model: tiny.dir, format: "gguf", out, data: "x.jsonl" }),
    (e: unknown) => {
      return e instanceof UserError && /--data applies to --format trl only/.test(e.message);
    },
  );
  await assert.rejects(exportModel({ model: tiny.dir, format: "gguf", out, dtype: "bf16" }), (e: unknown) => {
    return (
      e instanceof UserError &&
      /writes f32, f16, q8_0, q4_0 or q4_k_m/.test(e.message) &&
      e.where.field === "dtype"
    );
  });
  await assert.rejects(exportModel({ model: root, format: "gguf", out }), (e: unknown) => {
    return e instanceof UserError && e.message.startsWith(`${root}: no config.json`);
  });
  await assert.rejects(
    exportModel({ model: tiny.dir, format: "onnx" as "gguf", out }),
    (e: unknown) => e instanceof UserError && /must be gguf, safetensors or trl/.test(e.message),
  );
});
