/**
 * The LM head fused with masked cross-entropy (or the distillation loss of distill.ts), chunked over rows
 * so the (rows, vocab) logits never exist whole: with Qwen's 151,936-token vocabulary, 2,048 rows of
 * float32 logits and their gradient would take 2.5 GB. Rows whose weight is 0 (prompt tokens, padding)
 * are dropped before the head's product, so prompt-masked SFT pays for the head only on the answer tokens.
 *
 * Gradients come one of two ways, bitwise the same:
 * - deferred (the default): backward recomputes each chunk's logits, one extra head product;
 * - `gradInForward` (what a training step uses): each chunk's gradient is taken while its logits are in
 *   hand, the head's weight gradient added into w.grad right away, and backward only passes dh on. Three
 *   head products instead of four — at Qwen2.5-0.5B's shape the head is a third of a step's work. The
 *   contract: this loss is the root backward starts from, with seed 1, or the weight gradient is wrong;
 *   backward checks the seed and refuses any other.
 */
import { allocBuffer, releaseBuffer, type Tape, Tensor } from "./autograd.ts";
import { type DistillSettings, distillRows, type TeacherTopK } from "./distill.ts";
import { getKernels } from "./kernels.ts";

export interface LinearLossOptions {
  /** What the weighted sum is divided by (default: the weights' sum); k micro-batches pass the step's total. */
  normalizer?: number;
  /** Rows a chunk (default: defaultChunkRows). */
  chunk?: number;
  /** Take the gradients in the forward pass (see above); only for a loss that backward starts from. */
  gradInForward?: boolean;
}

/**
 * Σ_r w_r·CE(h_r·Wᵀ, t_r) / normalizer as a scalar; h [rows, C], w [V, C] (HF lm_head layout). Same value
 * and gradients as crossEntropy(linear(h, w)), with memory O(chunk·V).
 */
export function linearCrossEntropy(
  g: Tape,
  h: Tensor,
  w: Tensor,
  targets: Int32Array,
  weights: Float32Array,
  opts: LinearLossOptions = {},
): Tensor {
  const K = getKernels();
  return linearLoss(g, h, w, targets, weights, opts, (live, V) => {
    const tl = Int32Array.from(live, (r) => targets[r]!);
    const wl = Float32Array.from(live, (r) => weights[r]!);
    return (logits, r0, r, dl, scale) =>
      K.crossEntropy(logits, tl.subarray(r0, r0 + r), wl.subarray(r0, r0 + r), r, V, dl, scale);
  });
}

/**
 * Σ_r w_r·(α·CE + (1 − α)·T²·D(teacher ‖ student)) / normalizer (src/engine/distill.ts) with the head fused
 * in as linearCrossEntropy has it: the student learns from the teacher's top-K distribution at each row.
 */
export function linearDistillLoss(
  g: Tape,
  h: Tensor,
  w: Tensor,
  targets: Int32Array,
  weights: Float32Array,
  teacher: TeacherTopK,
  settings: DistillSettings,
  opts: LinearLossOptions = {},
): Tensor {
  return linearLoss(g, h, w, targets, weights, opts, (live, V) => {
    return (logits, r0, r, dl, scale) =>
      distillRows(logits, V, live.subarray(r0, r0 + r), targets, weights, teacher, settings, dl, scale);
  });
}

/**
 * The loss of one chunk: Σ over compact rows [r0, r0 + r) (their logits in `logits`, [r, V]) of w·loss;
 * with `dlogits`, adds scale·w·∂loss/∂logits into it.
 */
type ChunkLoss = (
  logits: Float32Array,
  r0: number,
  r: number,
  dlogits: Float32Array | null,
  scale: number,
) => number;

/**
 * The head product h·Wᵀ fused with a row loss, chunked over the rows that carry weight (`live`, their
 * indices into h); `chunkLoss(live, V)` makes the loss of a chunk of them.
 */
function linearLoss(
  g: Tape,
  h: Tensor,
  w: Tensor,
  targets: Int32Array,
  weights: Float32Array,
  opts: LinearLossOptions,
  chunkLoss: (live: Int32Array, vocab: number) => ChunkLoss,
): Tensor {
  const K = getKernels();
  const C = h.shape[h.shape.length - 1]!;
  const rows = h.size / C;
  const V = w.size / C;
  if (w.shape[w.shape.length - 1] !== C)
    throw new Error(`linearCrossEntropy: head expects ${w.shape.at(-1)} features, h has ${C}`);
  if (targets.length !== rows || weights.length !== rows)
    throw new Error("linearCrossEntropy: one target per row");
  // the rows that carry loss, compacted
  const liveRows: number[] = [];
  let norm = 0;
  for (let r = 0; r < rows; r++) {
    if (weights[r] === 0) continue;
    if (targets[r]! < 0 || targets[r]! >= V)
      throw new Error(`linearCrossEntropy: target ${targets[r]} outside vocabulary of ${V}`);
    liveRows.push(r);
    norm += weights[r]!;
  }
  if (opts.normalizer !== undefined) norm = opts.normalizer;
  if (norm <= 0) norm = 1;
  const n = liveRows.length;
  const live = Int32Array.from(liveRows);
  const loss = chunkLoss(live, V);
  const compact = n < rows;
  const hl = compact ? allocBuffer(n * C, false) : h.data;
  if (compact) for (let i = 0; i < n; i++) hl.set(h.data.subarray(live[i]! * C, live[i]! * C + C), i * C);

  const cs = Math.max(1, Math.min(opts.chunk ?? defaultChunkRows(V), n));
  const logits = allocBuffer(cs * V, false);
  // (r, V) logits of compact rows [r0, r0 + r) into `logits`
  const head = (r0: number, r: number) =>
    K.gemm(r, V, C, hl, r0 * C, C, 1, w.data, 0, 1, C, logits, 0, V, false);
  const needsGrad = g.needsGrad(h, w) && n > 0;
  const eager = needsGrad && opts.gradInForward === true;
  // the compact rows' dh, [n, C] (h's own gradient when no row was dropped)
  let dhl: Float32Array | null = null;
  const gradBuffers = () => {
    if (h.requiresGrad && !dhl) dhl = compact ? allocBuffer(n * C) : h.gradBuffer();
  };
  // a chunk's gradients from its logits: dl, then dh [r, C] += dl · W and dW [V, C] += dlᵀ · h
  const chunkGrads = (dl: Float32Array, r0: number, r: number, scale: number) => {
    dl.fill(0, 0, r * V);
    const value = loss(logits, r0, r, dl, scale);
    if (dhl) K.gemm(r, C, V, dl, 0, V, 1, w.data, 0, C, 1, dhl, r0 * C, C, true);
    if (w.requiresGrad) K.gemm(V, C, r, dl, 0, 1, V, hl, r0 * C, C, 1, w.gradBuffer(), 0, C, true);
    return value;
  };
  const eagerDl = eager ? allocBuffer(cs * V, false) : null;
  if (eager) gradBuffers();
  let total = 0;
  for (let r0 = 0; r0 < n; r0 += cs) {
    const r = Math.min(cs, n - r0);
    head(r0, r);
    total += eagerDl ? chunkGrads(eagerDl, r0, r, 1 / norm) : loss(logits, r0, r, null, 0);
  }
  if (eagerDl) releaseBuffer(eagerDl);
  const out = new Tensor(new Float32Array([total / norm]), []);
  const done = () => {
    releaseBuffer(logits);
    if (compact) releaseBuffer(hl);
  };
  if (!needsGrad) {
    done();
    return out;
  }
  g.record(out, () => {
    if (eager) {
      if (out.grad![0] !== 1)
        throw new Error(
          `linearCrossEntropy: gradInForward took the gradients for seed 1; backward came with ${out.grad![0]}`,
        );
    } else {
      gradBuffers();
      const dl = allocBuffer(cs * V, false);
      for (let r0 = 0; r0 < n; r0 += cs) {
        const r = Math.min(cs, n - r0);
        head(r0, r);
        chunkGrads(dl, r0, r, out.grad![0]! / norm);
      }
      releaseBuffer(dl);
    }
    const dhCompact = dhl as Float32Array | null;
    if (compact && dhCompact) {
      const dh = h.gradBuffer();
      for (let i = 0; i < n; i++) {
        const o = live[i]! * C;
        for (let j = 0; j < C; j++) dh[o + j]! += dhCompact[i * C + j]!;
      }
      releaseBuffer(dhCompact);
    }
    done();
  });
  return out;
}

/**
 * Rows a chunk: 512, or fewer for a large vocabulary so each of the two (chunk, V) buffers stays near
 * 64 MB — with Qwen's 151,936 tokens 512 rows would take 311 MB each, more than a LoRA run's adapters,
 * gradients and moments together.
 */
function defaultChunkRows(vocab: number): number {
  return Math.min(512, Math.max(16, Math.floor(2 ** 24 / vocab)));
}
