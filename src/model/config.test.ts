import assert from "node:assert/strict";
import { test } from "node:test";
import { UserError } from "../util/errors.ts";
import { modelDims, parameterShapes, parseModelConfig, ropeFrequencyFactors } from "./config.ts";

const qwen3 = {
  model_type: "qwen3",
  vocab_size: 151936,
  hidden_size: 1024,
  intermediate_size: 3072,
  num_hidden_layers: 28,
  num_attention_heads: 16,
  num_key_value_heads: 8,
  head_dim: 128,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  tie_word_embeddings: true,
  max_position_embeddings: 40960,
  eos_token_id: 151645,
};

test("Qwen3-0.6B config gives its head_dim and parameter count", () => {
  const config = parseModelConfig(qwen3);
  const d = modelDims(config);
  assert.equal(d.headDim, 128);
  assert.equal(d.arch.qkNorm, true);
  let n = 0;
  for (const s of parameterShapes(config).values()) n += s.reduce((a, b) => a * b, 1);
  assert.equal(n, 596_049_920); // Qwen3-0.6B's published count (tied embeddings)
  assert.deepEqual(parameterShapes(config).get("model.layers.0.self_attn.q_proj.weight"), [2048, 1024]);
});

test("qwen2 has QKV biases, llama has none unless attention_bias", () => {
  const base = { ...qwen3, head_dim: undefined, num_hidden_layers: 1 };
  assert.ok(
    parameterShapes(parseModelConfig({ ...base, model_type: "qwen2" })).has(
      "model.layers.0.self_attn.q_proj.bias",
    ),
  );
  assert.ok(
    !parameterShapes(parseModelConfig({ ...base, model_type: "llama" })).has(
      "model.layers.0.self_attn.q_proj.bias",
    ),
  );
  const untied = parameterShapes(
    parseModelConfig({ ...base, model_type: "llama", tie_word_embeddings: false }),
  );
  assert.deepEqual(untied.get("lm_head.weight"), [151936, 1024]);
});

test("bad configs fail with the field named", () => {
  assert.throws(
    () => parseModelConfig({ ...qwen3, model_type: "gpt2" }),
    (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /field "model_type".*unsupported model_type "gpt2"/);
      return true;
    },
  );
  assert.throws(() => parseModelConfig({ ...qwen3, hidden_size: "big" }), /field "hidden_size"/);
  assert.throws(() => parseModelConfig({ ...qwen3, num_key_value_heads: 5 }), /num_key_value_heads/);
});

test("Llama 3.1 RoPE scaling: short wavelengths kept, long ones divided by factor, a blend between", () => {
  const config = parseModelConfig({
    ...qwen3,
    model_type: "llama",
    head_dim: 128,
    rope_theta: 500000,
    rope_scaling: {
      rope_type: "llama3",
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 8192,
    },
  });
  const f = [...ropeFrequencyFactors(config)];
  assert.equal(f.length, 64);
  assert.equal(f[0], 1);
  assert.equal(f[63], 8);
  const blended = f.filter((x) => x > 1 && x < 8);
  assert.ok(blended.length > 0 && blended.length < 20);
  for (let i = 1; i < 64; i++) assert.ok(f[i] >= f[i - 1]);
  assert.throws(
    () => parseModelConfig({ ...qwen3, rope_scaling: { type: "yarn", factor: 4 } }),
    /field "rope_scaling"/,
  );
});
