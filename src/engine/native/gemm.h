// Strided single-precision GEMM, C[m,n] (+)= A[m,k]·B[k,n], BLIS-style: B is packed in KC×NR panels,
// A in MR×KC panels, and a register-tiled micro-kernel does the work. Two micro-kernels: AVX-512
// (8×32, chosen at run time when the CPU has avx512f) and AVX2+FMA (6×16, the x86-64-v3 baseline).
// A(i,p) = a[i*ars + p*acs], B(p,j) = b[p*brs + j*bcs], C(i,j) = c[i*crs + j]; strides express
// transposes, so x·Wᵀ with W in [out,in] layout needs no copy beyond the packing.
#pragma once
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
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

// Packs rows [0,mr) × cols [0,kc) of A into out[p*MR + i], zero-padding missing rows.
template <int MR>
static inline void packA(int mr, int kc, const float* a, long ars, long acs, float* out) {
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
      std::memcpy(o, row, sizeof(float) * nr);
      for (int j = nr; j < NR; j++) o[j] = 0.f;
    }
  } else {
    for (int j = 0; j < nr; j++) {
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
    __m512 acc[MR][2];
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
    __m256 acc[MR][2];
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
    alignas(32) float t[MR * NR];
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

// One thread's share: rows [i0, i1) of C for the current (jc, pc) block with B already packed.
template <class K>
static void macroRows(int i0, int i1, int nc, int kc, const float* a, long ars, long acs, const float* bp,
                      float* c, long crs, bool add, float* ap) {
  for (int ic = i0; ic < i1; ic += MC) {
    const int mc = std::min(MC, i1 - ic);
    for (int ir = 0; ir < mc; ir += K::MR)
      packA<K::MR>(std::min(K::MR, mc - ir), kc, a + (ic + ir) * ars, ars, acs, ap + ir * kc);
    for (int jr = 0; jr < nc; jr += K::NR) {
      const int nr = std::min(K::NR, nc - jr);
      for (int ir = 0; ir < mc; ir += K::MR)
        K::kernel(kc, ap + ir * kc, bp + jr * kc, c + (ic + ir) * crs + jr, crs, add, std::min(K::MR, mc - ir), nr);
    }
  }
}

template <class K>
static void run(int m, int n, int k, const float* a, long ars, long acs, const float* b, long brs, long bcs, float* c,
                long crs, bool accumulate, bool parallel) {
  static thread_local std::vector<float> abuf, bbuf;
  static std::vector<float> shared;  // packed B for the parallel path
  if (k == 0) {
    if (!accumulate)
      for (int i = 0; i < m; i++) std::memset(c + i * crs, 0, sizeof(float) * n);
    return;
  }
  const int threads = parallel ? omp_get_max_threads() : 1;
  const int kBlocks = (k + KC - 1) / KC;
  // column block: all of B for these columns is packed at once (at most ~16 MB), so the threads meet
  // only twice per block (after packing, at the end) — barriers are what hurts on a busy machine
  int ncMax = std::max(K::NR, (int)std::min<long>(NC, (4L << 20) / std::max(k, 1)) / K::NR * K::NR);
  for (int jc = 0; jc < n; jc += ncMax) {
    const int nc = std::min(ncMax, n - jc);
    const int ncPad = (nc + K::NR - 1) / K::NR * K::NR;
    const int panels = ncPad / K::NR;
    const float* bsrc = b + jc * bcs;
    float* cblk = c + jc;
    // packed B: block pc (KC rows) × panel q at bp + pc*ncPad + q*NR*kc
    auto packPanel = [&](float* bp, int t) {
      const int pcb = t / panels, q = t % panels, pc = pcb * KC, kc = std::min(KC, k - pc);
      packB<K::NR>(kc, std::min(K::NR, nc - q * K::NR), bsrc + pc * brs + q * K::NR * bcs, brs, bcs,
                   bp + (long)pc * ncPad + (long)q * K::NR * kc);
    };
    auto rowsTask = [&](const float* bp, int i0, int i1) {
      float* ap = scratch(abuf, (size_t)MC * KC);
      for (int pc = 0; pc < k; pc += KC) {
        const int kc = std::min(KC, k - pc);
        macroRows<K>(i0, i1, nc, kc, a + pc * acs, ars, acs, bp + (long)pc * ncPad, cblk, crs, accumulate || pc > 0, ap);
      }
    };
    if (threads <= 1) {
      float* bp = scratch(bbuf, (size_t)ncPad * k);
      for (int t = 0; t < kBlocks * panels; t++) packPanel(bp, t);
      rowsTask(bp, 0, m);
    } else {
      float* bp = scratch(shared, (size_t)ncPad * k);
      // enough row blocks for an even split (m can be as small as 256 for weight gradients)
      int bs = (m + threads * 4 - 1) / (threads * 4);
      bs = std::max(K::MR, std::min(MC, (bs + K::MR - 1) / K::MR * K::MR));
      const int blocks = (m + bs - 1) / bs;
#pragma omp parallel num_threads(threads)
      {
#pragma omp for schedule(dynamic, 4)
        for (int t = 0; t < kBlocks * panels; t++) packPanel(bp, t);
#pragma omp for schedule(dynamic, 1)
        for (int blk = 0; blk < blocks; blk++) rowsTask(bp, blk * bs, std::min(m, blk * bs + bs));
      }
    }
  }
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
  if (hasAvx512())
    run<Avx512>(m, n, k, a, ars, acs, b, brs, bcs, c, crs, accumulate, parallel);
  else
    run<Avx2>(m, n, k, a, ars, acs, b, brs, bcs, c, crs, accumulate, parallel);
}

}  // namespace gemm
