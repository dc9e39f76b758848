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

test("activations a token: 2.5 MB for Qwen2.5-0.5B (measured: 2.2 GB over the fixed bytes at 1,024 tokens), 26× less checkpointed", () => {
  const plain = activationFloatsPerToken(qwen, false);
  assert.equal(plain, 24 * (8 * 896 + 3 * 896 + 4 * 128 + 3 * 4864 + 896 + 2 * 128));
  assert.ok(Math.abs((4 * plain) / 1e6 - 2.5) < 0.05);
  const checkpointed = activationFloatsPerToken(qwen, true);
  assert.equal(checkpointed, 24 * 896 + plain / 24);
});

test("micro-batches that fit: a 0.5B student on 24 GiB takes 3,072-token passes, LoRA and checkpointing more", () => {
  const fit = (trainable: number, checkpointed: boolean, memory = 24 * GiB) =>
    fittingMicroBatchTokens(qwen, { parameters, trainable, checkpointed, context: 512 }, memory);
  assert.equal(fit(parameters, false), 3072);
  assert.ok(fit(8_798_208, false) > 3072, "LoRA: no gradients or moments for the base");
  assert.ok(fit(parameters, true) > 40_000, "checkpointed: a layer's input a token");
  // too little memory for even one row: one row all the same (the run then says what it needs)
  assert.equal(fit(parameters, false, 8 * GiB), 512);
});
