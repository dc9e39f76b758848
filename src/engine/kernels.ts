/**
 * The kernel interface: every hot loop of training behind one set of functions, implemented as plain
 * TypeScript (`kernels-js.ts`, the reference, always available), as a native addon (`native/kernels.cc`,
 * AVX2/AVX-512 + OpenMP on all cores) and as JS with a WebAssembly SIMD GEMM (`kernels-wasm.ts`), the
 * last two built by `npm run build:kernels` during `npm ci`. The backend is chosen at runtime; all give
 * the same numbers within float32 rounding (tested in `kernels.test.ts`).
 *
 * Conventions: matrices are row-major Float32Arrays addressed with element offsets and strides;
 * forward kernels overwrite their outputs; backward kernels ADD into gradient buffers (so a tensor
 * used twice, e.g. tied embeddings, accumulates without an extra copy).
 */

import { jsKernels } from "./kernels-js.ts";
import { loadWasmKernels } from "./kernels-wasm.ts";
import { loadNativeKernels } from "./native-loader.ts";

export interface Kernels {
  readonly name: "js" | "wasm" | "native";
  /**
   * C[m,n] = (accumulate ? C : 0) + A[m,k]·B[k,n], where A(i,p) = a[aOff + i*ars + p*acs],
   * B(p,j) = b[bOff + p*brs + j*bcs], C(i,j) = c[cOff + i*crs + j]. Strides express transposes.
   */
  gemm(
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    aOff: number,
    ars: number,
    acs: number,
    b: Float32Array,
    bOff: number,
    brs: number,
    bcs: number,
    c: Float32Array,
    cOff: number,
    crs: number,
    accumulate: boolean,
  ): void;
  /**
   * Causal grouped-query attention over packed rows. q: [B*T, H*D]; k, v: [B*T, KVH*D]; out: [B*T, H*D];
   * seg: [B*T] segment ids — token i attends to j iff j ≤ i and seg[j] = seg[i] within the same row of the
   * batch. lse: [B, H, T] receives each row's log Σ exp(scale·q·k), all backward needs to rebuild the
   * probabilities: nothing of size T² outlives the call (memory O(T), as in FlashAttention).
   */
  attentionForward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    seg: Int32Array,
    out: Float32Array,
    lse: Float32Array,
    batch: number,
    time: number,
    heads: number,
    kvHeads: number,
    headDim: number,
    scale: number,
  ): void;
  /**
   * One query row against a KV cache (decoding): for each head h, out[outOff + h*D + i] =
   * Σ_{p<len} softmax_p(scale · q_h·k_p) · v_p[i], where q_h = q[qOff + h*D …], k_p = keys[p*KVH*D + g*D …]
   * with g = h / (H/KVH) its key-value head, and v_p alike in values. keys, values: [≥ len, KVH*D].
   */
  decodeAttention(
    q: Float32Array,
    qOff: number,
    keys: Float32Array,
    values: Float32Array,
    len: number,
    out: Float32Array,
    outOff: number,
    heads: number,
    kvHeads: number,
    headDim: number,
    scale: number,
  ): void;
  /** Adds the gradients of attentionForward into dq [B*T,H*D], dk, dv [B*T,KVH*D]; recomputes P from lse. */
  attentionBackward(
    dout: Float32Array,
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    seg: Int32Array,
    lse: Float32Array,
    dq: Float32Array,
    dk: Float32Array,
    dv: Float32Array,
    batch: number,
    time: number,
    heads: number,
    kvHeads: number,
    headDim: number,
    scale: number,
  ): void;
  /** out = x · rsqrt(mean(x²) + eps) · w per row; rstd[r] saved for backward. x, out: [rows, dim]. */
  rmsnormForward(
    x: Float32Array,
    w: Float32Array,
    out: Float32Array,
    rstd: Float32Array,
    rows: number,
    dim: number,
    eps: number,
  ): void;
  /** dx += ∂/∂x, dw += ∂/∂w of rmsnormForward. */
  rmsnormBackward(
    dy: Float32Array,
    x: Float32Array,
    w: Float32Array,
    rstd: Float32Array,
    dx: Float32Array,
    dw: Float32Array,
    rows: number,
    dim: number,
  ): void;
  /**
   * Rotate-half RoPE (HF Llama/Qwen) of x [rows, heads*headDim] at positions pos[rows], using tables
   * cos, sin [maxPos, headDim/2]. sign = 1 rotates forward (out = rope(x)); sign = -1 applies the
   * transpose (the backward). accumulate adds into out instead of overwriting.
   */
  rope(
    x: Float32Array,
    out: Float32Array,
    cos: Float32Array,
    sin: Float32Array,
    pos: Int32Array,
    rows: number,
    heads: number,
    headDim: number,
    sign: number,
    accumulate: boolean,
  ): void;
  /** out = silu(gate) * up, elementwise over n. */
  swigluForward(gate: Float32Array, up: Float32Array, out: Float32Array, n: number): void;
  /** dgate += ∂/∂gate, dup += ∂/∂up of swigluForward. */
  swigluBackward(
    dout: Float32Array,
    gate: Float32Array,
    up: Float32Array,
    dgate: Float32Array,
    dup: Float32Array,
    n: number,
  ): void;
  /**
   * Weighted cross-entropy of logits [rows, vocab] against targets [rows]: returns Σ w_r·(−log softmax
   * (logits_r)[t_r]). When dlogits is given, adds gradScale·w_r·(softmax(logits_r) − onehot(t_r)) into it;
   * rows with w_r = 0 are skipped entirely (no loss, no gradient).
   */
  crossEntropy(
    logits: Float32Array,
    targets: Int32Array,
    weights: Float32Array,
    rows: number,
    vocab: number,
    dlogits: Float32Array | null,
    gradScale: number,
  ): number;
  /** One torch.optim.AdamW update of n values (decoupled decay); step counts from 1. */
  adamw(
    p: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    n: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    step: number,
  ): void;
  /**
   * adamw with both moments held as bfloat16 bits, stochastically rounded from the float32 update with
   * random bits hashed from `seed` (a uint32) and the element's index: the same result for any thread
   * count and backend.
   */
  adamwBf16(
    p: Float32Array,
    g: Float32Array,
    m: Uint16Array,
    v: Uint16Array,
    n: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    step: number,
    seed: number,
  ): void;
  /** out = a + b elementwise over n. */
  add(a: Float32Array, b: Float32Array, out: Float32Array, n: number): void;
  /** dst += src elementwise over n (gradient accumulation). */
  accumulate(dst: Float32Array, src: Float32Array, n: number): void;
  /** Σ x² in float64 (for the global gradient norm). */
  sumSquares(x: Float32Array, n: number): number;
  /** x *= s in place. */
  scale(x: Float32Array, n: number, s: number): void;
}

let active: Kernels | null = null;

/**
 * The kernels in use: DISTILLERY_KERNELS=js|wasm|native forces one; otherwise the first that loads of
 * native (multi-threaded), wasm (SIMD GEMM, one thread), js.
 */
export function getKernels(): Kernels {
  if (active) return active;
  const want = process.env.DISTILLERY_KERNELS;
  if (want === "js") active = jsKernels;
  else if (want === "wasm") {
    active = loadWasmKernels();
    if (!active)
      throw new Error(
        "DISTILLERY_KERNELS=wasm but wasm/build/gemm.wasm did not load (npm run build:kernels)",
      );
  } else {
    const native = loadNativeKernels();
    if (!native && want === "native")
      throw new Error("DISTILLERY_KERNELS=native but the native addon did not load");
    active = native ?? loadWasmKernels() ?? jsKernels;
  }
  return active;
}

/** Switches backend (tests compare the two). Returns the previous one. */
export function setKernels(k: Kernels): Kernels {
  const prev = getKernels();
  active = k;
  return prev;
}
