import assert from "node:assert/strict";
import { test } from "node:test";
import { modelDims, parseModelConfig } from "../model/config.ts";
import { activationFloatsPerToken, fittingMicroBatchTokens } from "./memory.ts";

// Qwen2.5-0.5B's published shape
const qwen = modelDims(
  parseModelConfig({
    model_type: "qwen2",
    vocab_size: 151936,
    hidden_size: 896,
    intermediate_size: 4864,
    num_hidden_layers: 24,
    num_attention_heads: 14,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-6,
    rope_theta: 1e6,
    tie_word_embeddings: true,
    max_position_embeddings: 32768,
  }),
);
const parameters = 494_032_768;
const GiB = 2 ** 30;

test("activations a token: 2 MB for Qwen2.5-0.5B, a layer's input where checkpointed", () => {
  const layer = 4 * 896 + 2 * 896 + 3 * 128 + 3 * 4864;
  const plain = activationFloatsPerToken(qwen);
  assert.equal(plain, 24 * layer);
  assert.ok(Math.abs((4 * plain) / 1e6 - 1.95) < 0.01);
  assert.equal(activationFloatsPerToken(qwen, 24), 24 * 896 + layer);
  // the first 10 recomputed: 14 layers kept, 10 inputs, one layer rebuilt at a time
  assert.equal(activationFloatsPerToken(qwen, 10), 14 * layer + 10 * 896 + layer);
});

test("micro-batches that fit: a 0.5B student on 24 GiB takes 4,096-token passes, LoRA and checkpointing more", () => {
  const fit = (trainable: number, checkpointedLayers: number, memory = 24 * GiB) =>
    fittingMicroBatchTokens(qwen, { parameters, trainable, checkpointedLayers, context: 512 }, memory);
  assert.equal(fit(parameters, 0), 4096);
  assert.ok(fit(8_798_208, 0) > 4096, "LoRA: no gradients or moments for the base");
  assert.ok(fit(parameters, 24) > 40_000, "checkpointed: a layer's input a token");
  assert.ok(fit(parameters, 12) > 4096 && fit(parameters, 12) < fit(parameters, 24));
  // too little memory for even one row: one row all the same (the run then says what it needs)
  assert.equal(fit(parameters, 0, 8 * GiB), 512);
});
