/**
 * Token generation over the inference decoder: greedy (temperature 0) or sampled (temperature,
 * top-k, top-p, seed), stopping at stop tokens, a token budget, or the context length.
 */
import { BatchDecoder } from "./batchDecoder.ts";
import { Decoder, type KvCache } from "./forward.ts";
import type { Model } from "./model.ts";
import { Rng } from "./rng.ts";
import { sampleToken, type TokenLogprob } from "./sampling.ts";

export { argmax, sampleToken } from "./sampling.ts";

export interface GenerateOptions {
  /** Most new tokens to produce (default 256). */
  maxTokens?: number;
  /** 0 (default) is greedy decoding. */
  temperature?: number;
  /** Nucleus sampling: keep the smallest set of tokens whose probability reaches topP (default 1). */
  topP?: number;
  /** Keep only the k most likely tokens (default 0: all). */
  topK?: number;
  /** Seed of the sampler; the same seed and prompt give the same tokens (default 0). */
  seed?: number;
  /** Generation ends after emitting one of these ids (it is included in `tokens`). */
  stopTokens?: readonly number[];
  /** Called with each new token; return false to stop early. */
  onToken?: (token: number) => boolean | undefined;
}

export interface GenerateResult {
  /** The new tokens (not the prompt), including the stop token when one ended generation. */
  tokens: number[];
  finishReason: "stop" | "length";
  promptTokens: number;
  /** One per token (the stop token too) when the request asked for topLogprobs (batched decoding). */
  logprobs?: TokenLogprob[];
}

/** Generates a continuation of `prompt`. Accepts a Model or a Decoder (reuse one across many prompts). */
export function generate(
  model: Model | Decoder,
  prompt: readonly number[],
  opts: GenerateOptions = {},
): GenerateResult {
  const decoder = model instanceof Decoder ? model : new Decoder(model);
  const maxTokens = opts.maxTokens ?? 256;
  const stop = new Set(opts.stopTokens ?? []);
  const rng = new Rng(opts.seed ?? 0);
  const budget = Math.min(maxTokens, decoder.maxPositions - prompt.length);
  const cache: KvCache = decoder.newCache(
    Math.min(prompt.length + Math.max(budget, 1), decoder.maxPositions),
  );
  const tokens: number[] = [];
  if (budget <= 0) return { tokens, finishReason: "length", promptTokens: prompt.length };
  let logits = decoder.forward(prompt, cache);
  for (;;) {
    const next = sampleToken(logits, opts, rng);
    tokens.push(next);
    if (stop.has(next)) return { tokens, finishReason: "stop", promptTokens: prompt.length };
    if (opts.onToken && opts.onToken(next) === false) break;
    if (tokens.length >= budget) break;
    logits = decoder.forward([next], cache);
  }
  return { tokens, finishReason: "length", promptTokens: prompt.length };
}

export interface BatchGenerateOptions extends Omit<GenerateOptions, "onToken"> {
  /** Sequences decoded together (default 16); finished ones are replaced by waiting prompts. */
  batchSize?: number;
  /** Per-prompt sampler seeds (default: `seed` for every prompt, so results match `generate`). */
  seeds?: readonly number[];
  /** Called when a prompt's generation is complete (results may arrive out of order). */
  onResult?: (index: number, result: GenerateResult) => void;
}

/**
 * Generates continuations of many prompts, decoding up to `batchSize` sequences per forward step (one
 * matrix product over all rows instead of one per sequence). Each result equals what `generate` gives
 * for that prompt and seed: rows never interact, and sampling uses one generator per prompt.
 */
export function generateBatch(
  model: Model | Decoder,
  prompts: readonly (readonly number[])[],
  opts: BatchGenerateOptions = {},
): GenerateResult[] {
  const batch = new BatchDecoder(model instanceof Decoder ? model : new Decoder(model));
  const batchSize = Math.max(1, opts.batchSize ?? 16);
  const stopTokens = new Set(opts.stopTokens ?? []);
  const results: GenerateResult[] = new Array(prompts.length);
  let waiting = 0;
  for (;;) {
    while (batch.size < batchSize && waiting < prompts.length) {
      const index = waiting++;
      const request = {
        temperature: opts.temperature,
        topP: opts.topP,
        topK: opts.topK,
        prompt: prompts[index],
        maxTokens: opts.maxTokens ?? 256,
        seed: opts.seeds?.[index] ?? opts.seed ?? 0,
        stopTokens,
      };
      batch.add(request, (result) => {
        results[index] = result;
        opts.onResult?.(index, result);
      });
    }
    if (batch.size === 0) break;
    batch.step();
  }
  return results;
}
