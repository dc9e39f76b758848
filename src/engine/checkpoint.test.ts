import assert from "node:assert/strict";
import { test } from "node:test";
import { parseModelConfig } from "../model/config.ts";
import { randomModel } from "../model/model.ts";
import { TrainableDecoder } from "../model/trainable.ts";
import { createAdapters, parseLoraSpec } from "../train/lora.ts";
import type { Batch } from "./batch.ts";

// A Qwen3-layout decoder (q/k norms, GQA) small enough to run in milliseconds.
const config = parseModelConfig({
  model_type: "qwen3",
  vocab_size: 97,
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 3,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 8,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  tie_word_embeddings: true,
  max_position_embeddings: 64,
});

function batch(): Batch {
  const [B, T] = [2, 24];
  const tokens = Int32Array.from({ length: B * T }, (_, i) => (i * 31 + 7) % config.vocab_size);
  const targets = tokens.map((t) => (t * 5 + 3) % config.vocab_size);
  const weights = Float32Array.from({ length: B * T }, (_, i) => (i % T < 6 ? 0 : 1));
  return { batch: B, time: T, tokens, targets, weights };
}

/** Loss and every trainable gradient of one backward with the first `checkpointed` layers recomputed. */
function lossAndGrads(
  checkpointed: number,
  lora?: string,
): { loss: number; grads: Map<string, Float32Array> } {
  const model = randomModel(config, { seed: 3 });
  const adapters = lora ? createAdapters(model, parseLoraSpec(lora), 0) : undefined;
  // B starts at zero (as PEFT's): give it values so gradients flow through the adapters to A and x
  for (const pair of adapters?.pairs.values() ?? [])
    for (let i = 0; i < pair.B.size; i++) pair.B.data[i] = 0.01 * ((i % 7) - 3);
  adapters?.reseed(5);
  const decoder = new TrainableDecoder(model, adapters);
  decoder.checkpointedLayers = checkpointed;
  const loss = decoder.lossAndGrad(batch());
  const grads = new Map<string, Float32Array>();
  for (const [name, p] of decoder.params) if (p.grad) grads.set(name, Float32Array.from(p.grad));
  for (const [module, pair] of adapters?.pairs ?? []) {
    grads.set(`${module}.lora_A`, Float32Array.from(pair.A.grad!));
    grads.set(`${module}.lora_B`, Float32Array.from(pair.B.grad!));
  }
  return { loss, grads };
}

function assertSame(a: ReturnType<typeof lossAndGrads>, b: ReturnType<typeof lossAndGrads>): void {
  assert.equal(a.loss, b.loss);
  assert.deepEqual([...a.grads.keys()], [...b.grads.keys()]);
  assert.ok(a.grads.size > 0);
  for (const [name, g] of a.grads) assert.deepEqual(b.grads.get(name), g, `${name} differs`);
}

test("activation checkpointing: the same loss and bitwise the same gradients as the plain tape", () => {
  const plain = lossAndGrads(0);
  assertSame(plain, lossAndGrads(config.num_hidden_layers));
  assertSame(plain, lossAndGrads(1));
});

test("activation checkpointing with LoRA dropout: the recompute draws the masks the forward drew", () => {
  const spec = "r=4,alpha=8,dropout=0.25";
  const plain = lossAndGrads(0, spec);
  assertSame(plain, lossAndGrads(config.num_hidden_layers, spec));
  assertSame(plain, lossAndGrads(2, spec));
  // the masks matter: without dropout the gradients are others
  const undropped = lossAndGrads(0, "r=4,alpha=8,dropout=0");
  assert.notEqual(undropped.loss, plain.loss);
});
