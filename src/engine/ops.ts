/**
 * Differentiable ops over 2-D row-major tensors ([rows, features]; a batch of sequences is B*T rows).
 * Each op computes its forward with the active kernels and, if an input needs a gradient, records
 * its backward on the tape. Naming follows the kernels: xForward / xBackward live in kernels.ts.
 */
import { type Tape, Tensor } from "./autograd.ts";
import { getKernels } from "./kernels.ts";

function rowsCols(t: Tensor): [number, number] {
  if (t.shape.length === 1) return [1, t.shape[0]!];
  const cols = t.shape[t.shape.length - 1]!;
  return [t.size / cols, cols];
}

/** a [m,k] · b [k,n] → [m,n]. */
export function matmul(g: Tape, a: Tensor, b: Tensor): Tensor {
  const K = getKernels();
  const [m, k] = rowsCols(a);
  const [k2, n] = rowsCols(b);
  if (k !== k2) throw new Error(`matmul: inner sizes ${k} and ${k2} differ`);
  const out = Tensor.empty([m, n]);
  K.gemm(m, n, k, a.data, 0, k, 1, b.data, 0, n, 1, out.data, 0, n, false);
  if (g.needsGrad(a, b))
    g.record(out, () => {
      const dy = out.grad!;
      // dA [m,k] += dY [m,n] · Bᵀ ; dB [k,n] += Aᵀ · dY
      if (a.requiresGrad) K.gemm(m, k, n, dy, 0, n, 1, b.data, 0, 1, n, a.gradBuffer(), 0, k, true);
      if (b.requiresGrad) K.gemm(k, n, m, a.data, 0, 1, k, dy, 0, n, 1, b.gradBuffer(), 0, n, true);
    });
  return out;
}

/** x [m,in] · Wᵀ with W in Hugging Face layout [out,in] → [m,out] (nn.Linear without bias). */
export function linear(g: Tape, x: Tensor, w: Tensor): Tensor {
  const K = getKernels();
  const [m, k] = rowsCols(x);
  const [n, k2] = rowsCols(w);
  if (k !== k2) throw new Error(`linear: input has ${k} features, weight expects ${k2}`);
  const out = Tensor.empty([m, n]);
  K.gemm(m, n, k, x.data, 0, k, 1, w.data, 0, 1, k, out.data, 0, n, false);
  if (g.needsGrad(x, w))
    g.record(out, () => {
      const dy = out.grad!;
      // dX [m,in] += dY [m,out] · W [out,in] ; dW [out,in] += dYᵀ · X
      if (x.requiresGrad) K.gemm(m, k, n, dy, 0, n, 1, w.data, 0, k, 1, x.gradBuffer(), 0, k, true);
      if (w.requiresGrad) K.gemm(n, k, m, dy, 0, 1, n, x.data, 0, k, 1, w.gradBuffer(), 0, k, true);
    });
  return out;
}

/** x [m,n] + b [n] broadcast over rows. */
export function biasAdd(g: Tape, x: Tensor, b: Tensor): Tensor {
  const [m, n] = rowsCols(x);
  if (b.size !== n) throw new Error(`biasAdd: bias has ${b.size} values, rows have ${n}`);
  const out = Tensor.empty(x.shape);
  const [xd, bd, od] = [x.data, b.data, out.data];
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) od[i * n + j] = xd[i * n + j]! + bd[j]!;
  if (g.needsGrad(x, b))
    g.record(out, () => {
      const dy = out.grad!;
      if (x.requiresGrad) getKernels().accumulate(x.gradBuffer(), dy, dy.length);
      if (b.requiresGrad) {
        const db = b.gradBuffer();
        for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) db[j]! += dy[i * n + j]!;
      }
    });
  return out;
}

/** Elementwise a + b (same shape). */
export function add(g: Tape, a: Tensor, b: Tensor): Tensor {
  if (a.size !== b.size) throw new Error("add: sizes differ");
  const out = Tensor.empty(a.shape);
  getKernels().add(a.data, b.data, out.data, a.size);
  if (g.needsGrad(a, b))
    g.record(out, () => {
      const dy = out.grad!;
      // the residual stream's gradient passes through: hand the buffer over instead of copying it
      let handed = false;
      if (a.requiresGrad) {
        if (!a.grad) {
          a.grad = dy;
          out.grad = null;
          handed = true;
        } else getKernels().accumulate(a.grad, dy, dy.length);
      }
      if (b.requiresGrad) {
        if (!b.grad && !handed) {
          b.grad = dy;
          out.grad = null;
        } else getKernels().accumulate(b.gradBuffer(), dy, dy.length);
      }
    });
  return out;
}

/** Elementwise a * b (same shape). */
export function mul(g: Tape, a: Tensor, b: Tensor): Tensor {
  if (a.size !== b.size) throw new Error("mul: sizes differ");
  const out = Tensor.empty(a.shape);
  const [ad, bd, od] = [a.data, b.data, out.data];
  for (let i = 0; i < od.length; i++) od[i] = ad[i]! * bd[i]!;
  if (g.needsGrad(a, b))
    g.record(out, () => {
      const dy = out.grad!;
      if (a.requiresGrad) {
        const da = a.gradBuffer();
        for (let i = 0; i < da.length; i++) da[i]! += dy[i]! * b.data[i]!;
      }
      if (b.requiresGrad) {
        const db = b.gradBuffer();
        for (let i = 0; i < db.length; i++) db[i]! += dy[i]! * a.data[i]!;
      }
    });
  return out;
}

/** Rows of table [V,D] at ids → [ids.length, D]; the gradient scatter-adds back into the table rows. */
export function embedding(g: Tape, table: Tensor, ids: Int32Array): Tensor {
  const [vocab, d] = rowsCols(table);
  const out = Tensor.empty([ids.length, d]);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (id < 0 || id >= vocab) throw new Error(`embedding: id ${id} outside vocabulary of ${vocab}`);
    out.data.set(table.data.subarray(id * d, id * d + d), i * d);
  }
  if (g.needsGrad(table))
    g.record(out, () => {
      const dy = out.grad!;
      const dt = table.gradBuffer();
      for (let i = 0; i < ids.length; i++) {
        const o = ids[i]! * d;
        for (let j = 0; j < d; j++) dt[o + j]! += dy[i * d + j]!;
      }
    });
  return out;
}

/** RMSNorm over the last `w.size` values: x [rows, k*dim] is normalised in chunks of dim (per head). */
export function rmsnorm(g: Tape, x: Tensor, w: Tensor, eps: number): Tensor {
  const K = getKernels();
  const dim = w.size;
  const rows = x.size / dim;
  if (!Number.isInteger(rows)) throw new Error(`rmsnorm: ${x.size} values are not rows of ${dim}`);
  const out = Tensor.empty(x.shape);
  const rstd = new Float32Array(rows);
  K.rmsnormForward(x.data, w.data, out.data, rstd, rows, dim, eps);
  if (g.needsGrad(x, w))
    g.record(out, () => {
      // a dummy buffer stands in for a gradient nobody needs
      const dx = x.requiresGrad ? x.gradBuffer() : new Float32Array(x.size);
      const dw = w.requiresGrad ? w.gradBuffer() : new Float32Array(dim);
      K.rmsnormBackward(out.grad!, x.data, w.data, rstd, dx, dw, rows, dim);
    });
  return out;
}

/** cos/sin tables [maxPos, headDim/2] for rotate-half RoPE (headDim = 2 · invFreq.length). */
export interface RopeTable {
  cos: Float32Array;
  sin: Float32Array;
  maxPos: number;
  headDim: number;
}

/**
 * The table for positions 0…maxPos-1 from RoPE's inverse frequencies (src/model/rope.ts computes them
 * from a config): angle = pos · invFreq[i] rounded to float32, as HF's float32 matmul gives it.
 */
export function ropeTable(invFreq: Float32Array, maxPos: number): RopeTable {
  const half = invFreq.length;
  const cos = new Float32Array(maxPos * half);
  const sin = new Float32Array(maxPos * half);
  for (let i = 0; i < half; i++) {
    for (let p = 0; p < maxPos; p++) {
      const f = Math.fround(p * invFreq[i]!);
      cos[p * half + i] = Math.cos(f);
      sin[p * half + i] = Math.sin(f);
    }
  }
  return { cos, sin, maxPos, headDim: 2 * half };
}

/** RoPE on x [rows, heads*headDim] at positions pos [rows]. */
export function rope(g: Tape, x: Tensor, table: RopeTable, pos: Int32Array): Tensor {
  const K = getKernels();
  const [rows, cols] = rowsCols(x);
  const heads = cols / table.headDim;
  if (pos.length !== rows) throw new Error(`rope: ${pos.length} positions for ${rows} rows`);
  for (const p of pos)
    if (p < 0 || p >= table.maxPos) throw new Error(`rope: position ${p} beyond the table`);
  const out = Tensor.empty(x.shape);
  K.rope(x.data, out.data, table.cos, table.sin, pos, rows, heads, table.headDim, 1, false);
  if (g.needsGrad(x))
    g.record(out, () => {
      K.rope(out.grad!, x.gradBuffer(), table.cos, table.sin, pos, rows, heads, table.headDim, -1, true);
    });
  return out;
}

/** Shape of a batch of packed sequences for attention. */
export interface AttentionShape {
  batch: number;
  time: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** seg [batch*time]: tokens attend only to earlier tokens with the same segment id. */
  seg: Int32Array;
}

/** Causal GQA softmax(q·kᵀ/√d)·v; q [B*T, H*D], k, v [B*T, KVH*D] → [B*T, H*D]. */
export function attention(g: Tape, q: Tensor, k: Tensor, v: Tensor, s: AttentionShape): Tensor {
  const K = getKernels();
  const { batch, time, heads, kvHeads, headDim, seg } = s;
  if (heads % kvHeads !== 0) throw new Error("attention: heads must be a multiple of kvHeads");
  if (
    q.size !== batch * time * heads * headDim ||
    k.size !== batch * time * kvHeads * headDim ||
    k.size !== v.size
  )
    throw new Error("attention: q/k/v sizes do not match the shape");
  if (seg.length !== batch * time) throw new Error("attention: seg needs one id per token");
  const scale = 1 / Math.sqrt(headDim);
  const out = Tensor.empty(q.shape);
  // only the row log-sum-exp is saved (B*H*T floats); backward rebuilds the T×T probabilities
  const lse = new Float32Array(batch * heads * time);
  K.attentionForward(q.data, k.data, v.data, seg, out.data, lse, batch, time, heads, kvHeads, headDim, scale);
  if (g.needsGrad(q, k, v))
    g.record(out, () => {
      const dq = q.requiresGrad ? q.gradBuffer() : new Float32Array(q.size);
      const dk = k.requiresGrad ? k.gradBuffer() : new Float32Array(k.size);
      const dv = v.requiresGrad ? v.gradBuffer() : new Float32Array(v.size);
      const shape = [batch, time, heads, kvHeads, headDim, scale] as const;
      K.attentionBackward(out.grad!, q.data, k.data, v.data, seg, lse, dq, dk, dv, ...shape);
    });
  return out;
}

/** silu(x) = x·σ(x), elementwise. */
export function silu(g: Tape, x: Tensor): Tensor {
  const out = new Tensor(new Float32Array(x.size), x.shape);
  for (let i = 0; i < x.size; i++) out.data[i] = x.data[i]! / (1 + Math.exp(-x.data[i]!));
  if (g.needsGrad(x))
    g.record(out, () => {
      const dx = x.gradBuffer();
      const dy = out.grad!;
      for (let i = 0; i < dx.length; i++) {
        const sig = 1 / (1 + Math.exp(-x.data[i]!));
        dx[i]! += dy[i]! * sig * (1 + x.data[i]! * (1 - sig));
      }
    });
  return out;
}

/** silu(gate) * up, the SwiGLU MLP's gate (one fused kernel). */
export function swiglu(g: Tape, gate: Tensor, up: Tensor): Tensor {
  const K = getKernels();
  if (gate.size !== up.size) throw new Error("swiglu: sizes differ");
  const out = Tensor.empty(gate.shape);
  K.swigluForward(gate.data, up.data, out.data, gate.size);
  if (g.needsGrad(gate, up))
    g.record(out, () => {
      const dg = gate.requiresGrad ? gate.gradBuffer() : new Float32Array(gate.size);
      const du = up.requiresGrad ? up.gradBuffer() : new Float32Array(up.size);
      K.swigluBackward(out.grad!, gate.data, up.data, dg, du, gate.size);
    });
  return out;
}

/** Row softmax of x [rows, n]. */
export function softmax(g: Tape, x: Tensor): Tensor {
  const [rows, n] = rowsCols(x);
  const out = new Tensor(new Float32Array(x.size), x.shape);
  for (let r = 0; r < rows; r++) {
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < n; j++) max = Math.max(max, x.data[r * n + j]!);
    let sum = 0;
    for (let j = 0; j < n; j++) sum += out.data[r * n + j] = Math.exp(x.data[r * n + j]! - max);
    for (let j = 0; j < n; j++) out.data[r * n + j]! /= sum;
  }
  if (g.needsGrad(x))
    g.record(out, () => {
      const dy = out.grad!;
      const dx = x.gradBuffer();
      for (let r = 0; r < rows; r++) {
        let dot = 0;
        for (let j = 0; j < n; j++) dot += dy[r * n + j]! * out.data[r * n + j]!;
        for (let j = 0; j < n; j++) dx[r * n + j]! += out.data[r * n + j]! * (dy[r * n + j]! - dot);
      }
    });
  return out;
}

/**
 * Masked cross-entropy: Σ_r w_r·CE(logits_r, t_r) / normalizer, a scalar. weights [rows] are per-target
 * weights (0 = masked: no loss, no gradient); normalizer defaults to Σ w (a mean over the unmasked
 * targets; pass the whole accumulated batch's Σ w when accumulating gradients over micro-batches).
 */
export function crossEntropy(
  g: Tape,
  logits: Tensor,
  targets: Int32Array,
  weights: Float32Array,
  normalizer?: number,
): Tensor {
  const K = getKernels();
  const [rows, vocab] = rowsCols(logits);
  if (targets.length !== rows || weights.length !== rows) throw new Error("crossEntropy: one target per row");
  for (let r = 0; r < rows; r++)
    if (weights[r] !== 0 && (targets[r]! < 0 || targets[r]! >= vocab))
      throw new Error(`crossEntropy: target ${targets[r]} outside vocabulary of ${vocab}`);
  let norm = normalizer ?? 0;
  if (normalizer === undefined) for (const w of weights) norm += w;
  if (norm <= 0) norm = 1;
  const out = new Tensor(
    new Float32Array([K.crossEntropy(logits.data, targets, weights, rows, vocab, null, 0) / norm]),
    [],
  );
  if (g.needsGrad(logits))
    g.record(out, () => {
      K.crossEntropy(logits.data, targets, weights, rows, vocab, logits.gradBuffer(), out.grad![0]! / norm);
    });
  return out;
}

/** Σ x, a scalar. */
export function sum(g: Tape, x: Tensor): Tensor {
  let s = 0;
  for (const v of x.data) s += v;
  const out = new Tensor(new Float32Array([s]), []);
  if (g.needsGrad(x))
    g.record(out, () => {
      const dx = x.gradBuffer();
      const d = out.grad![0]!;
      for (let i = 0; i < dx.length; i++) dx[i]! += d;
    });
  return out;
}

/** Mean of x, a scalar. */
export function mean(g: Tape, x: Tensor): Tensor {
  const s = sum(g, x);
  const out = new Tensor(new Float32Array([s.data[0]! / x.size]), []);
  if (g.needsGrad(s))
    g.record(out, () => {
      s.gradBuffer()[0]! += out.grad![0]! / x.size;
    });
  return out;
}
