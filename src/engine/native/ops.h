// The non-GEMM kernels of training (attention, RMSNorm, RoPE, SwiGLU, cross-entropy, AdamW), OpenMP over
// rows, AVX2 for the exp-heavy loops. Semantics match kernels-js.ts exactly (see kernels.ts for the
// contract): forward kernels overwrite, backward kernels add into gradients.
#pragma once
#include <immintrin.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gemm.h"

namespace ops {

// exp for 8 floats (Cephes polynomial, relative error ≈ 2e-7), inputs clamped to [-88.4, 88.4].
static inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-88.3762626647949f)), _mm256_set1_ps(88.3762626647949f));
  __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

static inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// In place: x[j] = mask_j ? exp(x[j] - max) : 0 for j < n, where mask_j = x[j] > -1e29 (masked entries hold
// -1e30). Returns Σ.
static inline float expShiftSum(float* x, int n, float max) {
  const __m256 vm = _mm256_set1_ps(max), floor = _mm256_set1_ps(-1e29f);
  __m256 acc = _mm256_setzero_ps();
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 v = _mm256_loadu_ps(x + j);
    const __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(v, vm)), _mm256_cmp_ps(v, floor, _CMP_GT_OQ));
    _mm256_storeu_ps(x + j, e);
    acc = _mm256_add_ps(acc, e);
  }
  float s = hsum8(acc);
  for (; j < n; j++) {
    x[j] = x[j] > -1e29f ? std::exp(x[j] - max) : 0.f;
    s += x[j];
  }
  return s;
}

constexpr int RB = 64;  // attention row block: causal products skip the blocks above the diagonal

struct AttnShape {
  int B, T, H, KVH, D;
  float scale;
};

// Thread-local T×T scratch (grown on demand): attention keeps no T² state between forward and backward.
static inline float* scratchTT(std::vector<float>& v, long T) {
  if (v.size() < (size_t)(T * T)) v.resize(T * T);
  return v.data();
}

// P [T, T] of one (batch, head): S = Q·Kᵀ on and below the diagonal blocks, then P_ij = exp(scale·S_ij − lse_i)
// where j ≤ i in the same segment, else 0. forward: computes lse_i first (and stores it).
static void probabilities(const float* Q, long qs, const float* K, long ks, const int* sg, long T, int D, float scale,
                          float* P, float* lse, bool forward) {
  for (long i0 = 0; i0 < T; i0 += RB) {
    const int rows = std::min<long>(RB, T - i0);
    gemm::sgemm(rows, i0 + rows, D, Q + i0 * qs, qs, 1, K, 1, ks, P + i0 * T, T, false, false);
  }
  for (long i = 0; i < T; i++) {
    float* row = P + i * T;
    float l;
    if (forward) {
      float max = -1e30f;
      for (long j = 0; j <= i; j++) {
        row[j] = sg[j] == sg[i] ? row[j] * scale : -1e30f;
        max = std::max(max, row[j]);
      }
      const float sum = expShiftSum(row, i + 1, max);  // row now holds exp(s − max), masked 0
      l = max + std::log(sum);
      lse[i] = l;
      const float inv = 1.f / sum;
      for (long j = 0; j <= i; j++) row[j] *= inv;
    } else {
      l = lse[i];
      for (long j = 0; j <= i; j++) row[j] = sg[j] == sg[i] ? row[j] * scale : -1e30f;
      expShiftSum(row, i + 1, l);
    }
    for (long j = i + 1; j < T; j++) row[j] = 0.f;
  }
}

static void attentionForward(const float* q, const float* k, const float* v, const int* seg, float* out, float* lse,
                             const AttnShape& s) {
  const long qs = (long)s.H * s.D, ks = (long)s.KVH * s.D, T = s.T;
  const int group = s.H / s.KVH;
#pragma omp parallel for schedule(dynamic, 1) collapse(2)
  for (int b = 0; b < s.B; b++)
    for (int h = 0; h < s.H; h++) {
      static thread_local std::vector<float> buf;
      float* P = scratchTT(buf, T);
      const float* K = k + b * T * ks + (h / group) * s.D;
      const float* V = v + b * T * ks + (h / group) * s.D;
      float* O = out + b * T * qs + h * s.D;
      probabilities(q + b * T * qs + h * s.D, qs, K, ks, seg + b * T, T, s.D, s.scale, P, lse + ((long)b * s.H + h) * T,
                    true);
      for (long i0 = 0; i0 < T; i0 += RB) {
        const int rows = std::min<long>(RB, T - i0);
        gemm::sgemm(rows, s.D, i0 + rows, P + i0 * T, T, 1, V, ks, 1, O + i0 * qs, qs, false, false);
      }
    }
}

// One query row against a KV cache (see kernels.ts decodeAttention): per head, scores in one pass over the
// keys, softmax, then the values summed 8 lanes of D at a time. Heads spread over threads only when the
// cache is long enough to pay for waking them.
static void decodeAttention(const float* q, const float* keys, const float* values, int len, float* out, int H, int KVH,
                            int D, float scale) {
  const int group = H / KVH;
  const long kvW = (long)KVH * D;
  const int D8 = D / 8 * 8;
#pragma omp parallel for schedule(static) if ((long)H * len * D > (1L << 20))
  for (int h = 0; h < H; h++) {
    static thread_local std::vector<float> buf;
    float* sc = gemm::scratch(buf, len);
    const float* qh = q + (long)h * D;
    const long ko = (long)(h / group) * D;
    float max = -INFINITY;
    for (int p = 0; p < len; p++) {
      const float* kp = keys + p * kvW + ko;
      __m256 acc = _mm256_setzero_ps();
      for (int i = 0; i < D8; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(qh + i), _mm256_loadu_ps(kp + i), acc);
      float dot = hsum8(acc);
      for (int i = D8; i < D; i++) dot += qh[i] * kp[i];
      sc[p] = dot * scale;
      max = std::max(max, sc[p]);
    }
    double sum = 0;
    for (int p = 0; p < len; p++) sum += (sc[p] = std::exp(sc[p] - max));
    const float inv = (float)(1.0 / sum);
    float* o = out + (long)h * D;
    for (int i = 0; i < D; i++) o[i] = 0.f;
    for (int p = 0; p < len; p++) {
      const float* vp = values + p * kvW + ko;
      const __m256 w = _mm256_set1_ps(sc[p] * inv);
      for (int i = 0; i < D8; i += 8) _mm256_storeu_ps(o + i, _mm256_fmadd_ps(w, _mm256_loadu_ps(vp + i), _mm256_loadu_ps(o + i)));
      for (int i = D8; i < D; i++) o[i] += sc[p] * inv * vp[i];
    }
  }
}

static void attentionBackward(const float* dout, const float* q, const float* k, const float* v, const int* seg,
                              const float* lse, float* dq, float* dk, float* dv, const AttnShape& s) {
  const long qs = (long)s.H * s.D, ks = (long)s.KVH * s.D, T = s.T;
  const int group = s.H / s.KVH;
  // one task per (batch, kv head): the heads of a group add into the same dk/dv rows, so they run in order
#pragma omp parallel for schedule(dynamic, 1) collapse(2)
  for (int b = 0; b < s.B; b++)
    for (int kvh = 0; kvh < s.KVH; kvh++) {
      static thread_local std::vector<float> bufP, bufS;
      float* P = scratchTT(bufP, T);
      float* dS = scratchTT(bufS, T);  // dP, then dS in place
      const float* K = k + b * T * ks + kvh * s.D;
      const float* V = v + b * T * ks + kvh * s.D;
      float* dK = dk + b * T * ks + kvh * s.D;
      float* dV = dv + b * T * ks + kvh * s.D;
      for (int h = kvh * group; h < (kvh + 1) * group; h++) {
        const float* Q = q + b * T * qs + h * s.D;
        const float* dO = dout + b * T * qs + h * s.D;
        float* dQ = dq + b * T * qs + h * s.D;
        probabilities(Q, qs, K, ks, seg + b * T, T, s.D, s.scale, P, const_cast<float*>(lse) + ((long)b * s.H + h) * T,
                      false);
        for (long i0 = 0; i0 < T; i0 += RB) {  // dP = dO·Vᵀ (lower blocks only)
          const int rows = std::min<long>(RB, T - i0);
          gemm::sgemm(rows, i0 + rows, s.D, dO + i0 * qs, qs, 1, V, 1, ks, dS + i0 * T, T, false, false);
        }
        for (long i = 0; i < T; i++) {  // dS = P ∘ (dP − Σ P·dP) · scale
          const float* p = P + i * T;
          float* d = dS + i * T;
          float dot = 0.f;
          for (long j = 0; j <= i; j++) dot += p[j] * d[j];
          for (long j = 0; j <= i; j++) d[j] = p[j] * (d[j] - dot) * s.scale;
          for (long j = i + 1; j < T; j++) d[j] = 0.f;
        }
        for (long i0 = 0; i0 < T; i0 += RB) {
          const int rows = std::min<long>(RB, T - i0);
          // dQ_i += Σ_{j≤i} dS_ij K_j
          gemm::sgemm(rows, s.D, i0 + rows, dS + i0 * T, T, 1, K, ks, 1, dQ + i0 * qs, qs, true, false);
          // dK_j += Σ_{i≥j} dS_ij Q_i ; dV_j += Σ_{i≥j} P_ij dO_i
          gemm::sgemm(rows, s.D, T - i0, dS + i0 * T + i0, 1, T, Q + i0 * qs, qs, 1, dK + i0 * ks, ks, true, false);
          gemm::sgemm(rows, s.D, T - i0, P + i0 * T + i0, 1, T, dO + i0 * qs, qs, 1, dV + i0 * ks, ks, true, false);
        }
      }
    }
}

static void rmsnormForward(const float* x, const float* w, float* out, float* rstd, long rows, int dim, float eps) {
#pragma omp parallel for schedule(static) if (rows * dim > 32768)
  for (long r = 0; r < rows; r++) {
    const float* xr = x + r * dim;
    float ss = 0.f;
    for (int i = 0; i < dim; i++) ss += xr[i] * xr[i];
    const float rs = 1.f / std::sqrt(ss / dim + eps);
    rstd[r] = rs;
    float* o = out + r * dim;
    for (int i = 0; i < dim; i++) o[i] = xr[i] * rs * w[i];
  }
}

static void rmsnormBackward(const float* dy, const float* x, const float* w, const float* rstd, float* dx, float* dw,
                            long rows, int dim) {
  const int threads = rows * dim > 32768 ? omp_get_max_threads() : 1;
  std::vector<float> part((size_t)threads * dim, 0.f);  // per-thread dw, summed at the end
#pragma omp parallel num_threads(threads)
  {
    float* dwt = part.data() + (size_t)omp_get_thread_num() * dim;
#pragma omp for schedule(static)
    for (long r = 0; r < rows; r++) {
      const float *d = dy + r * dim, *xr = x + r * dim;
      const float rs = rstd[r];
      float dot = 0.f;
      for (int i = 0; i < dim; i++) dot += d[i] * w[i] * xr[i];
      const float c = rs * rs * rs * dot / dim;
      float* o = dx + r * dim;
      for (int i = 0; i < dim; i++) {
        o[i] += rs * d[i] * w[i] - c * xr[i];
        dwt[i] += d[i] * xr[i] * rs;
      }
    }
  }
  for (int t = 0; t < threads; t++)
    for (int i = 0; i < dim; i++) dw[i] += part[(size_t)t * dim + i];
}

static void rope(const float* x, float* out, const float* cos, const float* sin, const int* pos, long rows, int heads,
                 int hd, float sign, bool accumulate) {
  const int half = hd / 2;
#pragma omp parallel for schedule(static) if (rows * heads * hd > 32768)
  for (long r = 0; r < rows; r++) {
    const float* c = cos + (long)pos[r] * half;
    const float* sn = sin + (long)pos[r] * half;
    for (int h = 0; h < heads; h++) {
      const float* xi = x + (r * heads + h) * hd;
      float* o = out + (r * heads + h) * hd;
      for (int i = 0; i < half; i++) {
        const float s = sign * sn[i];
        const float y1 = xi[i] * c[i] - xi[i + half] * s;
        const float y2 = xi[i + half] * c[i] + xi[i] * s;
        if (accumulate) {
          o[i] += y1;
          o[i + half] += y2;
        } else {
          o[i] = y1;
          o[i + half] = y2;
        }
      }
    }
  }
}

static inline __m256 sigmoid8(__m256 g) {
  const __m256 one = _mm256_set1_ps(1.f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), g))));
}

static void swigluForward(const float* gate, const float* up, float* out, long n) {
  const long n8 = n / 8 * 8;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (long i = 0; i < n8; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(g, sigmoid8(g)), _mm256_loadu_ps(up + i)));
  }
  for (long i = n8; i < n; i++) out[i] = gate[i] / (1.f + std::exp(-gate[i])) * up[i];
}

static void swigluBackward(const float* dout, const float* gate, const float* up, float* dgate, float* dup, long n) {
  const long n8 = n / 8 * 8;
  const __m256 one = _mm256_set1_ps(1.f);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (long i = 0; i < n8; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i), d = _mm256_loadu_ps(dout + i);
    const __m256 sg = sigmoid8(g);
    const __m256 dsilu = _mm256_mul_ps(sg, _mm256_fmadd_ps(g, _mm256_sub_ps(one, sg), one));
    _mm256_storeu_ps(dgate + i,
                     _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_loadu_ps(up + i)), dsilu, _mm256_loadu_ps(dgate + i)));
    _mm256_storeu_ps(dup + i, _mm256_fmadd_ps(d, _mm256_mul_ps(g, sg), _mm256_loadu_ps(dup + i)));
  }
  for (long i = n8; i < n; i++) {
    const float g = gate[i], sg = 1.f / (1.f + std::exp(-g));
    dgate[i] += dout[i] * up[i] * sg * (1.f + g * (1.f - sg));
    dup[i] += dout[i] * g * sg;
  }
}

static double crossEntropy(const float* logits, const int* targets, const float* weights, long rows, int vocab,
                           float* dlogits, float gradScale) {
  // per-row losses summed in row order afterwards: the total is bitwise the same for any thread count
  std::vector<double> loss(rows, 0.0);
#pragma omp parallel for schedule(static) if (rows * vocab > 32768)
  for (long r = 0; r < rows; r++) {
    const float w = weights[r];
    if (w == 0.f) continue;
    const float* l = logits + r * vocab;
    float max = -INFINITY;
    for (int j = 0; j < vocab; j++) max = std::max(max, l[j]);
    const __m256 vm = _mm256_set1_ps(max);
    __m256 acc = _mm256_setzero_ps();
    int j = 0;
    for (; j + 8 <= vocab; j += 8) acc = _mm256_add_ps(acc, exp8(_mm256_sub_ps(_mm256_loadu_ps(l + j), vm)));
    float sum = hsum8(acc);
    for (; j < vocab; j++) sum += std::exp(l[j] - max);
    const float lse = max + std::log(sum);
    loss[r] = (double)w * (lse - l[targets[r]]);
    if (dlogits) {
      float* d = dlogits + r * vocab;
      const float c = gradScale * w;
      const __m256 vc = _mm256_set1_ps(c), vl = _mm256_set1_ps(lse);
      j = 0;
      for (; j + 8 <= vocab; j += 8)
        _mm256_storeu_ps(d + j, _mm256_fmadd_ps(vc, exp8(_mm256_sub_ps(_mm256_loadu_ps(l + j), vl)), _mm256_loadu_ps(d + j)));
      for (; j < vocab; j++) d[j] += c * std::exp(l[j] - lse);
      d[targets[r]] -= c;
    }
  }
  double total = 0;
  for (long r = 0; r < rows; r++) total += loss[r];
  return total;
}

static void adamw(float* p, const float* g, float* m, float* v, long n, float lr, float b1, float b2, float eps,
                  float wd, double step) {
  const float bc1 = 1.f - (float)std::pow((double)b1, step);
  const float bc2sqrt = (float)std::sqrt(1.0 - std::pow((double)b2, step));
  const float stepSize = lr / bc1, decay = 1.f - lr * wd;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (long i = 0; i < n; i++) {
    const float mi = b1 * m[i] + (1.f - b1) * g[i];
    const float vi = b2 * v[i] + (1.f - b2) * g[i] * g[i];
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - stepSize * mi / (std::sqrt(vi) / bc2sqrt + eps);
  }
}

// A counter-based hash (lowbias32): the same random bits for element i whatever the thread count, so a
// bf16-state update is reproducible and a resumed run continues exactly.
static inline uint32_t hash32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

// bf16 of x, rounded up in magnitude with probability equal to the dropped fraction (16 random bits):
// unbiased, so a moment's small increments (v's (1-β2)·g² is below bf16's 2^-8 resolution) add up on
// average instead of being rounded away.
static inline uint16_t stochasticBf16(float x, uint32_t random16) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  return (uint16_t)((b + random16) >> 16);
}

static inline float widenBf16(uint16_t h) {
  const uint32_t b = (uint32_t)h << 16;
  float x;
  std::memcpy(&x, &b, 4);
  return x;
}

// adamw with both moments stored as bfloat16 bits (half the optimizer's memory), stochastically
// rounded; the arithmetic is float32 as in adamw. Eight lanes at a time: the scalar form below is the
// definition (and the tail).
static void adamwBf16(float* p, const float* g, uint16_t* m, uint16_t* v, long n, float lr, float b1, float b2,
                      float eps, float wd, double step, uint32_t seed) {
  const float bc1 = 1.f - (float)std::pow((double)b1, step);
  const float bc2sqrt = (float)std::sqrt(1.0 - std::pow((double)b2, step));
  const float stepSize = lr / bc1, decay = 1.f - lr * wd;
  auto scalar = [&](long i) {
    const float mi = b1 * widenBf16(m[i]) + (1.f - b1) * g[i];
    const float vi = b2 * widenBf16(v[i]) + (1.f - b2) * g[i] * g[i];
    const uint32_t r = hash32((uint32_t)i * 0x9e3779b9u + seed);
    m[i] = stochasticBf16(mi, r >> 16);
    v[i] = stochasticBf16(vi, r & 0xffffu);
    p[i] = p[i] * decay - stepSize * mi / (std::sqrt(vi) / bc2sqrt + eps);
  };
  const long blocks = n / 8;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (long blk = 0; blk < blocks; blk++) {
    const long i = blk * 8;
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    auto widen8 = [](const uint16_t* h) {
      const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)h));
      return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
    };
    const __m256 gi = _mm256_loadu_ps(g + i);
    const __m256 mi = _mm256_fmadd_ps(_mm256_set1_ps(b1), widen8(m + i), _mm256_mul_ps(_mm256_set1_ps(1.f - b1), gi));
    const __m256 vi = _mm256_fmadd_ps(_mm256_set1_ps(b2), widen8(v + i),
                                      _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(1.f - b2), gi), gi));
    // hash32 of (i + lane)·φ + seed, lane-wise
    __m256i x = _mm256_add_epi32(_mm256_mullo_epi32(_mm256_add_epi32(_mm256_set1_epi32((int)(uint32_t)i), lanes),
                                                    _mm256_set1_epi32((int)0x9e3779b9u)),
                                 _mm256_set1_epi32((int)seed));
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32(0x7feb352d));
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 15));
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32((int)0x846ca68bu));
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
    auto store8 = [](uint16_t* h, __m256 val, __m256i random16) {
      const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_castps_si256(val), random16), 16);
      const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
      _mm_storeu_si128((__m128i*)h, _mm256_castsi256_si128(packed));
    };
    store8(m + i, mi, _mm256_srli_epi32(x, 16));
    store8(v + i, vi, _mm256_and_si256(x, _mm256_set1_epi32(0xffff)));
    const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), _mm256_set1_ps(bc2sqrt)), _mm256_set1_ps(eps));
    const __m256 pi = _mm256_mul_ps(_mm256_loadu_ps(p + i), _mm256_set1_ps(decay));
    _mm256_storeu_ps(p + i, _mm256_sub_ps(pi, _mm256_div_ps(_mm256_mul_ps(_mm256_set1_ps(stepSize), mi), denom)));
  }
  for (long i = blocks * 8; i < n; i++) scalar(i);
}

}  // namespace ops
