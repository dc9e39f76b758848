// Strided single-precision GEMM, C[m,n] (+)= A[m,k]·B[k,n], BLIS-style: B is packed in KC×NR panels,
// A in MR×KC panels, and a register-tiled micro-kernel does the work. Two micro-kernels: AVX-512
// (8×32, chosen at run time when the CPU has avx512f) and AVX2+FMA (6×16, the x86-64-v3 baseline).
// A(i,p) = a[i*ars + p*acs], B(p,j) = b[p*brs + j*bcs], C(i,j) = c[i*crs + j]; strides express
// transposes, so x·Wᵀ with W in [out,in] layout needs no copy beyond the packing.
#pragma once
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace gemm {

#ifndef GEMM_KC
#define GEMM_KC 256
#endif
constexpr int KC = GEMM_KC;
constexpr int MC = 96;  // multiple of both MR values (8 and 6)
constexpr int NC = 4096;

// r[q] ← column q of the 8×8 block r (r[i][q] becomes r[q][i]).
static inline void transpose8(__m256 r[8]) {
  __m256 t[8], s[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int h = 0; h < 8; h += 4) {
    s[h] = _mm256_shuffle_ps(t[h], t[h + 2], _MM_SHUFFLE(1, 0, 1, 0));
    s[h + 1] = _mm256_shuffle_ps(t[h], t[h + 2], _MM_SHUFFLE(3, 2, 3, 2));
    s[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], _MM_SHUFFLE(1, 0, 1, 0));
    s[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int q = 0; q < 4; q++) {
    r[q] = _mm256_permute2f128_ps(s[q], s[q + 4], 0x20);
    r[q + 4] = _mm256_permute2f128_ps(s[q], s[q + 4], 0x31);
  }
}

// Packs rows [0,mr) × cols [0,kc) of A into out[p*MR + i], zero-padding missing rows.
template <int MR>
static inline void packA(int mr, int kc, const float* a, long ars, long acs, float* out) {
  if (acs == 1 && mr == MR && MR <= 8) {
    // rows contiguous in p (x in x·Wᵀ, dY in dY·W): 8 values of each row, transposed in registers, give
    // 8 packed columns of MR values (a masked store writes the MR lanes)
    const __m256i lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32(MR), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    int p = 0;
    for (; p + 8 <= kc; p += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; i++) r[i] = i < MR ? _mm256_loadu_ps(a + i * ars + p) : _mm256_setzero_ps();
      transpose8(r);
      for (int q = 0; q < 8; q++) _mm256_maskstore_ps(out + (p + q) * MR, lanes, r[q]);
    }
    for (; p < kc; p++)
      for (int i = 0; i < MR; i++) out[p * MR + i] = a[i * ars + p];
    return;
  }
  if (acs == 1) {
    for (int i = 0; i < mr; i++) {
      const float* row = a + i * ars;
      for (int p = 0; p < kc; p++) out[p * MR + i] = row[p];
    }
  } else {
    for (int p = 0; p < kc; p++) {
      const float* col = a + p * acs;
      for (int i = 0; i < mr; i++) out[p * MR + i] = col[i * ars];
    }
  }
  for (int i = mr; i < MR; i++)
    for (int p = 0; p < kc; p++) out[p * MR + i] = 0.f;
}

// Packs rows [0,kc) × cols [0,nr) of B into out[p*NR + j], zero-padding missing columns.
template <int NR>
static inline void packB(int kc, int nr, const float* b, long brs, long bcs, float* out) {
  if (bcs == 1) {
    for (int p = 0; p < kc; p++) {
      const float* row = b + p * brs;
      float* o = out + p * NR;
      // NR floats are a few vectors: a libc memcpy call per row was 5% of a training step
      if (nr == NR)
        for (int j = 0; j < NR; j += 8) _mm256_storeu_ps(o + j, _mm256_loadu_ps(row + j));
      else {
        std::memcpy(o, row, sizeof(float) * nr);
        for (int j = nr; j < NR; j++) o[j] = 0.f;
      }
    }
  } else {
    int j = 0;
    // B stored transposed (x·Wᵀ, W [out, in]): 8 columns are 8 contiguous rows of W, turned into 8 packed
    // rows by an 8×8 register transpose. The LM head's product (110 rows × Qwen's 151,936-token head, W
    // packed once per call and used by only 110 rows) went 36–40 → 44–51 GFLOP/s on one AVX2 core.
    if (brs == 1)
      for (; j + 8 <= nr; j += 8) {
        const float* cols = b + j * bcs;
        int p = 0;
        for (; p + 8 <= kc; p += 8) {
          __m256 r[8];
          for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(cols + i * bcs + p);
          transpose8(r);
          for (int q = 0; q < 8; q++) _mm256_storeu_ps(out + (p + q) * NR + j, r[q]);
        }
        for (; p < kc; p++)
          for (int i = 0; i < 8; i++) out[p * NR + j + i] = cols[i * bcs + p];
      }
    for (; j < nr; j++) {
      const float* col = b + j * bcs;
      for (int p = 0; p < kc; p++) out[p * NR + j] = col[p * brs];
    }
    for (int j = nr; j < NR; j++)
      for (int p = 0; p < kc; p++) out[p * NR + j] = 0.f;
  }
}

// Writes an MR×NR tile (row stride NR) into C, adding when `add`, clipped to mr×nr.
template <int MR, int NR>
static inline void storeTile(const float* t, float* c, long crs, bool add, int mr, int nr) {
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) c[i * crs + j] = add ? c[i * crs + j] + t[i * NR + j] : t[i * NR + j];
}

struct Avx512 {
  static constexpr int MR = 8, NR = 32;
  __attribute__((target("avx512f"))) static void kernel(int kc, const float* a, const float* b, float* c,
                                                         long crs, bool add, int mr, int nr) {
    // every loop over the MR rows is unrolled, or GCC may keep acc[] on the stack (measured: 23 against
    // 60 GFLOP/s for the AVX2 kernel when it was not inlined into its caller)
    __m512 acc[MR][2];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int p = 0; p < kc; p++) {
      const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 8
      for (int i = 0; i < MR; i++) {
        const __m512 ai = _mm512_set1_ps(a[i]);
        acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
        acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
      }
      a += MR;
      b += NR;
    }
    if (mr == MR && nr == NR) {
#pragma GCC unroll 8
      for (int i = 0; i < MR; i++) {
        float* ci = c + i * crs;
        if (add) {
          acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_loadu_ps(ci));
          acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_loadu_ps(ci + 16));
        }
        _mm512_storeu_ps(ci, acc[i][0]);
        _mm512_storeu_ps(ci + 16, acc[i][1]);
      }
    } else {
      alignas(64) float t[MR * NR];
#pragma GCC unroll 8
      for (int i = 0; i < MR; i++) {
        _mm512_store_ps(t + i * NR, acc[i][0]);
        _mm512_store_ps(t + i * NR + 16, acc[i][1]);
      }
      storeTile<MR, NR>(t, c, crs, add, mr, nr);
    }
  }
};

struct Avx2 {
  static constexpr int MR = 6, NR = 16;
  static void kernel(int kc, const float* a, const float* b, float* c, long crs, bool add, int mr, int nr) {
    // The C tile is read at the end to add into; fetched now, it arrives while the k loop runs. Without it
    // the adds stalled for a fifth of the kernel's time (perf annotate, 1024×4864×896 on the AVX2 VM,
    // where C's rows come from L3 or DRAM); with it, one core's x·Wᵀ went 48–54 → 57–60 GFLOP/s.
    if (add)
      for (int i = 0; i < mr; i++) {
        _mm_prefetch(reinterpret_cast<const char*>(c + i * crs), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(c + i * crs + NR - 1), _MM_HINT_T0);
      }
    __m256 acc[MR][2];  // loops over MR unrolled, as in Avx512::kernel
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int p = 0; p < kc; p++) {
      const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
      for (int i = 0; i < MR; i++) {
        const __m256 ai = _mm256_broadcast_ss(a + i);
        acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
      }
      a += MR;
      b += NR;
    }
    if (mr == MR && nr == NR) {
#pragma GCC unroll 6
      for (int i = 0; i < MR; i++) {
        float* ci = c + i * crs;
        if (add) {
          acc[i][0] = _mm256_add_ps(acc[i][0], _mm256_loadu_ps(ci));
          acc[i][1] = _mm256_add_ps(acc[i][1], _mm256_loadu_ps(ci + 8));
        }
        _mm256_storeu_ps(ci, acc[i][0]);
        _mm256_storeu_ps(ci + 8, acc[i][1]);
      }
      return;
    }
    alignas(32) float t[MR * NR];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
      _mm256_store_ps(t + i * NR, acc[i][0]);
      _mm256_store_ps(t + i * NR + 8, acc[i][1]);
    }
    storeTile<MR, NR>(t, c, crs, add, mr, nr);
  }
};

// Per-thread packing buffers, grown on demand and kept (no allocation per call).
static inline float* scratch(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// The m rows of C for the current (jc, pc) block with B already packed, MC rows of A packed at a time.
template <class K>
static void macroRows(int m, int nc, int kc, const float* a, long ars, long acs, const float* bp, float* c, long crs,
                      bool add, float* ap) {
  for (int ic = 0; ic < m; ic += MC) {
    const int mc = std::min(MC, m - ic);
    for (int ir = 0; ir < mc; ir += K::MR)
      packA<K::MR>(std::min(K::MR, mc - ir), kc, a + (ic + ir) * ars, ars, acs, ap + ir * kc);
    for (int jr = 0; jr < nc; jr += K::NR) {
      const int nr = std::min(K::NR, nc - jr);
      for (int ir = 0; ir < mc; ir += K::MR)
        K::kernel(kc, ap + ir * kc, bp + jr * kc, c + (ic + ir) * crs + jr, crs, add, std::min(K::MR, mc - ir), nr);
    }
  }
}

// One thread's product, in BLIS's loop order: for each NC-column block and KC-deep slice, B's slice is
// packed (at most KC×NC floats, 4 MB), then every MC-row block of A is packed and multiplied against it.
// A is packed once per column block, so a deep product (the loss's k = vocabulary) packs it once, not once
// per handful of columns.
template <class K>
static void runSerial(int m, int n, int k, const float* a, long ars, long acs, const float* b, long brs, long bcs,
                      float* c, long crs, bool accumulate) {
  static thread_local std::vector<float> abuf, bbuf;
  if (k == 0) {
    if (!accumulate)
      for (int i = 0; i < m; i++) std::memset(c + i * crs, 0, sizeof(float) * n);
    return;
  }
  float* ap = scratch(abuf, (size_t)MC * KC);
  for (int jc = 0; jc < n; jc += NC) {
    const int nc = std::min(NC, n - jc);
    const int ncPad = (nc + K::NR - 1) / K::NR * K::NR;
    float* bp = scratch(bbuf, (size_t)ncPad * KC);
    for (int pc = 0; pc < k; pc += KC) {
      const int kc = std::min(KC, k - pc);
      // panel q (NR columns) at bp + q*NR*kc, as macroRows reads it
      for (int q = 0; q * K::NR < nc; q++)
        packB<K::NR>(kc, std::min(K::NR, nc - q * K::NR), b + pc * brs + (jc + q * K::NR) * bcs, brs, bcs,
                     bp + (long)q * K::NR * kc);
      macroRows<K>(m, nc, kc, a + pc * acs, ars, acs, bp, c + jc, crs, accumulate || pc > 0, ap);
    }
  }
}

// The team's product: each thread computes a contiguous share of the larger of m and n with its own packing
// (the other operand is packed once per thread). Measured on a 2-core AVX2 VM, threads sharing one packed B
// reached 50 GFLOP/s against 58 on one thread; independent shares reach 114. Every output is computed as in
// runSerial, so the result does not depend on the thread count.
template <class K>
static void run(int m, int n, int k, const float* a, long ars, long acs, const float* b, long brs, long bcs, float* c,
                long crs, bool accumulate, bool parallel) {
  const int threads = parallel ? omp_get_max_threads() : 1;
  if (threads <= 1) return runSerial<K>(m, n, k, a, ars, acs, b, brs, bcs, c, crs, accumulate);
  const bool byRows = m >= n;
  const int total = byRows ? m : n, unit = byRows ? K::MR : K::NR;
#pragma omp parallel num_threads(threads)
  {
    const int share = (total + omp_get_num_threads() * unit - 1) / (omp_get_num_threads() * unit) * unit;
    const int lo = omp_get_thread_num() * share, hi = std::min(total, lo + share);
    if (lo < hi && byRows)
      runSerial<K>(hi - lo, n, k, a + lo * ars, ars, acs, b, brs, bcs, c + lo * crs, crs, accumulate);
    else if (lo < hi)
      runSerial<K>(m, hi - lo, k, a, ars, acs, b + lo * bcs, brs, bcs, c + lo, crs, accumulate);
  }
}

// Rows up to which products go through the GEMV (decoding and eval batches). Measured on the AVX2 VM, one
// thread, 4,864×896: 16 rows 3.9–4.3 ms against runSerial's 12.8–13.7, 32 rows 5.9–9.7 against 14.7–18.7.
constexpr int GEMV_MAX_ROWS = 32;

// ---- GEMV: C[m,n] (+)= A[m,k]·Bᵀ-stored for m ≤ GEMV_MAX_ROWS, B read in place (brs == 1, acs == 1) ----
// Decoding one token per sequence multiplies a few rows by a weight W[n][k]. Packing W (as runSerial does)
// reads it three times and wastes most of the micro-kernel's rows; here W is read once, 8 of its rows at a
// time, transposed in registers so that each output is the micro-kernels' own sum — one fma chain in k order
// per KC block, blocks added to C in order — and a row's logits are bit-identical whether it is decoded
// alone, in a batch or in a prefill.

// Columns [j, j+8G) of C for M rows of A; w[i] is row j+i of W (column j+i of B). Each output's fma chain is
// serial, so G column groups run side by side to keep enough independent chains (G·M) in flight.
// `ahead`: floats from a row of this group to the same row of the next one, whose lines are prefetched
// into L2 while this group runs. A group reads 8G short rows side by side (a 10M student's are 1.5 KB),
// too many streams too short for the hardware prefetcher: measured on the AVX2 VM, one thread, a
// 16,384 × 384 W from DRAM, six interleaved runs, 5–10 GB/s without, 10–19 with (a plain AVX2 sum: 9–12).
template <int M, int G>
static inline void gemv8(int k, const float* a, long ars, const float* const* w, long ahead, float* c, long crs,
                         bool accumulate) {
  __m256 out[G][M];
  for (int g = 0; g < G; g++)
    for (int r = 0; r < M; r++) out[g][r] = accumulate ? _mm256_loadu_ps(c + r * crs + g * 8) : _mm256_setzero_ps();
  for (int pc = 0; pc < k; pc += KC) {
    const int end = std::min(k, pc + KC);
    __m256 acc[G][M];
    for (int g = 0; g < G; g++)
      for (int r = 0; r < M; r++) acc[g][r] = _mm256_setzero_ps();
    int p = pc;
    for (; p + 8 <= end; p += 8)
      for (int g = 0; g < G; g++) {
        __m256 col[8];
        for (int i = 0; i < 8; i++) col[i] = _mm256_loadu_ps(w[g * 8 + i] + p);
        if ((p & 15) == 0)  // a line is 16 floats
          for (int i = 0; i < 8; i++) _mm_prefetch(reinterpret_cast<const char*>(w[g * 8 + i] + p + ahead), _MM_HINT_T1);
        transpose8(col);
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++)
          for (int r = 0; r < M; r++)
            acc[g][r] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + r * ars + p + q), col[q], acc[g][r]);
      }
    for (; p < end; p++)
      for (int g = 0; g < G; g++) {
        const float* const* wg = w + g * 8;
        const __m256 col = _mm256_setr_ps(wg[0][p], wg[1][p], wg[2][p], wg[3][p], wg[4][p], wg[5][p], wg[6][p], wg[7][p]);
        for (int r = 0; r < M; r++) acc[g][r] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + r * ars + p), col, acc[g][r]);
      }
    // the first block's sum is stored as is, later ones added: C = ((C₀ +) t₀ + t₁) + …
    for (int g = 0; g < G; g++)
      for (int r = 0; r < M; r++) out[g][r] = (pc == 0 && !accumulate) ? acc[g][r] : _mm256_add_ps(out[g][r], acc[g][r]);
  }
  for (int g = 0; g < G; g++)
    for (int r = 0; r < M; r++) _mm256_storeu_ps(c + r * crs + g * 8, out[g][r]);
}

// One column j of C for m rows (the last n mod 8 columns), the same sums in scalar fma.
static inline void gemv1(int m, int k, const float* a, long ars, const float* w, float* c, long crs, bool accumulate) {
  for (int r = 0; r < m; r++) {
    float out = accumulate ? c[r * crs] : 0.f;
    for (int pc = 0; pc < k; pc += KC) {
      float acc = 0.f;
      for (int p = pc, end = std::min(k, pc + KC); p < end; p++) acc = std::fma(a[r * ars + p], w[p], acc);
      out = (pc == 0 && !accumulate) ? acc : out + acc;
    }
    c[r * crs] = out;
  }
}

// Rows [0, M) of columns [j, j+8) for one KC block, from a panel[p*8 + i] = W[j+i][pc+p] in L1.
template <int M>
static inline void panelRows(int kc, const float* a, long ars, const float* panel, float* c, long crs, bool add) {
  __m256 acc[M];
  for (int r = 0; r < M; r++) acc[r] = _mm256_setzero_ps();
  for (int p = 0; p < kc; p++) {
    const __m256 col = _mm256_load_ps(panel + p * 8);
    for (int r = 0; r < M; r++) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + r * ars + p), col, acc[r]);
  }
  for (int r = 0; r < M; r++) {
    float* cr = c + r * crs;
    _mm256_storeu_ps(cr, add ? _mm256_add_ps(_mm256_loadu_ps(cr), acc[r]) : acc[r]);
  }
}

// Columns [j, j+8) for m > 4 rows: each KC×8 block of W is transposed once into an L1 panel, then every group
// of 8 rows runs its fma chains over it — W is still read once, whatever m.
static inline void gemv8Panel(int m, int k, const float* a, long ars, const float* const w[8], float* c, long crs,
                              bool accumulate) {
  alignas(32) float panel[KC * 8];
  for (int pc = 0; pc < k; pc += KC) {
    const int kc = std::min(KC, k - pc);
    int p = 0;
    for (; p + 8 <= kc; p += 8) {
      __m256 col[8];
      for (int i = 0; i < 8; i++) col[i] = _mm256_loadu_ps(w[i] + pc + p);
      transpose8(col);
      for (int q = 0; q < 8; q++) _mm256_store_ps(panel + (p + q) * 8, col[q]);
    }
    for (; p < kc; p++)
      for (int i = 0; i < 8; i++) panel[p * 8 + i] = w[i][pc + p];
    const bool add = accumulate || pc > 0;
    for (int r0 = 0; r0 < m; r0 += 8) {
      const float* ar = a + r0 * ars + pc;
      float* cr = c + r0 * crs;
      switch (std::min(8, m - r0)) {
        case 1: panelRows<1>(kc, ar, ars, panel, cr, crs, add); break;
        case 2: panelRows<2>(kc, ar, ars, panel, cr, crs, add); break;
        case 3: panelRows<3>(kc, ar, ars, panel, cr, crs, add); break;
        case 4: panelRows<4>(kc, ar, ars, panel, cr, crs, add); break;
        case 5: panelRows<5>(kc, ar, ars, panel, cr, crs, add); break;
        case 6: panelRows<6>(kc, ar, ars, panel, cr, crs, add); break;
        case 7: panelRows<7>(kc, ar, ars, panel, cr, crs, add); break;
        default: panelRows<8>(kc, ar, ars, panel, cr, crs, add);
      }
    }
  }
}

// Columns [j0, j1) of C: up to 4 rows straight from registers (1–2 rows: 2 column groups at once),
// more through a panel; the last j1 − j0 mod 8 columns in scalar.
static void gemvColumns(int j0, int j1, int m, int k, const float* a, long ars, const float* b, long bcs, float* c,
                        long crs, bool accumulate) {
  const int G = m <= 2 ? 2 : 1;  // measured: 4 groups spill registers, 3–4 rows × 2 groups too
  int j = j0;
  while (j + 8 <= j1) {
    const int g = j + 8 * G <= j1 ? G : 1;
    const float* w[16];
    for (int i = 0; i < 8 * g; i++) w[i] = b + (long)(j + i) * bcs;
    float* cj = c + j;
    const long ahead = 8L * g * bcs;  // prefetching past W's end is harmless: prefetches do not fault
    if (m == 1 && g == 2) gemv8<1, 2>(k, a, ars, w, ahead, cj, crs, accumulate);
    else if (m == 1) gemv8<1, 1>(k, a, ars, w, ahead, cj, crs, accumulate);
    else if (m == 2 && g == 2) gemv8<2, 2>(k, a, ars, w, ahead, cj, crs, accumulate);
    else if (m == 2) gemv8<2, 1>(k, a, ars, w, ahead, cj, crs, accumulate);
    else if (m == 3) gemv8<3, 1>(k, a, ars, w, ahead, cj, crs, accumulate);
    else if (m == 4) gemv8<4, 1>(k, a, ars, w, ahead, cj, crs, accumulate);
    else gemv8Panel(m, k, a, ars, w, cj, crs, accumulate);
    j += 8 * g;
  }
  for (; j < j1; j++) gemv1(m, k, a, ars, b + (long)j * bcs, c + j, crs, accumulate);
}


static void gemv(int m, int n, int k, const float* a, long ars, const float* b, long bcs, float* c, long crs,
                 bool accumulate, bool parallel) {
  constexpr int cols = 64;  // per task: 8 column groups
  const int tasks = (n + cols - 1) / cols;
#pragma omp parallel for schedule(static) if (parallel && tasks > 1)
  for (int t = 0; t < tasks; t++)
    gemvColumns(t * cols, std::min(n, t * cols + cols), m, k, a, ars, b, bcs, c, crs, accumulate);
}

// setGemmIsa(1) forces the AVX2 kernel on an AVX-512 machine, so tests cover both kernels here
static inline bool& forceAvx2() {
  static bool force = false;
  return force;
}

static bool hasAvx512() {
  static const bool yes = __builtin_cpu_supports("avx512f");
  return yes && !forceAvx2();
}

// parallel: spread over the OpenMP team (call from serial code); false inside a parallel region.
static inline void sgemm(int m, int n, int k, const float* a, long ars, long acs, const float* b, long brs, long bcs,
                         float* c, long crs, bool accumulate, bool parallel) {
  if (m <= 0 || n <= 0) return;
  // small products are not worth waking the team
  if ((double)m * n * k < 2e5) parallel = false;
  if (m <= GEMV_MAX_ROWS && acs == 1 && brs == 1 && k > 0) return gemv(m, n, k, a, ars, b, bcs, c, crs, accumulate, parallel);
  if (hasAvx512())
    run<Avx512>(m, n, k, a, ars, acs, b, brs, bcs, c, crs, accumulate, parallel);
  else
    run<Avx2>(m, n, k, a, ars, acs, b, brs, bcs, c, crs, accumulate, parallel);
}

}  // namespace gemm
