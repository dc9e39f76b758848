import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { UserError } from "../util/errors.ts";
import { modelDims, parameterShapes, parseModelConfig } from "./config.ts";
import { ropeFrequencyFactors, ropeInverseFrequencies } from "./rope.ts";

const fixtures = new URL("../../test/fixtures/transformers5/", import.meta.url);
/** config.json as transformers 5.18's save_pretrained wrote it (test/fixtures/transformers5/make_fixtures.py). */
const written = (arch: string) =>
  JSON.parse(readFileSync(new URL(`${arch}.config.json`, fixtures), "utf8")) as Record<string, unknown>;

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

test("qwen2 has QKV biases, llama has none", () => {
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

const llama3 = {
  rope_type: "llama3",
  factor: 8,
  low_freq_factor: 1,
  high_freq_factor: 4,
  original_max_position_embeddings: 8192,
};

test("Llama 3.1 RoPE scaling: short wavelengths kept, long ones divided by factor, a blend between", () => {
  const config = parseModelConfig({
    ...qwen3,
    model_type: "llama",
    head_dim: 128,
    rope_theta: 500000,
    rope_scaling: llama3,
  });
  const d = modelDims(config);
  const f = [...ropeFrequencyFactors(d.rope, d.headDim)];
  assert.equal(f.length, 64);
  assert.equal(f[0], 1);
  assert.equal(f[63], 8);
  const blended = f.filter((x) => x > 1 && x < 8);
  assert.ok(blended.length > 0 && blended.length < 20);
  for (let i = 1; i < 64; i++) assert.ok(f[i] >= f[i - 1]);
  // the inverse frequencies are the unscaled ones over these divisors, to float32 rounding
  const inv = ropeInverseFrequencies(d.rope, d.headDim);
  const plain = ropeInverseFrequencies({ type: "default", theta: 500000 }, 128);
  for (let i = 0; i < 64; i++) assert.ok(Math.abs(inv[i] * f[i] - plain[i]) <= 1e-6 * plain[i], `${i}`);
});

test("transformers 5 configs (rope_parameters, layer_types, dtype) are read, not defaulted to θ = 10,000", () => {
  const qwen2 = parseModelConfig(written("qwen2"));
  assert.ok(!("rope_theta" in written("qwen2")) && "rope_parameters" in written("qwen2"));
  assert.deepEqual(modelDims(qwen2).rope, { type: "default", theta: 1000000 });
  assert.equal(modelDims(qwen2).qkvBias, true);
  assert.equal(qwen2.tie_word_embeddings, true);
  // parsing adds no rope_theta: the config writes back as transformers wrote it
  assert.equal("rope_theta" in qwen2, false);
  const q3 = modelDims(parseModelConfig(written("qwen3")));
  assert.deepEqual(
    [q3.rope, q3.headDim, q3.qkvBias, q3.arch.qkNorm],
    [{ type: "default", theta: 1000000 }, 32, false, true],
  );
  const llama = modelDims(parseModelConfig(written("llama")));
  assert.deepEqual(llama.rope, {
    type: "llama3",
    theta: 500000,
    factor: 8,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalMaxPositions: 64,
  });
});

test("both spellings of RoPE give the same frequencies", () => {
  const { rope_theta: _, ...noTheta } = qwen3;
  const legacy = modelDims(
    parseModelConfig({ ...qwen3, model_type: "llama", rope_theta: 500000, rope_scaling: llama3 }),
  );
  const v5 = modelDims(
    parseModelConfig({ ...noTheta, model_type: "llama", rope_parameters: { ...llama3, rope_theta: 500000 } }),
  );
  assert.deepEqual(v5.rope, legacy.rope);
  assert.deepEqual(ropeInverseFrequencies(v5.rope, 128), ropeInverseFrequencies(legacy.rope, 128));
  // no RoPE field at all: transformers' default θ
  assert.deepEqual(modelDims(parseModelConfig(noTheta)).rope, { type: "default", theta: 10000 });
  // rope_theta beside rope_parameters is accepted when it agrees
  assert.equal(
    modelDims(parseModelConfig({ ...qwen3, rope_parameters: { rope_type: "default", rope_theta: 1000000 } }))
      .rope.theta,
    1000000,
  );
});

test("settings that change the computation and are not implemented are refused with the field named", () => {
  const { rope_theta: _, ...noTheta } = qwen3;
  const refused: [Record<string, unknown>, RegExp][] = [
    [{ ...qwen3, rope_scaling: { type: "yarn", factor: 4 } }, /field "rope_scaling.rope_type".*"yarn"/],
    [
      { ...noTheta, rope_parameters: { rope_type: "yarn", rope_theta: 1e6, factor: 4 } },
      /field "rope_parameters.rope_type"/,
    ],
    [
      { ...noTheta, rope_parameters: { rope_type: "dynamic", rope_theta: 1e6, factor: 2 } },
      /"dynamic" is not supported/,
    ],
    [
      { ...noTheta, rope_parameters: { rope_type: "default", rope_theta: 1e6, mrope_section: [2] } },
      /field "rope_parameters.mrope_section"/,
    ],
    [{ ...noTheta, rope_parameters: { rope_type: "default" } }, /field "rope_parameters.rope_theta"/],
    [
      { ...noTheta, rope_parameters: { ...llama3, rope_theta: 5e5, factor: undefined } },
      /field "rope_parameters.factor"/,
    ],
    [
      { ...qwen3, rope_theta: 10000, rope_parameters: { rope_type: "default", rope_theta: 1e6 } },
      /field "rope_theta".*disagrees/,
    ],
    [
      { ...noTheta, rope_parameters: { rope_type: "default", rope_theta: 1e6 }, rope_scaling: llama3 },
      /field "rope_scaling".*both/,
    ],
    [{ ...qwen3, partial_rotary_factor: 0.5 }, /field "partial_rotary_factor"/],
    [{ ...qwen3, use_sliding_window: true }, /field "use_sliding_window"/],
    [
      { ...qwen3, layer_types: ["full_attention", "sliding_attention"] },
      /field "layer_types".*"sliding_attention"/,
    ],
    [{ ...qwen3, attention_bias: true }, /field "attention_bias".*o_proj/],
    [{ ...qwen3, model_type: "llama", attention_bias: true }, /field "attention_bias"/],
    [{ ...qwen3, model_type: "llama", mlp_bias: true }, /field "mlp_bias"/],
    [{ ...qwen3, hidden_act: "gelu" }, /field "hidden_act"/],
    [{ ...qwen3, head_dim: 127 }, /field "head_dim".*even/],
    [{ ...qwen3, attention_dropout: 0.1 }, /field "attention_dropout"/],
    [{ ...qwen3, quantization_config: { quant_method: "awq" } }, /field "quantization_config"/],
    [{ ...qwen3, model_type: "qwen2", head_dim: undefined, use_mrope: true }, /field "use_mrope"/],
  ];
  for (const [config, message] of refused) {
    assert.throws(
      () => parseModelConfig(config),
      (e: unknown) => e instanceof UserError && message.test(e.message),
      String(message),
    );
  }
  // what transformers itself ignores stays accepted: qwen2's attention_bias (always Q/K/V biases),
  // a sliding_window size with use_sliding_window false, full-attention layer_types
  for (const ok of [
    { ...qwen3, model_type: "qwen2", head_dim: undefined, attention_bias: false },
    { ...qwen3, sliding_window: 4096, use_sliding_window: false, max_window_layers: 28 },
    { ...qwen3, layer_types: ["full_attention"], attention_dropout: 0, rope_scaling: null },
    // DeepSeek-R1-Distill-Qwen's config.json carries these
    { ...qwen3, model_type: "qwen2", head_dim: undefined, use_mrope: false, hidden_act: "swish" },
  ])
    assert.doesNotThrow(() => parseModelConfig(ok));
});
