// N-API bindings of the native kernels: one JS function per member of the `Kernels` interface
// (src/engine/kernels.ts), same argument order. Every array argument is bounds-checked against the sizes
// the call implies, so a wrong call throws a JS error instead of corrupting memory.
#include <node_api.h>
#include <omp.h>

#include <cstdio>
#include <string>
#include <vector>

#include "gemm.h"
#include "ops.h"

namespace {

struct Args {
  napi_env env;
  napi_value v[16];
  size_t n = 16;
  bool failed = false;

  Args(napi_env e, napi_callback_info info) : env(e) { napi_get_cb_info(e, info, &n, v, nullptr, nullptr); }

  void fail(const std::string& msg) {
    if (!failed) napi_throw_error(env, nullptr, msg.c_str());
    failed = true;
  }

  template <class T>
  T* array(size_t i, napi_typedarray_type want, size_t need, const char* what) {
    napi_typedarray_type type;
    size_t len;
    void* data;
    if (i >= n || napi_get_typedarray_info(env, v[i], &type, &len, &data, nullptr, nullptr) != napi_ok || type != want) {
      fail(std::string(what) + ": expected a typed array of the right kind");
      return nullptr;
    }
    if (len < need) {
      fail(std::string(what) + ": array holds " + std::to_string(len) + " values, the call needs " + std::to_string(need));
      return nullptr;
    }
    return static_cast<T*>(data);
  }
  float* f32(size_t i, size_t need, const char* what) { return array<float>(i, napi_float32_array, need, what); }
  int* i32(size_t i, size_t need, const char* what) { return array<int>(i, napi_int32_array, need, what); }
  bool isNull(size_t i) {
    napi_valuetype t;
    napi_typeof(env, v[i], &t);
    return t == napi_null || t == napi_undefined;
  }
  double num(size_t i) {
    double d = 0;
    if (i >= n || napi_get_value_double(env, v[i], &d) != napi_ok) fail("expected a number argument");
    return d;
  }
  long integer(size_t i) { return (long)num(i); }
  bool flag(size_t i) {
    bool b = false;
    if (i >= n || napi_get_value_bool(env, v[i], &b) != napi_ok) fail("expected a boolean argument");
    return b;
  }
};

napi_value undefinedValue(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// Smallest length an array must have for element (r-1)*rs + (c-1)*cs past off to exist.
size_t extent(long off, long r, long rs, long c, long cs) {
  if (r <= 0 || c <= 0) return 0;
  return (size_t)(off + (r - 1) * rs + (c - 1) * cs + 1);
}

napi_value Gemm(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long m = a.integer(0), n = a.integer(1), k = a.integer(2);
  const long aOff = a.integer(4), ars = a.integer(5), acs = a.integer(6);
  const long bOff = a.integer(8), brs = a.integer(9), bcs = a.integer(10);
  const long cOff = a.integer(12), crs = a.integer(13);
  const bool acc = a.flag(14);
  float* A = a.f32(3, extent(aOff, m, ars, k, acs), "gemm a");
  float* B = a.f32(7, extent(bOff, k, brs, n, bcs), "gemm b");
  float* C = a.f32(11, extent(cOff, m, crs, n, 1), "gemm c");
  if (a.failed) return nullptr;
  gemm::sgemm(m, n, k, A + aOff, ars, acs, B + bOff, brs, bcs, C + cOff, crs, acc, true);
  return undefinedValue(env);
}

napi_value AttentionForward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  ops::AttnShape s{(int)a.integer(6), (int)a.integer(7), (int)a.integer(8), (int)a.integer(9), (int)a.integer(10),
                   (float)a.num(11)};
  const size_t rows = (size_t)s.B * s.T, qn = rows * s.H * s.D, kn = rows * s.KVH * s.D;
  const float *q = a.f32(0, qn, "q"), *k = a.f32(1, kn, "k"), *v = a.f32(2, kn, "v");
  const int* seg = a.i32(3, rows, "seg");
  float *out = a.f32(4, qn, "out"), *lse = a.f32(5, rows * s.H, "lse");
  if (!a.failed && (s.KVH <= 0 || s.H % s.KVH != 0)) a.fail("heads must be a multiple of kvHeads");
  if (a.failed) return nullptr;
  ops::attentionForward(q, k, v, seg, out, lse, s);
  return undefinedValue(env);
}

napi_value AttentionBackward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  ops::AttnShape s{(int)a.integer(9), (int)a.integer(10), (int)a.integer(11), (int)a.integer(12), (int)a.integer(13),
                   (float)a.num(14)};
  const size_t rows = (size_t)s.B * s.T, qn = rows * s.H * s.D, kn = rows * s.KVH * s.D;
  const float *dout = a.f32(0, qn, "dout"), *q = a.f32(1, qn, "q"), *k = a.f32(2, kn, "k"), *v = a.f32(3, kn, "v");
  const int* seg = a.i32(4, rows, "seg");
  const float* lse = a.f32(5, rows * s.H, "lse");
  float *dq = a.f32(6, qn, "dq"), *dk = a.f32(7, kn, "dk"), *dv = a.f32(8, kn, "dv");
  if (!a.failed && (s.KVH <= 0 || s.H % s.KVH != 0)) a.fail("heads must be a multiple of kvHeads");
  if (a.failed) return nullptr;
  ops::attentionBackward(dout, q, k, v, seg, lse, dq, dk, dv, s);
  return undefinedValue(env);
}

napi_value DecodeAttention(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long qOff = a.integer(1), len = a.integer(4), outOff = a.integer(6);
  const long H = a.integer(7), KVH = a.integer(8), D = a.integer(9);
  const float* q = a.f32(0, qOff + H * D, "q");
  const float *keys = a.f32(2, len * KVH * D, "keys"), *values = a.f32(3, len * KVH * D, "values");
  float* out = a.f32(5, outOff + H * D, "out");
  if (!a.failed && (KVH <= 0 || H % KVH != 0)) a.fail("heads must be a multiple of kvHeads");
  if (!a.failed && len <= 0) a.fail("decodeAttention needs at least one cached position");
  if (a.failed) return nullptr;
  ops::decodeAttention(q + qOff, keys, values, (int)len, out + outOff, (int)H, (int)KVH, (int)D, (float)a.num(10));
  return undefinedValue(env);
}

napi_value RmsnormForward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long rows = a.integer(4), dim = a.integer(5);
  const float *x = a.f32(0, rows * dim, "x"), *w = a.f32(1, dim, "w");
  float *out = a.f32(2, rows * dim, "out"), *rstd = a.f32(3, rows, "rstd");
  if (a.failed) return nullptr;
  ops::rmsnormForward(x, w, out, rstd, rows, dim, (float)a.num(6));
  return undefinedValue(env);
}

napi_value RmsnormBackward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long rows = a.integer(6), dim = a.integer(7);
  const float *dy = a.f32(0, rows * dim, "dy"), *x = a.f32(1, rows * dim, "x"), *w = a.f32(2, dim, "w");
  const float* rstd = a.f32(3, rows, "rstd");
  float *dx = a.f32(4, rows * dim, "dx"), *dw = a.f32(5, dim, "dw");
  if (a.failed) return nullptr;
  ops::rmsnormBackward(dy, x, w, rstd, dx, dw, rows, dim);
  return undefinedValue(env);
}

napi_value Rope(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long rows = a.integer(5), heads = a.integer(6), hd = a.integer(7);
  const size_t n = rows * heads * hd;
  const float* x = a.f32(0, n, "x");
  float* out = a.f32(1, n, "out");
  napi_typedarray_type t;
  size_t tableLen = 0;
  napi_get_typedarray_info(env, a.v[2], &t, &tableLen, nullptr, nullptr, nullptr);
  const float *cos = a.f32(2, 0, "cos"), *sin = a.f32(3, tableLen, "sin");
  const int* pos = a.i32(4, rows, "pos");
  if (a.failed) return nullptr;
  for (long r = 0; r < rows; r++)
    if (pos[r] < 0 || (size_t)(pos[r] + 1) * (hd / 2) > tableLen) {
      a.fail("rope: position outside the table");
      return nullptr;
    }
  ops::rope(x, out, cos, sin, pos, rows, heads, hd, (float)a.num(8), a.flag(9));
  return undefinedValue(env);
}

napi_value SwigluForward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long n = a.integer(3);
  const float *g = a.f32(0, n, "gate"), *u = a.f32(1, n, "up");
  float* out = a.f32(2, n, "out");
  if (a.failed) return nullptr;
  ops::swigluForward(g, u, out, n);
  return undefinedValue(env);
}

napi_value SwigluBackward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long n = a.integer(5);
  const float *d = a.f32(0, n, "dout"), *g = a.f32(1, n, "gate"), *u = a.f32(2, n, "up");
  float *dg = a.f32(3, n, "dgate"), *du = a.f32(4, n, "dup");
  if (a.failed) return nullptr;
  ops::swigluBackward(d, g, u, dg, du, n);
  return undefinedValue(env);
}

napi_value CrossEntropy(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long rows = a.integer(3), vocab = a.integer(4);
  const float* logits = a.f32(0, rows * vocab, "logits");
  const int* targets = a.i32(1, rows, "targets");
  const float* weights = a.f32(2, rows, "weights");
  float* d = a.isNull(5) ? nullptr : a.f32(5, rows * vocab, "dlogits");
  if (a.failed) return nullptr;
  for (long r = 0; r < rows; r++)
    if (weights[r] != 0.f && (targets[r] < 0 || targets[r] >= vocab)) {
      a.fail("crossEntropy: target outside the vocabulary");
      return nullptr;
    }
  const double total = ops::crossEntropy(logits, targets, weights, rows, vocab, d, (float)a.num(6));
  napi_value out;
  napi_create_double(env, total, &out);
  return out;
}

napi_value AdamW(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long n = a.integer(4);
  float *p = a.f32(0, n, "p"), *g = a.f32(1, n, "g"), *m = a.f32(2, n, "m"), *v = a.f32(3, n, "v");
  if (a.failed) return nullptr;
  ops::adamw(p, g, m, v, n, (float)a.num(5), (float)a.num(6), (float)a.num(7), (float)a.num(8), (float)a.num(9),
             a.num(10));
  return undefinedValue(env);
}

napi_value AdamWBf16(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long n = a.integer(4);
  float *p = a.f32(0, n, "p"), *g = a.f32(1, n, "g");
  uint16_t* m = a.array<uint16_t>(2, napi_uint16_array, n, "m");
  uint16_t* v = a.array<uint16_t>(3, napi_uint16_array, n, "v");
  if (a.failed) return nullptr;
  ops::adamwBf16(p, g, m, v, n, (float)a.num(5), (float)a.num(6), (float)a.num(7), (float)a.num(8),
                 (float)a.num(9), a.num(10), (uint32_t)a.num(11));
  return undefinedValue(env);
}

napi_value SumSquares(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long n = a.integer(1);
  const float* x = a.f32(0, n, "x");
  if (a.failed) return nullptr;
  // fixed chunks summed in order: the same bits for any thread count (the gradient norm feeds clipping)
  const long chunk = 65536, chunks = (n + chunk - 1) / chunk;
  std::vector<double> part(chunks, 0.0);
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (long c = 0; c < chunks; c++) {
    double s = 0;
    for (long i = c * chunk; i < std::min(n, c * chunk + chunk); i++) s += (double)x[i] * x[i];
    part[c] = s;
  }
  double s = 0;
  for (double p : part) s += p;
  napi_value out;
  napi_create_double(env, s, &out);
  return out;
}

napi_value Scale(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long n = a.integer(1);
  float* x = a.f32(0, n, "x");
  if (a.failed) return nullptr;
  const float s = (float)a.num(2);
#pragma omp parallel for if (n > 65536)
  for (long i = 0; i < n; i++) x[i] *= s;
  return undefinedValue(env);
}

napi_value Add(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long n = a.integer(3);
  const float *x = a.f32(0, n, "a"), *y = a.f32(1, n, "b");
  float* out = a.f32(2, n, "out");
  if (a.failed) return nullptr;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (long i = 0; i < n; i++) out[i] = x[i] + y[i];
  return undefinedValue(env);
}

napi_value Accumulate(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long n = a.integer(2);
  float* dst = a.f32(0, n, "dst");
  const float* src = a.f32(1, n, "src");
  if (a.failed) return nullptr;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (long i = 0; i < n; i++) dst[i] += src[i];
  return undefinedValue(env);
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long t = a.integer(0);
  if (a.failed) return nullptr;
  omp_set_num_threads(t > 0 ? (int)t : 1);
  return undefinedValue(env);
}

napi_value SetGemmIsa(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long isa = a.integer(0);
  if (a.failed) return nullptr;
  gemm::forceAvx2() = isa == 1;
  napi_value out;
  napi_create_string_utf8(env, gemm::hasAvx512() ? "avx512" : "avx2", NAPI_AUTO_LENGTH, &out);
  return out;
}

napi_value Init(napi_env env, napi_value exports) {
  const struct {
    const char* name;
    napi_callback fn;
  } fns[] = {{"gemm", Gemm},
             {"attentionForward", AttentionForward},
             {"attentionBackward", AttentionBackward},
             {"decodeAttention", DecodeAttention},
             {"rmsnormForward", RmsnormForward},
             {"rmsnormBackward", RmsnormBackward},
             {"rope", Rope},
             {"swigluForward", SwigluForward},
             {"swigluBackward", SwigluBackward},
             {"crossEntropy", CrossEntropy},
             {"adamw", AdamW},
             {"adamwBf16", AdamWBf16},
             {"add", Add},
             {"accumulate", Accumulate},
             {"sumSquares", SumSquares},
             {"scale", Scale},
             {"setThreads", SetThreads},
             {"setGemmIsa", SetGemmIsa}};
  for (const auto& f : fns) {
    napi_value fn;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &fn);
    napi_set_named_property(env, exports, f.name, fn);
  }
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
