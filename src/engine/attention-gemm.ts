/**
 * Causal GQA attention written as matrix products on any backend's `gemm`, for backends whose products are
 * fast but whose plain loops are not (the WASM backend). Same algorithm as native/ops.h: per (batch, head)
 * S = Q·Kᵀ in 64-row blocks that stop at the diagonal, masked softmax into a T×T scratch, O = P·V, and only
 * the row log-sum-exp kept; the backward rebuilds P from it, then dP = dO·Vᵀ, dS = P∘(dP − rowsum(P∘dP))·
 * scale, dQ += dS·K, dK += dSᵀ·Q, dV += Pᵀ·dO. Semantics are those of Kernels.attentionForward/Backward.
 */
import type { Kernels } from "./kernels.ts";

const RB = 64;

/**
 * Fills P [T, T] (row stride T) for one (batch, head): S = scale·Q·Kᵀ on and below the diagonal blocks,
 * then P_ij = exp(S_ij − lse_i) where j ≤ i in the same segment, else 0. With `lse` null it computes the
 * row log-sum-exp into `lseOut` first (forward); otherwise it uses the saved one (backward).
 */
function probabilities(
  gemm: Kernels["gemm"],
  q: Float32Array,
  qOff: number,
  qs: number,
  k: Float32Array,
  kOff: number,
  ks: number,
  seg: Int32Array,
  segOff: number,
  T: number,
  D: number,
  scale: number,
  P: Float32Array,
  lse: Float32Array,
  lseOff: number,
  forward: boolean,
): void {
  for (let i0 = 0; i0 < T; i0 += RB) {
    const rows = Math.min(RB, T - i0);
    gemm(rows, i0 + rows, D, q, qOff + i0 * qs, qs, 1, k, kOff, 1, ks, P, i0 * T, T, false);
  }
  for (let i = 0; i < T; i++) {
    const row = i * T;
    const s = seg[segOff + i];
    if (forward) {
      let max = Number.NEGATIVE_INFINITY;
      for (let j = 0; j <= i; j++) if (seg[segOff + j] === s) max = Math.max(max, P[row + j]! * scale);
      let sum = 0;
      for (let j = 0; j <= i; j++) if (seg[segOff + j] === s) sum += Math.exp(P[row + j]! * scale - max);
      lse[lseOff + i] = max + Math.log(sum);
    }
    const l = lse[lseOff + i]!;
    for (let j = 0; j <= i; j++) P[row + j] = seg[segOff + j] === s ? Math.exp(P[row + j]! * scale - l) : 0;
    P.fill(0, row + i + 1, row + T);
  }
}

export function attentionForwardGemm(gemm: Kernels["gemm"]): Kernels["attentionForward"] {
  return (q, k, v, seg, out, lse, batch, time, heads, kvHeads, headDim, scale) => {
    const T = time;
    const qs = heads * headDim;
    const ks = kvHeads * headDim;
    const group = heads / kvHeads;
    const P = new Float32Array(T * T);
    for (let b = 0; b < batch; b++)
      for (let h = 0; h < heads; h++) {
        const qOff = b * T * qs + h * headDim;
        const kOff = b * T * ks + Math.floor(h / group) * headDim;
        probabilities(
          gemm,
          q,
          qOff,
          qs,
          k,
          kOff,
          ks,
          seg,
          b * T,
          T,
          headDim,
          scale,
          P,
          lse,
          (b * heads + h) * T,
          true,
        );
        for (let i0 = 0; i0 < T; i0 += RB) {
          const rows = Math.min(RB, T - i0);
          gemm(rows, headDim, i0 + rows, P, i0 * T, T, 1, v, kOff, ks, 1, out, qOff + i0 * qs, qs, false);
        }
      }
  };
}

export function attentionBackwardGemm(gemm: Kernels["gemm"]): Kernels["attentionBackward"] {
  return (dout, q, k, v, seg, lse, dq, dk, dv, batch, time, heads, kvHeads, headDim, scale) => {
    const T = time;
    const qs = heads * headDim;
    const ks = kvHeads * headDim;
    const group = heads / kvHeads;
    const P = new Float32Array(T * T);
    const dS = new Float32Array(T * T);
    for (let b = 0; b < batch; b++)
      for (let h = 0; h < heads; h++) {
        const qOff = b * T * qs + h * headDim;
        const kOff = b * T * ks + Math.floor(h / group) * headDim;
        probabilities(
          gemm,
          q,
          qOff,
          qs,
          k,
          kOff,
          ks,
          seg,
          b * T,
          T,
          headDim,
          scale,
          P,
          lse,
          (b * heads + h) * T,
          false,
        );
        for (let i0 = 0; i0 < T; i0 += RB) {
          const rows = Math.min(RB, T - i0);
          gemm(rows, i0 + rows, headDim, dout, qOff + i0 * qs, qs, 1, v, kOff, 1, ks, dS, i0 * T, T, false);
        }
        for (let i = 0; i < T; i++) {
          let dot = 0;
          for (let j = 0; j <= i; j++) dot += P[i * T + j]! * dS[i * T + j]!;
          for (let j = 0; j <= i; j++) dS[i * T + j] = P[i * T + j]! * (dS[i * T + j]! - dot) * scale;
          dS.fill(0, i * T + i + 1, i * T + T);
        }
        for (let i0 = 0; i0 < T; i0 += RB) {
          const rows = Math.min(RB, T - i0);
          const n = T - i0;
          gemm(rows, headDim, i0 + rows, dS, i0 * T, T, 1, k, kOff, ks, 1, dq, qOff + i0 * qs, qs, true);
          gemm(
            rows,
            headDim,
            n,
            dS,
            i0 * T + i0,
            1,
            T,
            q,
            qOff + i0 * qs,
            qs,
            1,
            dk,
            kOff + i0 * ks,
            ks,
            true,
          );
          gemm(
            rows,
            headDim,
            n,
            P,
            i0 * T + i0,
            1,
            T,
            dout,
            qOff + i0 * qs,
            qs,
            1,
            dv,
            kOff + i0 * ks,
            ks,
            true,
          );
        }
      }
  };
}
