import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { tinyConfig } from "../../test/support/tinyConfig.ts";
import { bf16ToF32, f32ToBf16 } from "../model/dtype.ts";
import { loadModelFolder, saveModelFolder } from "../model/hfFolder.ts";
import { randomModel } from "../model/model.ts";
import { trainBpeTokenizer } from "../tokenizer/bpeTrainer.ts";
import { loadTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import { exportModel } from "./export.ts";
import { parseSize } from "./safetensors.ts";

const root = mkdtempSync(join(tmpdir(), "distill-export-st-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** A student folder as distill train writes it: F32 weights, trained tokenizer, generation_config.json. */
function student(dir: string) {
  const tokenizer = trainBpeTokenizer(["<think>x</think><answer>1</answer> solve the equation 2x = 4"], {
    vocabSize: 300,
  });
  const model = randomModel(tinyConfig("qwen3", { vocab_size: tokenizer.vocabSize }), { seed: 3 });
  saveModelFolder(dir, model, {
    tokenizer,
    generationConfig: { eos_token_id: 5, temperature: 0.6, top_p: 0.95, do_sample: true },
  });
  return model;
}

test("safetensors export round-trips F32 exactly with the tokenizer and generation settings", async () => {
  const src = join(root, "student");
  const model = student(src);
  const out = join(root, "hf32");
  const s = await exportModel({ model: src, format: "safetensors", out, dtype: "f32" });
  assert.equal(s.format, "safetensors");
  const back = loadModelFolder(out);
  assert.deepEqual([...back.params.keys()].sort(), [...model.params.keys()].sort());
  for (const [name, t] of model.params) assert.deepEqual(back.params.get(name)!.data, t.data, name);
  const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
  assert.equal(config.torch_dtype, "float32");
  assert.deepEqual(config.architectures, ["Qwen3ForCausalLM"]);
  assert.equal(
    readFileSync(join(out, "tokenizer.json"), "utf8"),
    readFileSync(join(src, "tokenizer.json"), "utf8"),
  );
  const generation = JSON.parse(readFileSync(join(out, "generation_config.json"), "utf8"));
  assert.equal(generation.temperature, 0.6);
  assert.equal(generation.do_sample, true);
  // The exported tokenizer still renders the student's chat.
  assert.equal(
    loadTokenizer(out).applyChatTemplate([{ role: "user", content: "hi" }], { addGenerationPrompt: true }),
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
  );
});

test("safetensors export in BF16 shards above --max-shard-size and rounds to nearest even", async () => {
  const src = join(root, "student-bf16");
  const model = student(src);
  const out = join(root, "hf-bf16");
  const s = await exportModel({ model: src, format: "safetensors", out, maxShardSize: "40KB" });
  assert.equal(s.format === "safetensors" && s.safetensors.dtype, "bf16");
  assert.ok(s.format === "safetensors" && s.safetensors.shards > 1, "sharded");
  assert.ok(existsSync(join(out, "model.safetensors.index.json")));
  assert.ok(!existsSync(join(out, "model.safetensors")));
  const index = JSON.parse(readFileSync(join(out, "model.safetensors.index.json"), "utf8"));
  assert.deepEqual(Object.keys(index.weight_map).sort(), [...model.params.keys()].sort());
  const back = loadModelFolder(out);
  for (const [name, t] of model.params)
    assert.deepEqual(back.params.get(name)!.data, bf16ToF32(f32ToBf16(t.data)));
  assert.equal(JSON.parse(readFileSync(join(out, "config.json"), "utf8")).torch_dtype, "bfloat16");
});

test("safetensors export: f16 or a quantized type, exporting onto itself, no tokenizer and bad sizes are user errors", async () => {
  const src = join(root, "student-err");
  student(src);
  const isUserError = (pattern: RegExp) => (e: unknown) => e instanceof UserError && pattern.test(e.message);
  await assert.rejects(
    exportModel({ model: src, format: "safetensors", out: join(root, "x"), dtype: "f16" }),
    isUserError(/f32 or bf16/),
  );
  await assert.rejects(
    exportModel({ model: src, format: "safetensors", out: join(root, "x"), dtype: "q4_k_m" }),
    isUserError(/f32 or bf16 \(q4_k_m is for --format gguf\)/),
  );
  await assert.rejects(
    exportModel({ model: src, format: "safetensors", out: src }),
    isUserError(/must differ/),
  );
  await assert.rejects(
    exportModel({ model: src, format: "safetensors", out: join(root, "y"), maxShardSize: "lots" }),
    isUserError(/not a size/),
  );
  const bare = join(root, "bare");
  saveModelFolder(bare, randomModel(tinyConfig("llama", { vocab_size: 64 }), { seed: 1 }));
  await assert.rejects(
    exportModel({ model: bare, format: "safetensors", out: join(root, "z") }),
    isUserError(/no tokenizer\.json/),
  );
  assert.equal(parseSize("5GB"), 5e9);
  assert.equal(parseSize("500 MB"), 5e8);
  assert.equal(parseSize("2GiB"), 2 * 1024 ** 3);
  assert.equal(parseSize("123"), 123);
});
