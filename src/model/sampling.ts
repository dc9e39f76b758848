/** Choosing the next token from a row of logits: greedy, or sampled with temperature, top-k and top-p. */
import { logSumExp } from "./forward.ts";
import type { GenerateOptions } from "./generate.ts";
import type { Rng } from "./rng.ts";

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

/** A chosen token's log-probability under the model (temperature 1) and the `top` most likely tokens. */
export interface TokenLogprob {
  id: number;
  logprob: number;
  /** Most likely first; ties by id. */
  top: { id: number; logprob: number }[];
}

/**
 * Log-probabilities of one row of logits, as OpenAI's `logprobs` report them: the raw model distribution
 * (before temperature and top-p), for the chosen token and the k most likely (k ≤ 20 in the API).
 */
export function tokenLogprobs(logits: Float32Array, id: number, k: number): TokenLogprob {
  const lse = logSumExp(logits);
  // insertion into a short list kept sorted, most likely first: O(V·k) at worst, no sort of the vocabulary
  const best: number[] = [];
  for (let i = 0; i < logits.length && k > 0; i++) {
    if (best.length === k) {
      if (logits[i] <= logits[best[k - 1]]) continue;
      best.pop();
    }
    let at = best.length;
    while (at > 0 && logits[best[at - 1]] < logits[i]) at--;
    best.splice(at, 0, i);
  }
  return {
    id,
    logprob: logits[id] - lse,
    top: best.map((t) => ({ id: t, logprob: logits[t] - lse })),
  };
}

export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}
