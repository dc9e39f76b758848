/**
 * Token generation over the inference decoder: greedy (temperature 0) or sampled (temperature,
 * top-k, top-p, seed), stopping at stop tokens, a token budget, or the context length.
 */
import { Decoder, type KvCache } from "./forward.ts";
import type { Model } from "./model.ts";
import { Rng } from "./rng.ts";

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
  const decoder = model instanceof Decoder ? model : new Decoder(model);
  const maxTokens = opts.maxTokens ?? 256;
  const stop = new Set(opts.stopTokens ?? []);
  const batchSize = Math.max(1, opts.batchSize ?? 16);
  const results: GenerateResult[] = new Array(prompts.length);
  interface Slot {
    index: number;
    cache: KvCache;
    rng: Rng;
    budget: number;
    tokens: number[];
    next: number;
  }
  let waiting = 0;
  const finish = (index: number, tokens: number[], reason: "stop" | "length") => {
    results[index] = { tokens, finishReason: reason, promptTokens: prompts[index].length };
    opts.onResult?.(index, results[index]);
  };
  /** Prefills the next waiting prompt; returns null when it finished right away. */
  const start = (): Slot | null => {
    const index = waiting++;
    const prompt = prompts[index];
    const budget = Math.min(maxTokens, decoder.maxPositions - prompt.length);
    if (budget <= 0) {
      finish(index, [], "length");
      return null;
    }
    const cache = decoder.newCache(Math.min(prompt.length + budget, decoder.maxPositions));
    const rng = new Rng(opts.seeds?.[index] ?? opts.seed ?? 0);
    const next = sampleToken(decoder.forward(prompt, cache), opts, rng);
    return { index, cache, rng, budget, tokens: [], next };
  };
  let active: Slot[] = [];
  for (;;) {
    while (active.length < batchSize && waiting < prompts.length) {
      const slot = start();
      if (slot) active.push(slot);
    }
    if (active.length === 0) break;
    // Record each slot's pending token; retire those that stop or run out of budget.
    const going: Slot[] = [];
    for (const s of active) {
      s.tokens.push(s.next);
      if (stop.has(s.next)) finish(s.index, s.tokens, "stop");
      else if (s.tokens.length >= s.budget) finish(s.index, s.tokens, "length");
      else going.push(s);
    }
    active = going;
    if (active.length === 0) continue;
    const logits = decoder.forwardBatch(
      active.map((s) => s.next),
      active.map((s) => s.cache),
    );
    const V = decoder.dims.vocab;
    active.forEach((s, b) => {
      s.next = sampleToken(logits.subarray(b * V, (b + 1) * V), opts, s.rng);
    });
  }
  return results;
}

/** Picks the next token from one row of logits (vocab). Ties in greedy mode go to the lowest id. */
export function sampleToken(
  logits: Float32Array,
  opts: Pick<GenerateOptions, "temperature" | "topP" | "topK">,
  rng: Rng,
): number {
  const temperature = opts.temperature ?? 0;
  if (temperature <= 0) return argmax(logits);
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  const probs = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const p = Math.exp((logits[i] - max) / temperature);
    probs[i] = p;
    sum += p;
  }
  const topP = opts.topP ?? 1;
  const topK = opts.topK ?? 0;
  let candidates: number[];
  if (topP < 1 || (topK > 0 && topK < logits.length)) {
    // Sort ids by probability (descending, ties by id) and cut by k, then by cumulative mass. Only the
    // head of the distribution can be in the nucleus or the top k, so sort the ids above a threshold,
    // lowering it until they hold enough mass and count (exact; avoids sorting 150k ids per token).
    const k = topK > 0 ? Math.min(topK, logits.length) : logits.length;
    const V = logits.length;
    // Unnormalized probabilities: the most likely token has exactly 1.
    let threshold = 1e-3;
    let order: number[];
    for (;;) {
      order = [];
      let headMass = 0;
      for (let i = 0; i < V; i++) {
        if (probs[i] >= threshold) {
          order.push(i);
          headMass += probs[i];
        }
      }
      // The kept ids are a prefix of the global order: enough once they reach topP or number k.
      if (threshold === 0 || headMass / sum >= topP || order.length >= k) break;
      threshold = threshold < 1e-30 ? 0 : threshold * 1e-4;
    }
    order.sort((a, b) => probs[b] - probs[a] || a - b);
    candidates = [];
    let mass = 0;
    for (let i = 0; i < Math.min(k, order.length); i++) {
      candidates.push(order[i]);
      mass += probs[order[i]] / sum;
      if (mass >= topP) break;
    }
  } else {
    candidates = Array.from({ length: logits.length }, (_, i) => i);
  }
  let total = 0;
  for (const id of candidates) total += probs[id];
  let r = rng.next() * total;
  for (const id of candidates) {
    r -= probs[id];
    if (r <= 0) return id;
  }
  return candidates[candidates.length - 1];
}

export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}
