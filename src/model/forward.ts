/**
 * Inference forward pass of the Qwen2 / Qwen3 / Llama decoder in plain TypeScript (no autograd), with a
 * KV cache. Reads top to bottom like the model:
 *   x = embed(tokens)
 *   for each layer: x = x + attn(rmsnorm(x));  x = x + mlp(rmsnorm(x))
 *   logits = lm_head(rmsnorm(x))
 * All activations are row-major Float32Array of shape (T, C) for the T new tokens of one sequence.
 * Accumulations run in float64 (JS numbers), so results sit within float32 rounding of llama.cpp's.
 */
import { type ModelDims, modelDims } from "./config.ts";
import type { Model } from "./model.ts";

interface LayerWeights {
  attnNorm: Float32Array;
  wq: Float32Array;
  wk: Float32Array;
  wv: Float32Array;
  wo: Float32Array;
  bq: Float32Array | null;
  bk: Float32Array | null;
  bv: Float32Array | null;
  qNorm: Float32Array | null;
  kNorm: Float32Array | null;
  mlpNorm: Float32Array;
  wGate: Float32Array;
  wUp: Float32Array;
  wDown: Float32Array;
}

/** Keys and values of the positions seen so far, per layer: (capacity, kvHeads * headDim). */
export class KvCache {
  length = 0;
  keys: Float32Array[];
  values: Float32Array[];
  capacity: number;
  constructor(
    readonly layers: number,
    readonly width: number,
    capacity = 256,
  ) {
    this.capacity = capacity;
    this.keys = Array.from({ length: layers }, () => new Float32Array(capacity * width));
    this.values = Array.from({ length: layers }, () => new Float32Array(capacity * width));
  }
  /** Makes room for `needed` positions in total, doubling so long generations copy O(log n) times. */
  reserve(needed: number): void {
    if (needed <= this.capacity) return;
    let cap = this.capacity;
    while (cap < needed) cap *= 2;
    const grow = (a: Float32Array) => {
      const b = new Float32Array(cap * this.width);
      b.set(a.subarray(0, this.length * this.width));
      return b;
    };
    this.keys = this.keys.map(grow);
    this.values = this.values.map(grow);
    this.capacity = cap;
  }
  /** Forgets positions from `length` on (e.g. to reuse a shared prompt prefix). */
  truncate(length: number): void {
    this.length = Math.min(this.length, length);
  }
}

export class Decoder {
  readonly dims: ModelDims;
  readonly maxPositions: number;
  private readonly embed: Float32Array;
  private readonly lmHead: Float32Array;
  private readonly finalNorm: Float32Array;
  private readonly layers: LayerWeights[];
  /** RoPE inverse frequencies, computed in float32 as HF does: theta^(-2i/headDim). */
  private readonly invFreq: Float32Array;

  constructor(readonly model: Model) {
    const d = modelDims(model.config);
    this.dims = d;
    this.maxPositions = model.config.max_position_embeddings;
    const get = (name: string) => {
      const t = model.params.get(name);
      if (!t) throw new Error(`model has no tensor "${name}"`);
      return t.data;
    };
    const opt = (name: string) => model.params.get(name)?.data ?? null;
    this.embed = get("model.embed_tokens.weight");
    this.lmHead = model.config.tie_word_embeddings ? this.embed : get("lm_head.weight");
    this.finalNorm = get("model.norm.weight");
    this.layers = [];
    for (let i = 0; i < d.layers; i++) {
      const p = `model.layers.${i}`;
      this.layers.push({
        attnNorm: get(`${p}.input_layernorm.weight`),
        wq: get(`${p}.self_attn.q_proj.weight`),
        wk: get(`${p}.self_attn.k_proj.weight`),
        wv: get(`${p}.self_attn.v_proj.weight`),
        wo: get(`${p}.self_attn.o_proj.weight`),
        bq: d.qkvBias ? get(`${p}.self_attn.q_proj.bias`) : null,
        bk: d.qkvBias ? get(`${p}.self_attn.k_proj.bias`) : null,
        bv: d.qkvBias ? get(`${p}.self_attn.v_proj.bias`) : null,
        qNorm: d.arch.qkNorm ? get(`${p}.self_attn.q_norm.weight`) : opt(`${p}.self_attn.q_norm.weight`),
        kNorm: d.arch.qkNorm ? get(`${p}.self_attn.k_norm.weight`) : opt(`${p}.self_attn.k_norm.weight`),
        mlpNorm: get(`${p}.post_attention_layernorm.weight`),
        wGate: get(`${p}.mlp.gate_proj.weight`),
        wUp: get(`${p}.mlp.up_proj.weight`),
        wDown: get(`${p}.mlp.down_proj.weight`),
      });
    }
    const half = d.headDim / 2;
    this.invFreq = new Float32Array(half);
    for (let i = 0; i < half; i++) this.invFreq[i] = 1 / d.ropeTheta ** ((2 * i) / d.headDim);
  }

  newCache(capacity = 256): KvCache {
    return new KvCache(this.dims.layers, this.dims.kvHeads * this.dims.headDim, capacity);
  }

  /**
   * Feeds `tokens` after the cache's positions and returns logits: (vocab) of the last token, or
   * (T, vocab) of every new token when `allLogits` is set.
   */
  forward(tokens: readonly number[], cache: KvCache, opts: { allLogits?: boolean } = {}): Float32Array {
    const d = this.dims;
    const T = tokens.length;
    if (T === 0) throw new Error("forward needs at least one token");
    const start = cache.length;
    cache.reserve(start + T);
    const C = d.hidden;
    const qW = d.heads * d.headDim;
    const kvW = d.kvHeads * d.headDim;

    const x = new Float32Array(T * C); // (T, C) residual stream
    for (let t = 0; t < T; t++) {
      const id = tokens[t];
      if (!(id >= 0 && id < d.vocab))
        throw new Error(`token id ${id} is outside the vocabulary (${d.vocab})`);
      x.set(this.embed.subarray(id * C, (id + 1) * C), t * C);
    }
    const h = new Float32Array(T * C);
    const q = new Float32Array(T * qW);
    const k = new Float32Array(T * kvW);
    const v = new Float32Array(T * kvW);
    const att = new Float32Array(T * qW);
    const proj = new Float32Array(T * C);
    const gate = new Float32Array(T * d.ffn);
    const up = new Float32Array(T * d.ffn);
    const cos = new Float32Array(T * (d.headDim / 2));
    const sin = new Float32Array(T * (d.headDim / 2));
    this.ropeTables(start, T, cos, sin);

    for (let l = 0; l < d.layers; l++) {
      const w = this.layers[l];
      // attention block: h = rmsnorm(x); q,k,v = h W^T (+ b); per-head norm (qwen3); RoPE; cache; attend
      rmsNorm(h, x, w.attnNorm, T, C, d.eps);
      matmulT(q, h, w.wq, w.bq, T, C, qW);
      matmulT(k, h, w.wk, w.bk, T, C, kvW);
      matmulT(v, h, w.wv, w.bv, T, C, kvW);
      if (w.qNorm) rmsNorm(q, q, w.qNorm, T * d.heads, d.headDim, d.eps);
      if (w.kNorm) rmsNorm(k, k, w.kNorm, T * d.kvHeads, d.headDim, d.eps);
      applyRope(q, cos, sin, T, d.heads, d.headDim);
      applyRope(k, cos, sin, T, d.kvHeads, d.headDim);
      cache.keys[l].set(k, start * kvW);
      cache.values[l].set(v, start * kvW);
      attend(att, q, cache.keys[l], cache.values[l], start, T, d);
      matmulT(proj, att, w.wo, null, T, qW, C);
      for (let i = 0; i < x.length; i++) x[i] += proj[i];
      // MLP block: x += down(silu(gate(h)) * up(h)), h = rmsnorm(x)
      rmsNorm(h, x, w.mlpNorm, T, C, d.eps);
      matmulT(gate, h, w.wGate, null, T, C, d.ffn);
      matmulT(up, h, w.wUp, null, T, C, d.ffn);
      for (let i = 0; i < gate.length; i++) {
        const g = gate[i];
        gate[i] = (g / (1 + Math.exp(-g))) * up[i];
      }
      matmulT(proj, gate, w.wDown, null, T, d.ffn, C);
      for (let i = 0; i < x.length; i++) x[i] += proj[i];
    }
    cache.length = start + T;

    if (opts.allLogits) {
      rmsNorm(h, x, this.finalNorm, T, C, d.eps);
      const logits = new Float32Array(T * d.vocab);
      matmulT(logits, h, this.lmHead, null, T, C, d.vocab);
      return logits;
    }
    const last = new Float32Array(C);
    rmsNorm(last, x.subarray((T - 1) * C), this.finalNorm, 1, C, d.eps);
    const logits = new Float32Array(d.vocab);
    matmulT(logits, last, this.lmHead, null, 1, C, d.vocab);
    return logits;
  }

  /** Logits (T, vocab) for a whole token sequence from an empty cache. */
  logits(tokens: readonly number[]): Float32Array {
    return this.forward(tokens, this.newCache(tokens.length), { allLogits: true });
  }

  private ropeTables(start: number, T: number, cos: Float32Array, sin: Float32Array): void {
    const half = this.invFreq.length;
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < half; i++) {
        const angle = Math.fround((start + t) * this.invFreq[i]);
        cos[t * half + i] = Math.cos(angle);
        sin[t * half + i] = Math.sin(angle);
      }
    }
  }
}

/** out (R, n) = rmsnorm of each row of x (R, n) times weight (n). `out` may alias `x`. */
function rmsNorm(
  out: Float32Array,
  x: Float32Array,
  weight: Float32Array,
  R: number,
  n: number,
  eps: number,
): void {
  for (let r = 0; r < R; r++) {
    const o = r * n;
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[o + i] * x[o + i];
    const scale = 1 / Math.sqrt(ss / n + eps);
    for (let i = 0; i < n; i++) out[o + i] = Math.fround(x[o + i] * scale) * weight[i];
  }
}

/**
 * out (T, N) = x (T, K) · w(N, K)ᵀ + bias. Four rows of w at a time share each load of x, and x's
 * rows stay in cache while w streams once per row block, which is what bounds decoding speed.
 */
export function matmulT(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  T: number,
  K: number,
  N: number,
): void {
  let n = 0;
  for (; n + 4 <= N; n += 4) {
    const w0 = n * K;
    const w1 = w0 + K;
    const w2 = w1 + K;
    const w3 = w2 + K;
    for (let t = 0; t < T; t++) {
      const xo = t * K;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let k = 0; k < K; k++) {
        const xv = x[xo + k];
        a0 += xv * w[w0 + k];
        a1 += xv * w[w1 + k];
        a2 += xv * w[w2 + k];
        a3 += xv * w[w3 + k];
      }
      const oo = t * N + n;
      if (bias) {
        a0 += bias[n];
        a1 += bias[n + 1];
        a2 += bias[n + 2];
        a3 += bias[n + 3];
      }
      out[oo] = a0;
      out[oo + 1] = a1;
      out[oo + 2] = a2;
      out[oo + 3] = a3;
    }
  }
  for (; n < N; n++) {
    const wo = n * K;
    for (let t = 0; t < T; t++) {
      const xo = t * K;
      let a = bias ? bias[n] : 0;
      for (let k = 0; k < K; k++) a += x[xo + k] * w[wo + k];
      out[t * N + n] = a;
    }
  }
}

/** HF rotate_half RoPE on each head of x (T, H·D): pairs (i, i + D/2) rotate by pos·invFreq[i]. */
function applyRope(
  x: Float32Array,
  cos: Float32Array,
  sin: Float32Array,
  T: number,
  H: number,
  D: number,
): void {
  const half = D / 2;
  for (let t = 0; t < T; t++) {
    const c = t * half;
    for (let h = 0; h < H; h++) {
      const o = (t * H + h) * D;
      for (let i = 0; i < half; i++) {
        const x1 = x[o + i];
        const x2 = x[o + half + i];
        const cs = cos[c + i];
        const sn = sin[c + i];
        x[o + i] = x1 * cs - x2 * sn;
        x[o + half + i] = x2 * cs + x1 * sn;
      }
    }
  }
}

/**
 * Causal grouped-query attention of the T new queries (positions start…start+T-1) over the cache
 * (positions 0…start+T-1). out (T, H·D); query head h reads kv head h / (H / kvHeads).
 */
function attend(
  out: Float32Array,
  q: Float32Array,
  keys: Float32Array,
  values: Float32Array,
  start: number,
  T: number,
  d: ModelDims,
): void {
  const D = d.headDim;
  const group = d.heads / d.kvHeads;
  const kvW = d.kvHeads * D;
  const qW = d.heads * D;
  const scale = 1 / Math.sqrt(D);
  const scores = new Float64Array(start + T);
  const acc = new Float64Array(D);
  for (let t = 0; t < T; t++) {
    const len = start + t + 1; // causal: this query sees positions 0..start+t
    for (let h = 0; h < d.heads; h++) {
      const qo = t * qW + h * D;
      const ko = Math.floor(h / group) * D;
      let max = Number.NEGATIVE_INFINITY;
      for (let p = 0; p < len; p++) {
        const kp = p * kvW + ko;
        let s = 0;
        for (let i = 0; i < D; i++) s += q[qo + i] * keys[kp + i];
        s *= scale;
        scores[p] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let p = 0; p < len; p++) {
        const e = Math.exp(scores[p] - max);
        scores[p] = e;
        sum += e;
      }
      acc.fill(0);
      for (let p = 0; p < len; p++) {
        const wgt = scores[p] / sum;
        const vp = p * kvW + ko;
        for (let i = 0; i < D; i++) acc[i] += wgt * values[vp + i];
      }
      for (let i = 0; i < D; i++) out[qo + i] = acc[i];
    }
  }
}

/** log-softmax of one row of logits, in float64 for accuracy. */
export function logSoftmax(logits: Float32Array): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - lse;
  return out;
}
