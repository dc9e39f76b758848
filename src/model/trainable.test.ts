import assert from "node:assert/strict";
import { test } from "node:test";
import { gradcheck } from "../../test/support/gradcheck.ts";
import { tinyConfig } from "../../test/support/tinyConfig.ts";
import { Tape } from "../engine/autograd.ts";
import type { Batch } from "../engine/batch.ts";
import { decoderOptimizer, trainStep } from "../engine/step.ts";
import type { ModelConfig } from "./config.ts";
import { Decoder } from "./forward.ts";
import { randomModel } from "./model.ts";
import { TrainableDecoder } from "./trainable.ts";

const archs = ["qwen2", "qwen3", "llama"] as const;

function tokens(n: number, vocab: number, seed: number): Int32Array {
  const out = new Int32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = s % vocab;
  }
  return out;
}

function batchOf(B: number, T: number, vocab: number, seed: number): Batch {
  const all = tokens(B * (T + 1), vocab, seed);
  const inputs = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    inputs.set(all.subarray(b * (T + 1), b * (T + 1) + T), b * T);
    targets.set(all.subarray(b * (T + 1) + 1, b * (T + 1) + T + 1), b * T);
  }
  return { batch: B, time: T, tokens: inputs, targets };
}

/** Llama 3.1's RoPE scaling with a short original context, so it changes most frequencies of a tiny head. */
const llama3 = {
  rope_type: "llama3",
  factor: 8,
  low_freq_factor: 1,
  high_freq_factor: 4,
  original_max_position_embeddings: 64,
};

/** Max |Δ| between the training and the inference decoder's logits over 40 tokens (positions 0…39). */
function decodersDiffer(config: ModelConfig): { maxDiff: number; logits: Float32Array } {
  const model = randomModel(config, { seed: 3, std: 0.2 });
  const ids = tokens(40, config.vocab_size, 7);
  const train = new TrainableDecoder(model).logits({ batch: 1, time: ids.length, tokens: ids });
  const infer = new Decoder(model).logits([...ids]);
  assert.equal(train.length, infer.length);
  let maxDiff = 0;
  for (let i = 0; i < infer.length; i++) maxDiff = Math.max(maxDiff, Math.abs(infer[i]! - train[i]!));
  return { maxDiff, logits: infer };
}

const decoderCases: [string, ModelConfig][] = [
  ["qwen2", tinyConfig("qwen2", { vocab_size: 97 })],
  ["qwen3", tinyConfig("qwen3", { vocab_size: 97 })],
  ["llama", tinyConfig("llama", { vocab_size: 97 })],
  ["llama, llama3 rope_scaling", tinyConfig("llama", { vocab_size: 97, rope_scaling: llama3 })],
  [
    "llama, llama3 in transformers 5's rope_parameters",
    tinyConfig("llama", {
      vocab_size: 97,
      rope_theta: undefined,
      rope_parameters: { ...llama3, rope_theta: 500000 },
    }),
  ],
  [
    "qwen3, transformers 5's rope_parameters",
    tinyConfig("qwen3", {
      vocab_size: 97,
      rope_theta: undefined,
      rope_parameters: { rope_type: "default", rope_theta: 1000000 },
    }),
  ],
];

for (const [name, config] of decoderCases) {
  test(`${name}: the training decoder gives the inference decoder's logits`, () => {
    const { maxDiff } = decodersDiffer(config);
    assert.ok(maxDiff < 1e-4, `max |Δlogit| ${maxDiff}`);
  });
}

test("llama3 scaling and rope_parameters' theta change the logits (the cases above are not vacuous)", () => {
  const plain = decodersDiffer(tinyConfig("llama", { vocab_size: 97 })).logits;
  const scaled = decodersDiffer(tinyConfig("llama", { vocab_size: 97, rope_scaling: llama3 })).logits;
  const lowTheta = decodersDiffer(
    tinyConfig("llama", {
      vocab_size: 97,
      rope_theta: undefined,
      rope_parameters: { rope_type: "default", rope_theta: 10 },
    }),
  ).logits;
  const gap = (a: Float32Array, b: Float32Array) =>
    a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
  assert.ok(gap(plain, scaled) > 1e-2, `scaling moved logits by ${gap(plain, scaled)}`);
  assert.ok(gap(plain, lowTheta) > 1e-2, `theta moved logits by ${gap(plain, lowTheta)}`);
});

for (const arch of archs) {
  test(`${arch}: finite-difference check of the whole decoder loss`, () => {
    const model = randomModel(tinyConfig(arch, { vocab_size: 31, num_hidden_layers: 1 }), {
      seed: 5,
      std: 0.3,
    });
    const dec = new TrainableDecoder(model);
    const batch = { ...batchOf(2, 5, 31, 9), weights: new Float32Array([1, 1, 0, 1, 1, 0, 0, 1, 1, 1]) };
    const names = [...dec.params.keys()];
    const r = gradcheck(
      (g: Tape) => dec.forwardLoss(g, batch),
      names.map((n) => dec.params.get(n)!),
      { maxPerInput: 6, h: 1e-2 },
    );
    assert.ok(r.worst <= 1, `${r.detail} (worst ${r.worst.toFixed(2)})`);
  });
}

test("packed documents give the same loss as the documents run alone", () => {
  const model = randomModel(tinyConfig("qwen3", { vocab_size: 50 }), { seed: 11 });
  const dec = new TrainableDecoder(model);
  const a = batchOf(1, 7, 50, 1);
  const b = batchOf(1, 5, 50, 2);
  const packed: Batch = {
    batch: 1,
    time: 12,
    tokens: Int32Array.from([...a.tokens, ...b.tokens]),
    targets: Int32Array.from([...a.targets, ...b.targets]),
    segments: Int32Array.from([...new Array(7).fill(0), ...new Array(5).fill(1)]),
  };
  const expected = (dec.loss(a) * 7 + dec.loss(b) * 5) / 12;
  assert.ok(Math.abs(dec.loss(packed) - expected) < 1e-5, `${dec.loss(packed)} vs ${expected}`);
});

test("gradient accumulation over two micro-batches equals one batch of both", () => {
  const config = tinyConfig("qwen2", { vocab_size: 40 });
  const whole = batchOf(4, 6, 40, 3);
  const half = (i: number): Batch => ({
    batch: 2,
    time: 6,
    tokens: whole.tokens.slice(i * 12, i * 12 + 12),
    targets: whole.targets.slice(i * 12, i * 12 + 12),
  });
  const m1 = TrainableDecoder.init(config, 4);
  const m2 = TrainableDecoder.init(config, 4);
  const r1 = trainStep(m1, decoderOptimizer(m1, { lr: 1e-2 }), [whole]);
  const r2 = trainStep(m2, decoderOptimizer(m2, { lr: 1e-2 }), [half(0), half(1)]);
  assert.ok(Math.abs(r1.loss - r2.loss) < 1e-5);
  assert.ok(Math.abs(r1.gradNorm - r2.gradNorm) < 1e-4 * r1.gradNorm);
  const w1 = m1.params.get("model.layers.1.mlp.down_proj.weight")!.data;
  const w2 = m2.params.get("model.layers.1.mlp.down_proj.weight")!.data;
  for (let i = 0; i < w1.length; i += 17) assert.ok(Math.abs(w1[i]! - w2[i]!) < 1e-5);
});

test("a fixed-seed run reproduces its loss curve exactly, and the loss falls", () => {
  const run = (): number[] => {
    const model = TrainableDecoder.init(tinyConfig("qwen3", { vocab_size: 64 }), 42);
    const opt = decoderOptimizer(model, { lr: 3e-3, weightDecay: 0.1 });
    const data = batchOf(2, 16, 64, 5); // one batch repeated: the model memorises it
    const losses: number[] = [];
    for (let s = 0; s < 8; s++) losses.push(trainStep(model, opt, [data]).loss);
    return losses;
  };
  const first = run();
  assert.deepEqual(run(), first);
  assert.ok(first[7]! < first[0]! - 0.1, `loss ${first[0]} → ${first[7]}`);
});

test("positions with weight 0 contribute no gradient", () => {
  const model = TrainableDecoder.init(tinyConfig("llama", { vocab_size: 30 }), 1);
  const b = batchOf(1, 6, 30, 8);
  const weights = new Float32Array([0, 0, 0, 1, 1, 1]);
  const changed = { ...b, targets: b.targets.map((t, i) => (i < 3 ? (t + 1) % 30 : t)), weights };
  const grads = (batch: Batch): Float32Array => {
    for (const p of model.params.values()) p.grad = null;
    model.lossAndGrad(batch);
    return model.params.get("model.embed_tokens.weight")!.grad!.slice();
  };
  // changing masked targets must not change any gradient
  assert.deepEqual(grads({ ...b, weights }), grads(changed));
});

test("a micro-batch with every target masked adds nothing and does not throw", () => {
  const model = TrainableDecoder.init(tinyConfig("qwen2", { vocab_size: 30 }), 1);
  const opt = decoderOptimizer(model, { lr: 1e-2 });
  const live = batchOf(1, 6, 30, 2);
  const dead = { ...batchOf(1, 6, 30, 3), weights: new Float32Array(6) };
  const r = trainStep(model, opt, [live, dead]);
  const ref = TrainableDecoder.init(tinyConfig("qwen2", { vocab_size: 30 }), 1);
  const r2 = trainStep(ref, decoderOptimizer(ref, { lr: 1e-2 }), [live]);
  assert.equal(r.loss, r2.loss);
  assert.equal(r.gradNorm, r2.gradNorm);
});

test("backward frees activations", () => {
  const model = TrainableDecoder.init(tinyConfig("qwen2", { vocab_size: 30 }), 1);
  const g = new Tape();
  const logits = model.forwardLogits(g, batchOf(1, 4, 30, 1));
  g.backward(logits, new Float32Array(logits.size).fill(1));
  assert.equal(logits.data.length, 0);
});
