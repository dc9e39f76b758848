/**
 * The LM head fused with masked cross-entropy (or the distillation loss of distill.ts), chunked over rows so the (rows, vocab) logits never exist
 * whole: with Qwen's 151,936-token vocabulary, 2,048 rows of float32 logits and their gradient would take
 * 2.5 GB. Rows whose weight is 0 (prompt tokens, padding) are dropped before the head's product, so
 * prompt-masked SFT pays for the head only on the answer tokens. Backward recomputes each chunk's logits
 * (one extra head product) instead of keeping them.
 */
import { allocBuffer, releaseBuffer, type Tape, Tensor } from "./autograd.ts";
import { type DistillSettings, distillRows, type TeacherTopK } from "./distill.ts";
import { getKernels } from "./kernels.ts";

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
  normalizer?: number,
  chunk?: number,
): Tensor {
  const K = getKernels();
  return linearLoss(g, h, w, targets, weights, normalizer, chunk, (live, V) => {
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
  normalizer?: number,
  chunk?: number,
): Tensor {
  return linearLoss(g, h, w, targets, weights, normalizer, chunk, (live, V) => {
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
  normalizer: number | undefined,
  chunk: number | undefined,
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
  if (normalizer !== undefined) norm = normalizer;
  if (norm <= 0) norm = 1;
  const n = liveRows.length;
  const live = Int32Array.from(liveRows);
  const loss = chunkLoss(live, V);
  const compact = n < rows;
  const hl = compact ? allocBuffer(n * C, false) : h.data;
  if (compact) for (let i = 0; i < n; i++) hl.set(h.data.subarray(live[i]! * C, live[i]! * C + C), i * C);

  const cs = Math.max(1, Math.min(chunk ?? defaultChunkRows(V), n));
  const logits = allocBuffer(cs * V, false);
  // (r, V) logits of compact rows [r0, r0 + r) into `logits`
  const head = (r0: number, r: number) =>
    K.gemm(r, V, C, hl, r0 * C, C, 1, w.data, 0, 1, C, logits, 0, V, false);
  let total = 0;
  for (let r0 = 0; r0 < n; r0 += cs) {
    const r = Math.min(cs, n - r0);
    head(r0, r);
    total += loss(logits, r0, r, null, 0);
  }
  const out = new Tensor(new Float32Array([total / norm]), []);
  const done = () => {
    releaseBuffer(logits);
    if (compact) releaseBuffer(hl);
  };
  if (!g.needsGrad(h, w) || n === 0) {
    done();
    return out;
  }
  g.record(out, () => {
    const scale = out.grad![0]! / norm;
    const dl = allocBuffer(cs * V, false);
    const dhl = !h.requiresGrad ? null : compact ? allocBuffer(n * C) : h.gradBuffer();
    for (let r0 = 0; r0 < n; r0 += cs) {
      const r = Math.min(cs, n - r0);
      head(r0, r);
      dl.fill(0, 0, r * V);
      loss(logits, r0, r, dl, scale);
      // dh [r, C] += dl [r, V] · W [V, C] ; dW [V, C] += dlᵀ · h
      if (dhl) K.gemm(r, C, V, dl, 0, V, 1, w.data, 0, C, 1, dhl, r0 * C, C, true);
      if (w.requiresGrad) K.gemm(V, C, r, dl, 0, 1, V, hl, r0 * C, C, 1, w.gradBuffer(), 0, C, true);
    }
    if (compact && dhl) {
      const dh = h.gradBuffer();
      for (let i = 0; i < n; i++) {
        const o = live[i]! * C;
        for (let j = 0; j < C; j++) dh[o + j]! += dhl[i * C + j]!;
      }
    }
    if (compact && dhl) releaseBuffer(dhl);
    releaseBuffer(dl);
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
