/**
 * What a training step holds in memory, from the model's shape, so that an unset --micro-batch-tokens
 * fits the step to the machine instead of running it out of memory: a 0.5B Qwen student keeps about
 * 2.5 MB of activations a token, so the default 8,192-token step alone would need 20 GB on top of the
 * 8 GB its weights, gradients and AdamW moments take.
 */
import { totalmem } from "node:os";
import type { ModelDims } from "../model/config.ts";

/**
 * Float32 values the training decoder keeps a token for backward, all layers together (the tape
 * keeps every op's output): per layer the residual stream and norms (8·C), q, attention output and
 * RoPE'd q (3·H·D), k and v before and after RoPE (4·KVH·D), gate, up and their SwiGLU (3·F), plus
 * bias and q/k-norm outputs where the architecture has them. With activation checkpointing only each
 * layer's input stays, and one layer's worth is rebuilt at a time.
 */
export function activationFloatsPerToken(d: ModelDims, checkpointed: boolean): number {
  const q = d.heads * d.headDim;
  const kv = d.kvHeads * d.headDim;
  let layer = 8 * d.hidden + 3 * q + 4 * kv + 3 * d.ffn;
  if (d.qkvBias) layer += q + 2 * kv;
  if (d.arch.qkNorm) layer += q + kv;
  return checkpointed ? d.layers * d.hidden + layer : d.layers * layer;
}

/** Bytes that do not grow with the batch: every weight, and a gradient and two AdamW moments a trained one. */
export function fixedBytes(parameters: number, trainable: number): number {
  return 4 * parameters + 12 * trainable;
}

/**
 * Tokens a forward/backward pass may take so its activations use at most half of the memory the
 * machine has beyond the fixed bytes and a 1 GB margin (the other half covers the LM head's chunks,
 * the buffer pool and the allocator's slack). At least one row of `context`.
 */
export function fittingMicroBatchTokens(
  d: ModelDims,
  o: { parameters: number; trainable: number; checkpointed: boolean; context: number },
  memoryBytes = totalmem(),
): number {
  const free = memoryBytes - fixedBytes(o.parameters, o.trainable) - 2 ** 30;
  const perToken = 4 * activationFloatsPerToken(d, o.checkpointed);
  const rows = Math.floor(Math.max(0, free / 2) / perToken / o.context);
  return Math.max(1, rows) * o.context;
}
