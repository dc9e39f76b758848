/**
 * One optimizer step over one or more micro-batches (gradient accumulation): zero grads, forward and
 * backward each micro-batch with the loss normalised by the whole step's target weight (so k micro-
 * batches equal one big batch), clip the global norm, AdamW.
 */
import type { Tensor } from "./autograd.ts";
import type { Batch } from "./batch.ts";
import { AdamW, type AdamWOptions, clipGradNorm } from "./optim.ts";

/** What a step needs of a model (src/model/trainable.ts's TrainableDecoder is one). */
export interface TrainableModel {
  /** Trainable tensors by name; gradients accumulate in them. */
  readonly params: Map<string, Tensor>;
  /** Forward + backward of one micro-batch, loss normalised by `normalizer` target weight; returns the loss. */
  lossAndGrad(batch: Batch, normalizer?: number): number;
}

export interface StepResult {
  /** Mean masked cross-entropy over the step's weighted targets (before the update). */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Σ of target weights (tokens that carried loss). */
  targets: number;
}

/** AdamW for a decoder; norms and biases decay too unless `decay` says otherwise (torch's default). */
export function decoderOptimizer(model: TrainableModel, opts: AdamWOptions): AdamW {
  return new AdamW(model.params, opts);
}

export function trainStep(
  model: TrainableModel,
  opt: AdamW,
  microBatches: Batch[],
  maxGradNorm = 1,
): StepResult {
  let total = 0;
  for (const b of microBatches) {
    if (b.weights) for (const w of b.weights) total += w;
    else total += b.tokens.length;
  }
  opt.zeroGrad();
  let loss = 0;
  for (const b of microBatches) loss += model.lossAndGrad(b, total);
  const gradNorm = clipGradNorm(model.params.values(), maxGradNorm);
  opt.step();
  return { loss, gradNorm, targets: total };
}
