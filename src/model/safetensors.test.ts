import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { tinyConfig } from "../../test/support/tinyConfig.ts";
import { trainBpeTokenizer } from "../tokenizer/bpeTrainer.ts";
import { writeTokenizerFiles } from "../tokenizer/tokenizer.ts";
import { f16ToF32, f32ToBf16, f32ToF16 } from "./dtype.ts";
import { loadModelFolder, saveModelFolder } from "./hfFolder.ts";
import { randomModel } from "./model.ts";
import { ollamaModelfile } from "./ollama.ts";
import { readSafetensors, writeSafetensors } from "./safetensors.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "distill-st-"));

test("F32 safetensors round-trip exactly and the header is the documented layout", () => {
  const dir = tmp();
  const a = { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-8, -7]) };
  const path = join(dir, "x.safetensors");
  writeSafetensors(
    path,
    new Map([
      ["b.weight", a],
      ["a", { shape: [1], data: Float32Array.of(42) }],
    ]),
  );
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  assert.equal((8 + n) % 8, 0);
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString());
  assert.deepEqual(header.a, { dtype: "F32", shape: [1], data_offsets: [0, 4] });
  assert.deepEqual(header["b.weight"].data_offsets, [4, 28]);
  const back = readSafetensors(path).tensors;
  assert.deepEqual(back.get("b.weight"), a);
  rmSync(dir, { recursive: true });
});

test("BF16 and F16 files are read into float32", () => {
  const dir = tmp();
  const vals = Float32Array.from([1, -2.5, 0.333, 65504, 1e-5]);
  const bf = f32ToBf16(vals);
  const f16 = f32ToF16(vals);
  assert.deepEqual([...f16ToF32(f16)].slice(0, 4), [1, -2.5, 0.3330078125, 65504]);
  // Hand-build a file with both dtypes, as torch would write it.
  const header = JSON.stringify({
    h: { dtype: "F16", shape: [5], data_offsets: [0, 10] },
    b: { dtype: "BF16", shape: [5], data_offsets: [10, 20] },
  });
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const path = join(dir, "m.safetensors");
  writeFileSync(
    path,
    Buffer.concat([len, Buffer.from(header), Buffer.from(f16.buffer), Buffer.from(bf.buffer)]),
  );
  const t = readSafetensors(path).tensors;
  assert.equal(t.get("h")!.data[2], 0.3330078125);
  assert.equal(t.get("b")!.data[0], 1);
  assert.equal(t.get("b")!.data[1], -2.5);
  assert.ok(Math.abs(t.get("b")!.data[2] - 0.333) < 2e-3);
  rmSync(dir, { recursive: true });
});

test("HF folder save/load round-trips, single file and sharded", () => {
  const model = randomModel(tinyConfig("qwen2", { vocab_size: 100 }), { seed: 3 });
  for (const maxShardBytes of [undefined, 40_000]) {
    const dir = tmp();
    const files = saveModelFolder(dir, model, { maxShardBytes });
    if (maxShardBytes)
      assert.ok(files.includes("model.safetensors.index.json") && files.length > 4, String(files));
    else assert.ok(files.includes("model.safetensors"));
    const back = loadModelFolder(dir);
    assert.equal(back.config.model_type, "qwen2");
    assert.deepEqual(back.config.architectures, ["Qwen2ForCausalLM"]);
    assert.equal(back.params.size, model.params.size);
    for (const [name, t] of model.params) assert.deepEqual(back.params.get(name), t, name);
    const gen = JSON.parse(readFileSync(join(dir, "generation_config.json"), "utf8"));
    assert.equal(gen.eos_token_id, 0);
    rmSync(dir, { recursive: true });
  }
});

test("a folder missing a tensor is refused with its name", () => {
  const model = randomModel(tinyConfig("qwen3", { vocab_size: 50 }));
  const dir = tmp();
  saveModelFolder(dir, model);
  const partial = new Map(model.params);
  partial.delete("model.layers.1.self_attn.k_norm.weight");
  writeSafetensors(join(dir, "model.safetensors"), partial);
  assert.throws(() => loadModelFolder(dir), /missing tensor "model.layers.1.self_attn.k_norm.weight"/);
  rmSync(dir, { recursive: true });
});

test("saving copies the tokenizer files of a source folder", () => {
  const src = tmp();
  writeTokenizerFiles(src, trainBpeTokenizer(["a b c ab abc"], { vocabSize: 300 }));
  const dir = tmp();
  const files = saveModelFolder(dir, randomModel(tinyConfig("llama", { vocab_size: 40 })), {
    tokenizerFrom: src,
    dtype: "BF16",
  });
  assert.ok(files.includes("tokenizer.json") && files.includes("tokenizer_config.json"));
  assert.ok(!existsSync(join(dir, "vocab.json")));
  assert.equal(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")).torch_dtype, "bfloat16");
  assert.deepEqual(readFileSync(join(dir, "tokenizer.json")), readFileSync(join(src, "tokenizer.json")));
  // BF16 on disk: values come back rounded to 8 bits of mantissa.
  const back = loadModelFolder(dir).params.get("model.norm.weight")!.data;
  assert.ok(Math.abs(back[0] - 1) < 0.5 && back[0] === Math.fround(back[0]));
  rmSync(src, { recursive: true });
  rmSync(dir, { recursive: true });
});

test("an Ollama Modelfile names the GGUF, the ChatML template and the stop tokens", () => {
  const mf = ollamaModelfile({ temperature: 0.6 });
  assert.match(mf, /^FROM \.\/model\.gguf\n/);
  assert.match(mf, /<\|im_start\|>\{\{ \.Role \}\}/);
  assert.match(mf, /PARAMETER stop "<\|im_end\|>"/);
  assert.match(mf, /PARAMETER temperature 0.6/);
});
