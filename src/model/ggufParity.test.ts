/**
 * The "Done when" check: a tiny random model of each architecture, exported to GGUF and run by
 * llama.cpp (node-llama-cpp 3.21.1, CPU), gives the same next-token log-probabilities as this project's
 * forward pass on the same 64 tokens, and the same greedy continuation.
 * llama.cpp runs with an F32 KV cache and without flash attention (test/support/llamaCpp.ts).
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { llamaForTests, llamaLogProbs } from "../../test/support/llamaCpp.ts";
import type { ArchName } from "../../test/support/tinyConfig.ts";
import { writeTinyGgufModel } from "../../test/support/tinyGguf.ts";
import { architectures } from "./config.ts";
import { Decoder, logSoftmax } from "./forward.ts";
import { generate } from "./generate.ts";
import { exportGguf } from "./ggufExport.ts";

const root = mkdtempSync(join(tmpdir(), "distill-parity-"));
const llama = llamaForTests(root);

function maxAbsDiff(decoder: Decoder, tokens: number[], theirs: Float64Array[]): number {
  const V = decoder.dims.vocab;
  const logits = decoder.logits(tokens);
  let max = 0;
  tokens.forEach((_, p) => {
    const ours = logSoftmax(logits.subarray(p * V, (p + 1) * V));
    for (let i = 0; i < V; i++) max = Math.max(max, Math.abs(ours[i] - theirs[p][i]));
  });
  return max;
}

for (const arch of ["qwen2", "qwen3", "llama"] as ArchName[]) {
  test(`${arch}: llama.cpp on the exported GGUF matches the TS forward pass`, async (t) => {
    const tiny = writeTinyGgufModel(join(root, arch), { arch, seed: 11 });
    const V = tiny.model.config.vocab_size;
    assert.equal(V, 512);
    const tokens = Array.from({ length: 64 }, (_, i) => (i * 37 + 11) % V);
    const { logProbs, greedy } = await llamaLogProbs(llama(), tiny.ggufPath, tokens, V);
    const decoder = new Decoder(tiny.model);
    const diff = maxAbsDiff(decoder, tokens, logProbs);
    // The plain-TS kernels (used where the native addon is not built) must match as well.
    const jsDiff = maxAbsDiff(new Decoder(tiny.model, { kernels: "js" }), tokens, logProbs);
    assert.ok(jsDiff <= 1e-3, `plain-TS kernels: max abs logprob difference ${jsDiff}`);
    // The distributions are far from uniform, so a small difference is a real agreement.
    const first = logProbs[0];
    assert.ok(Math.max(...first) - Math.min(...first) > 3, "random weights give a peaked distribution");
    t.diagnostic(
      `${arch}: max |Δ logprob| over 64 positions × ${V} tokens = ${diff.toExponential(2)} (plain-TS kernels ${jsDiff.toExponential(2)})`,
    );
    assert.ok(diff <= 1e-3, `max abs logprob difference ${diff}`);

    const stop = [V - 7, V - 5]; // <|endoftext|>, <|im_end|>: llama.cpp ends (without yielding) on these
    const ours = generate(decoder, tokens.slice(0, 16), { maxTokens: 24, stopTokens: stop }).tokens;
    assert.ok(greedy.length >= 8, `llama.cpp generated ${greedy.length} tokens`);
    assert.deepEqual(
      greedy,
      ours.filter((id) => !stop.includes(id)),
    );
  });
}

test("llama with Llama 3 RoPE scaling: the rope_freqs tensor makes llama.cpp match", async (t) => {
  // Short original context so the scaled (long-wavelength) frequencies matter within 64 positions.
  const rope_scaling = {
    rope_type: "llama3",
    factor: 8,
    low_freq_factor: 1,
    high_freq_factor: 4,
    original_max_position_embeddings: 16,
  };
  const tiny = writeTinyGgufModel(join(root, "llama3"), {
    arch: "llama",
    seed: 12,
    config: { rope_scaling },
  });
  const V = tiny.model.config.vocab_size;
  const tokens = Array.from({ length: 64 }, (_, i) => (i * 37 + 11) % V);
  const { logProbs } = await llamaLogProbs(llama(), tiny.ggufPath, tokens, V);
  const diff = maxAbsDiff(new Decoder(tiny.model), tokens, logProbs);
  t.diagnostic(`llama3 rope scaling: max |Δ logprob| = ${diff.toExponential(2)}`);
  assert.ok(diff <= 1e-3, `max abs logprob difference ${diff}`);
  // The scaling is not a no-op: the same weights without it give other distributions.
  const unscaled = new Decoder({ ...tiny.model, config: { ...tiny.model.config, rope_scaling: null } });
  assert.ok(maxAbsDiff(unscaled, tokens, logProbs) > 1e-2);
});

test("llama without the q/k permutation does not match: the permutation is what llama.cpp expects", async () => {
  const tiny = writeTinyGgufModel(join(root, "llama-noperm"), { arch: "llama", seed: 11 });
  const saved = architectures.llama.ggufPermuteQK;
  architectures.llama.ggufPermuteQK = false;
  try {
    exportGguf(tiny.ggufPath, tiny.model, tiny.tokenizer);
  } finally {
    architectures.llama.ggufPermuteQK = saved;
  }
  const V = tiny.model.config.vocab_size;
  const tokens = Array.from({ length: 64 }, (_, i) => (i * 37 + 11) % V);
  const { logProbs } = await llamaLogProbs(llama(), tiny.ggufPath, tokens, V);
  assert.ok(maxAbsDiff(new Decoder(tiny.model), tokens, logProbs) > 1e-2);
});
