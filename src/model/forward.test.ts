import assert from "node:assert/strict";
import { test } from "node:test";
import { type ArchName, tinyConfig } from "../../test/support/tinyConfig.ts";
import { Decoder, logSoftmax } from "./forward.ts";
import { generate, generateBatch, sampleToken } from "./generate.ts";
import { randomModel } from "./model.ts";
import { Rng } from "./rng.ts";
import { tokenLogprobs } from "./sampling.ts";
import { scoreContinuation } from "./score.ts";

const archs: ArchName[] = ["qwen2", "qwen3", "llama"];
const tokens = Array.from({ length: 20 }, (_, i) => (i * 37 + 11) % 97);

for (const arch of archs) {
  test(`${arch}: decoding token by token with the KV cache gives the full-sequence logits`, () => {
    const model = randomModel(tinyConfig(arch, { vocab_size: 97 }), { seed: 7, std: 0.2 });
    const dec = new Decoder(model);
    const full = dec.logits(tokens);
    const cache = dec.newCache(4); // small on purpose: the cache must grow
    // Prefill a prefix in one call, then one token at a time.
    let maxDiff = 0;
    const prefix = 7;
    const first = dec.forward(tokens.slice(0, prefix), cache, { allLogits: true });
    for (let i = 0; i < prefix * 97; i++) maxDiff = Math.max(maxDiff, Math.abs(first[i] - full[i]));
    for (let t = prefix; t < tokens.length; t++) {
      const row = dec.forward([tokens[t]], cache);
      for (let j = 0; j < 97; j++) maxDiff = Math.max(maxDiff, Math.abs(row[j] - full[t * 97 + j]));
    }
    assert.ok(maxDiff < 1e-5, `max diff ${maxDiff}`);
    // Causality: a later token never changes an earlier position's logits.
    const changed = dec.logits([...tokens.slice(0, 10), 5, 6]);
    for (let i = 0; i < 10 * 97; i++) assert.ok(Math.abs(changed[i] - full[i]) < 1e-6);
    // Random weights of this scale give distinct, non-uniform next-token distributions.
    const lp = logSoftmax(full.subarray(0, 97));
    assert.ok(Math.max(...lp) - Math.min(...lp) > 0.5);
  });
}

test("generation: greedy is deterministic, sampling follows the seed, stop tokens end it", () => {
  const model = randomModel(tinyConfig("qwen3", { vocab_size: 97 }), { seed: 1, std: 0.3 });
  const dec = new Decoder(model);
  const greedy = generate(dec, [1, 2, 3], { maxTokens: 12 });
  assert.equal(greedy.tokens.length, 12);
  assert.equal(greedy.finishReason, "length");
  // The greedy token is the argmax of the logits after the prompt.
  const row = dec.logits([1, 2, 3]).subarray(2 * 97, 3 * 97);
  assert.equal(greedy.tokens[0], row.indexOf(Math.max(...row)));
  assert.deepEqual(generate(dec, [1, 2, 3], { maxTokens: 12 }).tokens, greedy.tokens);
  const a = generate(dec, [1, 2, 3], { maxTokens: 30, temperature: 1.5, seed: 4 });
  const b = generate(dec, [1, 2, 3], { maxTokens: 30, temperature: 1.5, seed: 4 });
  const c = generate(dec, [1, 2, 3], { maxTokens: 30, temperature: 1.5, seed: 5 });
  assert.deepEqual(a.tokens, b.tokens);
  assert.notDeepEqual(a.tokens, c.tokens);
  // topP tiny keeps only the most likely token: sampling turns greedy.
  assert.deepEqual(
    generate(dec, [1, 2, 3], { maxTokens: 12, temperature: 1, topP: 1e-9, seed: 9 }).tokens,
    greedy.tokens,
  );
  const stopAt = greedy.tokens[3];
  const stopped = generate(dec, [1, 2, 3], { maxTokens: 12, stopTokens: [stopAt] });
  assert.equal(stopped.finishReason, "stop");
  assert.equal(stopped.tokens.at(-1), stopAt);
  assert.ok(stopped.tokens.length <= 4);
});

test("batched decoding: forwardBatch rows equal separate forwards; generateBatch equals generate", () => {
  const model = randomModel(tinyConfig("qwen2", { vocab_size: 97 }), { seed: 2, std: 0.3 });
  const prompts = [[1, 2, 3], [4], [5, 6, 7, 8, 9, 10, 11], [12, 13], [14, 15, 16, 17, 18], [19]];
  for (const kernels of ["js", "auto"] as const) {
    const dec = new Decoder(model, { kernels });
    // Same logits for one step of 6 sequences at different positions, batched or not.
    const caches = prompts.map((p) => {
      const c = dec.newCache(2);
      dec.forward(p, c);
      return c;
    });
    const batched = dec.forwardBatch([20, 21, 22, 23, 24, 25], caches);
    prompts.forEach((p, b) => {
      const single = dec.forward(
        [20 + b],
        (() => {
          const c = dec.newCache(2);
          dec.forward(p, c);
          return c;
        })(),
      );
      for (let j = 0; j < 97; j++) assert.ok(Math.abs(single[j] - batched[b * 97 + j]) < 1e-4);
    });
  }
  // With the plain-TS kernels every output is the same dot product, so generation matches exactly.
  const dec = new Decoder(model, { kernels: "js" });
  const opts = { maxTokens: 9, stopTokens: [3, 50], temperature: 0.8, topP: 0.9 };
  const seeds = prompts.map((_, i) => 100 + i);
  const batch = generateBatch(dec, prompts, { ...opts, batchSize: 4, seeds });
  prompts.forEach((p, i) => {
    assert.deepEqual(batch[i], generate(dec, p, { ...opts, seed: seeds[i] }));
  });
  const greedy = generateBatch(dec, prompts, { maxTokens: 6, batchSize: 3 });
  prompts.forEach((p, i) => {
    assert.deepEqual(greedy[i].tokens, generate(dec, p, { maxTokens: 6 }).tokens);
  });
});

test("top-k / top-p sampling keeps exactly the nucleus, also when it lies deep in the tail", () => {
  // Probabilities ∝ 10^-i.
  const V = 50;
  const logits = Float32Array.from({ length: V }, (_, i) => -i * Math.log(1e4) * 0.25);
  const seen = (opts: { topP?: number; topK?: number }) => {
    const rng = new Rng(1);
    const ids = new Set<number>();
    for (let i = 0; i < 20000; i++) ids.add(sampleToken(logits, { temperature: 1, ...opts }, rng));
    return ids;
  };
  assert.deepEqual(
    [...seen({ topK: 3 })].sort((a, b) => a - b),
    [0, 1, 2],
  );
  assert.deepEqual([...seen({ topP: 0.5 })], [0]);
  // p0 ≈ 0.9, p1 ≈ 0.09: topP 0.95 keeps {0, 1}, so token 1 appears, token 2 never does.
  const two = seen({ topP: 0.95 });
  assert.ok(two.has(1) && !two.has(2));
  // One likely token and 49 at 5e-4 of it: topP 0.95 keeps the first alone (it holds 0.976); topP 0.99
  // needs the tail, which lies below the first probability threshold the sampler tries.
  const flat = Float32Array.from({ length: V }, (_, i) => (i === 0 ? 0 : Math.log(5e-4)));
  const draws = (topP: number) => {
    const rng = new Rng(2);
    const ids = new Set<number>();
    for (let i = 0; i < 20000; i++) ids.add(sampleToken(flat, { temperature: 1, topP }, rng));
    return ids;
  };
  assert.deepEqual([...draws(0.95)], [0]);
  // 0.976 + 29 × 0.000488 ≥ 0.99: the nucleus is the first token and tail ids 1…29 (ties go by id).
  assert.deepEqual(
    [...draws(0.99)].sort((a, b) => a - b),
    Array.from({ length: 30 }, (_, i) => i),
  );
});

test("scoreContinuation sums the next-token log-probabilities of the continuation", () => {
  const model = randomModel(tinyConfig("qwen3", { vocab_size: 97 }), { seed: 4, std: 0.3 });
  const dec = new Decoder(model);
  const prompt = [5, 6, 7];
  const cont = [8, 9, 10];
  const s = scoreContinuation(dec, prompt, cont);
  const cache = dec.newCache();
  let expected = logSoftmax(dec.forward(prompt, cache))[8];
  expected += logSoftmax(dec.forward([8], cache))[9];
  expected += logSoftmax(dec.forward([9], cache))[10];
  assert.ok(Math.abs(s.total - expected) < 1e-6);
  assert.equal(s.tokenLogProbs.length, 3);
  assert.ok(Math.abs(s.perplexity - Math.exp(-expected / 3)) < 1e-9);
  // The greedy continuation is the most likely one token by token, so it scores at least as well.
  const greedy = generate(dec, prompt, { maxTokens: 3 }).tokens;
  assert.ok(scoreContinuation(dec, prompt, greedy).tokenLogProbs[0] >= s.tokenLogProbs[0]);
});

test("tokenLogprobs: the chosen token's log-probability and the k most likely, ties by id", () => {
  const logits = Float32Array.from([0.5, 2, -1, 2, 7, 0.5, 3, -4]);
  const full = logSoftmax(logits);
  const lp = tokenLogprobs(logits, 2, 4);
  assert.ok(Math.abs(lp.logprob - full[2]) < 1e-6);
  assert.deepEqual(
    lp.top.map((t) => t.id),
    [4, 6, 1, 3],
  );
  for (const t of lp.top) assert.ok(Math.abs(t.logprob - full[t.id]) < 1e-6);
  assert.deepEqual(tokenLogprobs(logits, 4, 0).top, []);
  assert.equal(tokenLogprobs(logits, 0, 20).top.length, logits.length);
});
