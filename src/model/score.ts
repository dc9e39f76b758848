/**
 * Likelihood of a given continuation under the model — held-out loss / perplexity of a student on
 * reference answers, or ranking candidate answers — from one forward pass over prompt + continuation.
 */
import { Decoder, logSoftmax } from "./forward.ts";
import type { Model } from "./model.ts";

export interface ContinuationScore {
  /** log p(continuation[i] | prompt, continuation[<i]) for each continuation token. */
  tokenLogProbs: number[];
  /** Sum of tokenLogProbs. */
  total: number;
  /** exp(−mean log-probability). */
  perplexity: number;
}

export function scoreContinuation(
  model: Model | Decoder,
  prompt: readonly number[],
  continuation: readonly number[],
): ContinuationScore {
  if (prompt.length === 0)
    throw new Error("scoreContinuation needs a non-empty prompt (e.g. a BOS or chat header)");
  if (continuation.length === 0) return { tokenLogProbs: [], total: 0, perplexity: 1 };
  const decoder = model instanceof Decoder ? model : new Decoder(model);
  const V = decoder.dims.vocab;
  // Logits at position p predict token p + 1; the last continuation token predicts nothing, so drop it.
  const tokens = [...prompt, ...continuation.slice(0, -1)];
  const logits = decoder.logits(tokens);
  const tokenLogProbs = continuation.map((id, i) => {
    const row = prompt.length - 1 + i;
    return logSoftmax(logits.subarray(row * V, (row + 1) * V))[id];
  });
  const total = tokenLogProbs.reduce((a, b) => a + b, 0);
  return { tokenLogProbs, total, perplexity: Math.exp(-total / continuation.length) };
}
