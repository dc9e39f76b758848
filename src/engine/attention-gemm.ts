/**
 * Causal GQA attention written as matrix products on any backend's `gemm`, for backends whose products are
 * fast but whose plain loops are not (the WASM backend). Same algorithm as native/ops.h: per (batch, head)
 * S = Q·Kᵀ in 64-row blocks that stop at the diagonal, masked softmax in place, O = P·V; the backward runs
 * dP = dO·Vᵀ, dS = P∘(dP − rowsum(P∘dP))·scale, dQ += dS·K, dK += dSᵀ·Q, dV += Pᵀ·dO. Semantics are those
 * of Kernels.attentionForward / attentionBackward.
 */
import type { Kernels } from "./kernels.ts";

const RB = 64;

export function attentionForwardGemm(gemm: Kernels["gemm"]): Kernels["attentionForward"] {
  return (q, k, v, seg, out, probs, batch, time, heads, kvHeads, headDim, scale) => {
    const T = time;
    const qs = heads * headDim;
    const ks = kvHeads * headDim;
    const group = heads / kvHeads;
    for (let b = 0; b < batch; b++)
      for (let h = 0; h < heads; h++) {
        const qOff = b * T * qs + h * headDim;
        const kOff = b * T * ks + Math.floor(h / group) * headDim;
        const pOff = (b * heads + h) * T * T;
        for (let i0 = 0; i0 < T; i0 += RB) {
          const rows = Math.min(RB, T - i0);
          gemm(
            rows,
            i0 + rows,
            headDim,
            q,
            qOff + i0 * qs,
            qs,
            1,
            k,
            kOff,
            1,
            ks,
            probs,
            pOff + i0 * T,
            T,
            false,
          );
        }
        for (let i = 0; i < T; i++) {
          const row = pOff + i * T;
          const s = seg[b * T + i];
          let max = Number.NEGATIVE_INFINITY;
          for (let j = 0; j <= i; j++) if (seg[b * T + j] === s) max = Math.max(max, probs[row + j]! * scale);
          let sum = 0;
          for (let j = 0; j <= i; j++) {
            const e = seg[b * T + j] === s ? Math.exp(probs[row + j]! * scale - max) : 0;
            probs[row + j] = e;
            sum += e;
          }
          for (let j = 0; j <= i; j++) probs[row + j]! /= sum;
          probs.fill(0, row + i + 1, row + T);
        }
        for (let i0 = 0; i0 < T; i0 += RB) {
          const rows = Math.min(RB, T - i0);
          gemm(
            rows,
            headDim,
            i0 + rows,
            probs,
            pOff + i0 * T,
            T,
            1,
            v,
            kOff,
            ks,
            1,
            out,
            qOff + i0 * qs,
            qs,
            false,
          );
        }
      }
  };
}

export function attentionBackwardGemm(gemm: Kernels["gemm"]): Kernels["attentionBackward"] {
  return (dout, q, k, v, probs, dq, dk, dv, batch, time, heads, kvHeads, headDim, scale) => {
    const T = time;
    const qs = heads * headDim;
    const ks = kvHeads * headDim;
    const group = heads / kvHeads;
    const dS = new Float32Array(T * T);
    for (let b = 0; b < batch; b++)
      for (let h = 0; h < heads; h++) {
        const qOff = b * T * qs + h * headDim;
        const kOff = b * T * ks + Math.floor(h / group) * headDim;
        const pOff = (b * heads + h) * T * T;
        for (let i0 = 0; i0 < T; i0 += RB) {
          const rows = Math.min(RB, T - i0);
          gemm(rows, i0 + rows, headDim, dout, qOff + i0 * qs, qs, 1, v, kOff, 1, ks, dS, i0 * T, T, false);
        }
        for (let i = 0; i < T; i++) {
          let dot = 0;
          for (let j = 0; j <= i; j++) dot += probs[pOff + i * T + j]! * dS[i * T + j]!;
          for (let j = 0; j <= i; j++)
            dS[i * T + j] = probs[pOff + i * T + j]! * (dS[i * T + j]! - dot) * scale;
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
            probs,
            pOff + i0 * T + i0,
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
