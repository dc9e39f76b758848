/**
 * Activation checkpointing (Chen et al. 2016, torch.utils.checkpoint): a segment of the network —
 * here one decoder layer — runs its forward on a sub-tape whose activations are returned to the pool
 * right away, so the outer tape keeps only the segment's input and output. Backward recomputes the
 * segment's forward on a fresh tape from the saved input and backpropagates through it. The recompute
 * runs the same kernels on the same data in the same order, so gradients are bitwise those of the
 * plain tape; the price is one more forward of the segment (about a third more work a step).
 *
 * Memory for L layers of (rows, C) inputs: L · rows · C floats plus one layer's activations, instead
 * of every layer's activations (for Qwen2.5-0.5B about 23,000 floats a token a layer).
 */
import { releaseBuffer, Tape, Tensor } from "./autograd.ts";
import { getKernels } from "./kernels.ts";

/**
 * `segment(g, x)` on tape g with only x and the result kept. `segment` must be deterministic given x and
 * the parameters (it runs twice); parameters it uses get their gradients added as on the plain tape.
 */
export function checkpointed(g: Tape, x: Tensor, segment: (g: Tape, x: Tensor) => Tensor): Tensor {
  if (!g.recording) return segment(g, x);
  const sub = new Tape();
  const y = segment(sub, x);
  sub.discard(y);
  if (!y.requiresGrad) return y;
  g.record(y, () => {
    // x stands in as a leaf, so the recompute's tape stops at it and leaves its gradient in xr.grad
    const xr = new Tensor(x.data, x.shape, x.requiresGrad);
    const again = new Tape();
    const yr = segment(again, xr);
    again.backward(yr, y.grad!);
    if (!xr.grad) return;
    if (!x.grad) x.grad = xr.grad;
    else {
      getKernels().accumulate(x.grad, xr.grad, xr.grad.length);
      releaseBuffer(xr.grad);
    }
  });
  return y;
}
