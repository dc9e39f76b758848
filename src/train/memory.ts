/**
 * What a training step holds in memory, from the model's shape, so that an unset --micro-batch-tokens
 * fits the step to the machine instead of running it out of memory: a 0.5B Qwen student keeps about
 * 2 MB of activations a token, so the default 8,192-token step alone would need 16 GB on top of the
 * 8 GB its weights, gradients and AdamW moments take.
 */
import { totalmem } from "node:os";
import type { ModelDims } from "../model/config.ts";

/**
 * Float32 values the training decoder keeps a token for backward, all layers together: per layer what
 * some op's backward reads — the residual stream before and after attention and their norms (4·C), the
 * RoPE'd q and k and v (q + 2·KVH·D), the attention output (q), gate, up and their SwiGLU (3·F), and the
 * q/k-norm inputs where the architecture has them; projection and bias outputs that only RoPE or an add
 * read are freed as soon as read (trainable.ts). A checkpointed layer keeps only its input, and one
 * layer's worth is rebuilt at a time.
 */
export function activationFloatsPerToken(d: ModelDims, checkpointedLayers = 0): number {
  const q = d.heads * d.headDim;
  const kv = d.kvHeads * d.headDim;
  let layer = 4 * d.hidden + 2 * q + 3 * kv + 3 * d.ffn;
  if (d.arch.qkNorm) layer += q + kv;
  const n = Math.min(checkpointedLayers, d.layers);
  return (d.layers - n) * layer + n * d.hidden + (n > 0 ? layer : 0);
}

/**
 * Bytes that do not grow with the batch: every weight, and a trained one's gradient and two AdamW
 * moments (4 bytes each, or 2 with --optimizer-state bfloat16).
 */
export function fixedBytes(parameters: number, trainable: number, momentBytes = 4): number {
  return 4 * parameters + (4 + 2 * momentBytes) * trainable;
}

/**
 * Tokens a forward/backward pass may take so its activations use at most half of the memory the
 * machine has beyond the fixed bytes and a 1 GB margin (the other half covers the LM head's chunks,
 * the buffer pool and the allocator's slack). At least one row of `context`.
 */
export function fittingMicroBatchTokens(
  d: ModelDims,
  o: {
    parameters: number;
    trainable: number;
    momentBytes?: number;
    checkpointedLayers: number;
    context: number;
  },
  memoryBytes = totalmem(),
): number {
  const free = memoryBytes - fixedBytes(o.parameters, o.trainable, o.momentBytes) - 2 ** 30;
  const perToken = 4 * activationFloatsPerToken(d, o.checkpointedLayers);
  const rows = Math.floor(Math.max(0, free / 2) / perToken / o.context);
  return Math.max(1, rows) * o.context;
}
