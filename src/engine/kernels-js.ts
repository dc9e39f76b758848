/**
 * Plain TypeScript kernels: the reference implementation of `Kernels` and the fallback when the native
 * addon is missing. Single-threaded and written for clarity first; the loops are ordered so the inner
 * one walks contiguous memory.
 */
import type { Kernels } from "./kernels.ts";

export const jsKernels: Kernels = {
  name: "js",

  gemm(m, n, k, a, aOff, ars, acs, b, bOff, brs, bcs, c, cOff, crs, accumulate) {
    for (let i = 0; i < m; i++) {
      const cRow = cOff + i * crs;
      if (!accumulate) c.fill(0, cRow, cRow + n);
      for (let p = 0; p < k; p++) {
        const aip = a[aOff + i * ars + p * acs]!;
        if (aip === 0) continue;
        const bRow = bOff + p * brs;
        if (bcs === 1) for (let j = 0; j < n; j++) c[cRow + j]! += aip * b[bRow + j]!;
        else for (let j = 0; j < n; j++) c[cRow + j]! += aip * b[bRow + j * bcs]!;
      }
    }
  },

  decodeAttention(q, qOff, keys, values, len, out, outOff, heads, kvHeads, headDim, scale) {
    const D = headDim;
    const group = heads / kvHeads;
    const kvW = kvHeads * D;
    const scores = new Float64Array(len);
    const acc = new Float64Array(D);
    for (let h = 0; h < heads; h++) {
      const qo = qOff + h * D;
      const ko = Math.floor(h / group) * D;
      let max = Number.NEGATIVE_INFINITY;
      for (let p = 0; p < len; p++) {
        const kp = p * kvW + ko;
        let s = 0;
        for (let i = 0; i < D; i++) s += q[qo + i]! * keys[kp + i]!;
        scores[p] = s * scale;
        if (scores[p]! > max) max = scores[p]!;
      }
      let sum = 0;
      for (let p = 0; p < len; p++) {
        scores[p] = Math.exp(scores[p]! - max);
        sum += scores[p]!;
      }
      acc.fill(0);
      for (let p = 0; p < len; p++) {
        const wgt = scores[p]! / sum;
        const vp = p * kvW + ko;
        for (let i = 0; i < D; i++) acc[i]! += wgt * values[vp + i]!;
      }
      for (let i = 0; i < D; i++) out[outOff + h * D + i] = acc[i]!;
    }
  },

  attentionForward(q, k, v, seg, out, lse, batch, time, heads, kvHeads, headDim, scale) {
    const group = heads / kvHeads;
    const qs = heads * headDim;
    const ks = kvHeads * headDim;
    const p = new Float64Array(time);
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < heads; h++) {
        const kvh = Math.floor(h / group);
        for (let i = 0; i < time; i++) {
          const row = b * time + i;
          const qo = row * qs + h * headDim;
          let max = Number.NEGATIVE_INFINITY;
          for (let j = 0; j <= i; j++) {
            p[j] = Number.NEGATIVE_INFINITY;
            if (seg[b * time + j] !== seg[row]) continue;
            const ko = (b * time + j) * ks + kvh * headDim;
            let s = 0;
            for (let d = 0; d < headDim; d++) s += q[qo + d]! * k[ko + d]!;
            p[j] = s * scale;
            if (p[j]! > max) max = p[j]!;
          }
          let sum = 0;
          for (let j = 0; j <= i; j++) sum += Math.exp(p[j]! - max);
          const l = max + Math.log(sum);
          lse[(b * heads + h) * time + i] = l;
          out.fill(0, qo, qo + headDim);
          for (let j = 0; j <= i; j++) {
            const pj = Math.exp(p[j]! - l);
            if (pj === 0) continue;
            const vo = (b * time + j) * ks + kvh * headDim;
            for (let d = 0; d < headDim; d++) out[qo + d]! += pj * v[vo + d]!;
          }
        }
      }
    }
  },

  attentionBackward(dout, q, k, v, seg, lse, dq, dk, dv, batch, time, heads, kvHeads, headDim, scale) {
    const group = heads / kvHeads;
    const qs = heads * headDim;
    const ks = kvHeads * headDim;
    const p = new Float64Array(time);
    const dp = new Float64Array(time);
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < heads; h++) {
        const kvh = Math.floor(h / group);
        for (let i = 0; i < time; i++) {
          const row = b * time + i;
          const qo = row * qs + h * headDim;
          const l = lse[(b * heads + h) * time + i]!;
          // P_ij rebuilt from lse; dP_ij = dout_i · v_j, and dv_j += P_ij dout_i
          let dot = 0;
          for (let j = 0; j <= i; j++) {
            p[j] = 0;
            dp[j] = 0;
            if (seg[b * time + j] !== seg[row]) continue;
            const ko = (b * time + j) * ks + kvh * headDim;
            const vo = ko;
            let s = 0;
            for (let d = 0; d < headDim; d++) s += q[qo + d]! * k[ko + d]!;
            const pj = Math.exp(s * scale - l);
            let g = 0;
            for (let d = 0; d < headDim; d++) {
              g += dout[qo + d]! * v[vo + d]!;
              dv[vo + d]! += pj * dout[qo + d]!;
            }
            p[j] = pj;
            dp[j] = g;
            dot += pj * g;
          }
          // softmax backward: dS_ij = P_ij (dP_ij − Σ_j P_ij dP_ij), then through the scaled q·k
          for (let j = 0; j <= i; j++) {
            const ds = p[j]! * (dp[j]! - dot) * scale;
            if (ds === 0) continue;
            const ko = (b * time + j) * ks + kvh * headDim;
            for (let d = 0; d < headDim; d++) {
              dq[qo + d]! += ds * k[ko + d]!;
              dk[ko + d]! += ds * q[qo + d]!;
            }
          }
        }
      }
    }
  },

  rmsnormForward(x, w, out, rstd, rows, dim, eps) {
    for (let r = 0; r < rows; r++) {
      const o = r * dim;
      let ss = 0;
      for (let i = 0; i < dim; i++) ss += x[o + i]! * x[o + i]!;
      const rs = 1 / Math.sqrt(ss / dim + eps);
      rstd[r] = rs;
      for (let i = 0; i < dim; i++) out[o + i] = x[o + i]! * rs * w[i]!;
    }
  },

  rmsnormBackward(dy, x, w, rstd, dx, dw, rows, dim) {
    for (let r = 0; r < rows; r++) {
      const o = r * dim;
      const rs = rstd[r]!;
      let dot = 0; // Σ dy·w·x
      for (let i = 0; i < dim; i++) dot += dy[o + i]! * w[i]! * x[o + i]!;
      const c = (rs * rs * rs * dot) / dim;
      for (let i = 0; i < dim; i++) {
        dx[o + i]! += rs * dy[o + i]! * w[i]! - c * x[o + i]!;
        dw[i]! += dy[o + i]! * x[o + i]! * rs;
      }
    }
  },

  rope(x, out, cos, sin, pos, rows, heads, headDim, sign, accumulate) {
    const half = headDim / 2;
    for (let r = 0; r < rows; r++) {
      const t = pos[r]! * half;
      for (let h = 0; h < heads; h++) {
        const o = (r * heads + h) * headDim;
        for (let i = 0; i < half; i++) {
          const c = cos[t + i]!;
          const s = sign * sin[t + i]!;
          const x1 = x[o + i]!;
          const x2 = x[o + i + half]!;
          const y1 = x1 * c - x2 * s;
          const y2 = x2 * c + x1 * s;
          if (accumulate) {
            out[o + i]! += y1;
            out[o + i + half]! += y2;
          } else {
            out[o + i] = y1;
            out[o + i + half] = y2;
          }
        }
      }
    }
  },

  swigluForward(gate, up, out, n) {
    for (let i = 0; i < n; i++) {
      const g = gate[i]!;
      out[i] = (g / (1 + Math.exp(-g))) * up[i]!;
    }
  },

  swigluBackward(dout, gate, up, dgate, dup, n) {
    for (let i = 0; i < n; i++) {
      const g = gate[i]!;
      const sig = 1 / (1 + Math.exp(-g));
      const silu = g * sig;
      dgate[i]! += dout[i]! * up[i]! * sig * (1 + g * (1 - sig));
      dup[i]! += dout[i]! * silu;
    }
  },

  crossEntropy(logits, targets, weights, rows, vocab, dlogits, gradScale) {
    let total = 0;
    for (let r = 0; r < rows; r++) {
      const w = weights[r]!;
      if (w === 0) continue;
      const o = r * vocab;
      let max = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < vocab; j++) if (logits[o + j]! > max) max = logits[o + j]!;
      let sum = 0;
      for (let j = 0; j < vocab; j++) sum += Math.exp(logits[o + j]! - max);
      const lse = max + Math.log(sum);
      const t = targets[r]!;
      total += w * (lse - logits[o + t]!);
      if (dlogits) {
        const c = gradScale * w;
        for (let j = 0; j < vocab; j++) dlogits[o + j]! += c * Math.exp(logits[o + j]! - lse);
        dlogits[o + t]! -= c;
      }
    }
    return total;
  },

  adamw(p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, step) {
    const { stepSize, bc2sqrt, decay } = adamwScalars(lr, beta1, beta2, weightDecay, step);
    for (let i = 0; i < n; i++) {
      const gi = g[i]!;
      const mi = beta1 * m[i]! + (1 - beta1) * gi;
      const vi = beta2 * v[i]! + (1 - beta2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] = p[i]! * decay - (stepSize * mi) / (Math.sqrt(vi) / bc2sqrt + eps);
    }
  },

  adamwBf16(p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, step, seed) {
    const { stepSize, bc2sqrt, decay } = adamwScalars(lr, beta1, beta2, weightDecay, step);
    for (let i = 0; i < n; i++) {
      const gi = g[i]!;
      const mi = beta1 * widenBf16(m[i]!) + (1 - beta1) * gi;
      const vi = beta2 * widenBf16(v[i]!) + (1 - beta2) * gi * gi;
      const r = hash32((Math.imul(i, 0x9e3779b9) + seed) >>> 0);
      m[i] = stochasticBf16(mi, r >>> 16);
      v[i] = stochasticBf16(vi, r & 0xffff);
      p[i] = p[i]! * decay - (stepSize * mi) / (Math.sqrt(vi) / bc2sqrt + eps);
    }
  },

  add(a, b, out, n) {
    for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!;
  },

  accumulate(dst, src, n) {
    for (let i = 0; i < n; i++) dst[i]! += src[i]!;
  },

  sumSquares(x, n) {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i]! * x[i]!;
    return s;
  },

  scale(x, n, s) {
    for (let i = 0; i < n; i++) x[i]! *= s;
  },
};

/** An AdamW step's bias corrections and decoupled decay factor, shared by both moment kinds. */
function adamwScalars(lr: number, beta1: number, beta2: number, weightDecay: number, step: number) {
  return {
    stepSize: lr / (1 - beta1 ** step),
    bc2sqrt: Math.sqrt(1 - beta2 ** step),
    decay: 1 - lr * weightDecay,
  };
}

/** The native kernels' counter-based hash (lowbias32), on uint32s. */
function hash32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

const bitsF32 = new Float32Array(1);
const bitsU32 = new Uint32Array(bitsF32.buffer);

function widenBf16(h: number): number {
  bitsU32[0] = h << 16;
  return bitsF32[0]!;
}

/** bf16 bits of x rounded up in magnitude with probability equal to the dropped fraction. */
function stochasticBf16(x: number, random16: number): number {
  bitsF32[0] = x;
  return (bitsU32[0]! + random16) >>> 16;
}
