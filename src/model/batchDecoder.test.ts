import assert from "node:assert/strict";
import { test } from "node:test";
import { tinyConfig } from "../../test/support/tinyConfig.ts";
import { ContinuousBatcher } from "./batchDecoder.ts";
import { Decoder } from "./forward.ts";
import { generate } from "./generate.ts";
import { randomModel } from "./model.ts";

test("continuous batching: a request that arrives mid-way joins the running batch, and results equal generate's", async () => {
  const model = randomModel(tinyConfig("qwen2", { vocab_size: 97 }), { seed: 3, std: 0.3 });
  // plain-TS kernels: every row is the same dot product batched or not, so tokens match exactly
  const decoder = new Decoder(model, { kernels: "js" });
  const batcher = new ContinuousBatcher(decoder, 4);
  const sampling = { temperature: 0.9, topP: 0.95 };
  const long = { ...sampling, prompt: [1, 2, 3], maxTokens: 40, seed: 11 };
  const short = { ...sampling, prompt: [7, 8], maxTokens: 3, seed: 12 };

  const longTokens: number[] = [];
  let joined!: Promise<{ tokens: number[] }>;
  let longSoFarWhenShortEnded = -1;
  const first = batcher.submit({
    ...long,
    onToken: (t) => {
      longTokens.push(t);
      // after a few steps of the long sequence, submit the short one: it must not wait for the long one
      if (longTokens.length === 5)
        joined = batcher.submit(short).then((r) => {
          longSoFarWhenShortEnded = longTokens.length;
          return r;
        });
    },
  });
  const a = await first;
  const b = await joined;
  assert.ok(longSoFarWhenShortEnded > 5 && longSoFarWhenShortEnded < 40, `${longSoFarWhenShortEnded}`);
  assert.deepEqual(a.tokens, longTokens);
  assert.deepEqual(a, generate(decoder, long.prompt, { ...sampling, maxTokens: 40, seed: 11 }));
  assert.deepEqual(b, generate(decoder, short.prompt, { ...sampling, maxTokens: 3, seed: 12 }));
});

test("continuous batching: more requests than rows wait their turn, and a failure reaches every caller", async () => {
  const model = randomModel(tinyConfig("qwen2", { vocab_size: 97 }), { seed: 4, std: 0.3 });
  const decoder = new Decoder(model, { kernels: "js" });
  const batcher = new ContinuousBatcher(decoder, 2);
  const prompts = [[1], [2, 3], [4, 5, 6], [7], [8, 9]];
  const results = await Promise.all(
    prompts.map((prompt, i) => batcher.submit({ prompt, maxTokens: 6, seed: i, stopTokens: new Set([5]) })),
  );
  prompts.forEach((p, i) => {
    assert.deepEqual(results[i], generate(decoder, p, { maxTokens: 6, seed: i, stopTokens: [5] }));
  });
  // a token id outside the vocabulary makes the forward throw: the caller hears of it, the batcher goes on
  await assert.rejects(batcher.submit({ prompt: [1000], maxTokens: 4, seed: 0 }));
  assert.equal((await batcher.submit({ prompt: [1], maxTokens: 2, seed: 0 })).tokens.length, 2);
});
