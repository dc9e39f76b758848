/**
 * Quantized GGUF through llama.cpp's own quantizer: each type is written with the tensor types llama.cpp
 * gives it, loads in llama.cpp, and stays close to the F32 export's next-token distribution.
 */
import assert from "node:assert/strict";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { llamaForTests, llamaLogProbs, meanKl } from "../../test/support/llamaCpp.ts";
import { writeTinyGgufModel } from "../../test/support/tinyGguf.ts";
import { readGguf } from "../model/ggufFormat.ts";
import { loadTokenizer } from "../tokenizer/tokenizer.ts";
import { exportModel } from "./export.ts";
import { ggufQuantTypes } from "./quantize.ts";

const root = mkdtempSync(join(tmpdir(), "distill-quantize-"));
const llama = llamaForTests(root);

// ggml_type ids of the matrices each file type holds (ggml.h): llama.cpp's Q4_K_M mixes Q4_K and Q6_K
const matrixTypes = { f32: [0], f16: [1], q8_0: [8], q4_0: [2], q4_k_m: [12, 14] };

test("gguf export: q8_0, q4_0 and q4_k_m by llama.cpp's quantizer load in llama.cpp and stay near F32", async () => {
  // rows of 256 so that the K-quants apply to every matrix (narrower rows fall back to other types)
  const tiny = writeTinyGgufModel(join(root, "student"), {
    arch: "qwen2",
    config: { hidden_size: 256, intermediate_size: 512, num_attention_heads: 4, head_dim: 64 },
  });
  const V = tiny.model.config.vocab_size;
  const tokens = Array.from({ length: 48 }, (_, i) => (i * 37 + 11) % (V - 8));
  const exported: Record<string, { bytes: number; logProbs: Float64Array[] }> = {};
  for (const dtype of ["f32", "f16", "q8_0", "q4_0", "q4_k_m"] as const) {
    const out = join(root, dtype);
    const s = await exportModel({ model: tiny.dir, format: "gguf", out, dtype });
    assert.equal(s.format === "gguf" && s.gguf.dtype, dtype);
    assert.deepEqual(s.files, ["model.gguf", "Modelfile", "README.txt"], "no F32 intermediate left");
    const path = join(out, "model.gguf");
    const g = readGguf(path);
    const fileType = dtype === "f32" ? 0 : dtype === "f16" ? 1 : ggufQuantTypes[dtype];
    assert.equal(g.metadata.get("general.file_type"), fileType);
    const types = (name: string) => g.tensors.get(name)?.type;
    assert.ok(matrixTypes[dtype].includes(types("blk.0.ffn_up.weight")!), `${dtype}: ffn_up`);
    assert.equal(types("blk.0.attn_norm.weight"), 0, "norms stay F32");
    assert.equal(g.metadata.get("tokenizer.chat_template"), loadTokenizer(tiny.dir).chatTemplate);
    const { logProbs, greedy } = await llamaLogProbs(llama(), path, tokens, V);
    assert.ok(greedy.length > 0, `${dtype}: llama.cpp generates`);
    exported[dtype] = { bytes: statSync(path).size, logProbs };
  }
  const kl = (dtype: string) => meanKl(exported.f32.logProbs, exported[dtype].logProbs);
  const measured = { f16: kl("f16"), q8_0: kl("q8_0"), q4_0: kl("q4_0"), q4_k_m: kl("q4_k_m") };
  // Random weights (std 0.15) give peaked distributions that move more than a trained model's (the
  // README's table has the demo student's); the order and the gaps between types are what hold.
  console.log(`mean KL per token against F32 (nats): ${JSON.stringify(measured)}`);
  assert.ok(measured.f16 < 1e-3, `f16 KL ${measured.f16}`);
  assert.ok(measured.q8_0 < 0.05 && measured.q8_0 > measured.f16 * 5, JSON.stringify(measured));
  for (const q4 of [measured.q4_0, measured.q4_k_m])
    assert.ok(q4 < 1.5 && q4 > measured.q8_0 * 10, JSON.stringify(measured));
  assert.ok(exported.q4_0.bytes < exported.q8_0.bytes && exported.q8_0.bytes < exported.f32.bytes / 3);
});
