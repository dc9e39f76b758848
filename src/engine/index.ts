/** The training engine: tensors and tape, differentiable ops, kernels, AdamW, one optimizer step. */
export { allocBuffer, releaseBuffer, Tape, Tensor as EngineTensor } from "./autograd.ts";
export { type Batch, defaultPositions } from "./batch.ts";
export { getKernels, type Kernels, setKernels } from "./kernels.ts";
export * as engineOps from "./ops.ts";
export { AdamW, type AdamWOptions, type AdamWState, clipGradNorm } from "./optim.ts";
export { decoderOptimizer, type StepResult, type TrainableModel, trainStep } from "./step.ts";
