/**
 * The native kernels against the JS reference on shapes that exercise edge tiles, strides (transposes),
 * accumulation, attention row blocks, GQA and packed segments. Skipped where the addon is not built.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { uniformArray } from "../../test/support/gradcheck.ts";
import { bf16ToF32, f32ToBf16 } from "../model/dtype.ts";
import type { Kernels } from "./kernels.ts";
import { jsKernels } from "./kernels-js.ts";
import { loadWasmKernels } from "./kernels-wasm.ts";
import { loadNativeKernels, setNativeGemmIsa } from "./native-loader.ts";

const native = loadNativeKernels();
const skip = native ? false : "native addon not built (npm run build:kernels)";

function close(a: Float32Array, b: Float32Array, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  assert.ok(worst <= tol * Math.max(1, scale), `${what}: max difference ${worst} (scale ${scale})`);
}

/** Runs f with each backend on copies of the same buffers; returns both results. */
function both(
  bufs: Float32Array[],
  f: (k: Kernels, b: Float32Array[]) => void,
  other: Kernels = native!,
): [Float32Array[], Float32Array[]] {
  const a = bufs.map((b) => b.slice());
  const b = bufs.map((x) => x.slice());
  f(jsKernels, a);
  f(other, b);
  return [a, b];
}

const wasm = loadWasmKernels();

function gemmCases(other: Kernels): void {
  for (const [m, n, k] of [
    [1, 1, 1],
    [7, 33, 5],
    [37, 45, 70],
    [130, 97, 300],
    [300, 64, 33],
    [40, 4200, 20], // more columns than one NC block
  ] as const) {
    for (const ta of [false, true])
      for (const tb of [false, true])
        for (const acc of [false, true]) {
          const A = uniformArray(m * k + 3, m + k);
          const B = uniformArray(k * n + 5, n + 7);
          const C = uniformArray(m * (n + 2) + 1, 3);
          const [ars, acs] = ta ? [1, m] : [k, 1];
          const [brs, bcs] = tb ? [1, k] : [n, 1];
          const [r1, r2] = both(
            [C],
            (K, [c]) => K.gemm(m, n, k, A, 3, ars, acs, B, 5, brs, bcs, c!, 1, n + 2, acc),
            other,
          );
          close(r2[0]!, r1[0]!, 1e-5, `${other.name} gemm ${m}×${n}×${k} ta=${ta} tb=${tb} acc=${acc}`);
        }
  }
}

test("native gemm: every transpose combination, edge tiles, accumulate", { skip }, () => gemmCases(native!));
test("native gemm with the AVX2 micro-kernel forced", { skip }, () => {
  assert.equal(setNativeGemmIsa("avx2"), "avx2");
  try {
    gemmCases(native!);
  } finally {
    setNativeGemmIsa("auto");
  }
});
test(
  "wasm gemm: every transpose combination, edge tiles, accumulate",
  { skip: wasm ? false : "wasm not built" },
  () => gemmCases(wasm!),
);

// Decoding multiplies a few rows by a weight stored [out, in] (the GEMV path); each row must give exactly
// the values it gets inside a prefill-sized product, or greedy decoding would depend on the batch.
function decodeRowCases(): void {
  const [M, n, k] = [40, 77, 603]; // 3 KC blocks, a k tail, column tails past the 16- and 8-column groups
  const x = uniformArray(M * k, 11);
  const w = uniformArray(n * k, 12);
  for (const acc of [false, true]) {
    const full = uniformArray(M * n, 13);
    native!.gemm(M, n, k, x, 0, k, 1, w, 0, 1, k, full, 0, n, acc);
    for (const m of [1, 2, 3, 4, 5, 8, 9, 16, 31, 32]) {
      const rows = uniformArray(M * n, 13).subarray(n, n + m * n);
      native!.gemm(m, n, k, x, k, k, 1, w, 0, 1, k, rows, 0, n, acc);
      const want = full.subarray(n, n + m * n);
      const differ = rows.findIndex((v, i) => v !== want[i]);
      assert.equal(
        differ,
        -1,
        `${m} rows, accumulate=${acc}: element ${differ} differs from the big product`,
      );
    }
  }
}

test("native gemm: 1–32 decoding rows are bit-identical to the same rows of a big product", { skip }, () => {
  decodeRowCases();
  assert.equal(setNativeGemmIsa("avx2"), "avx2");
  try {
    decodeRowCases();
  } finally {
    setNativeGemmIsa("auto");
  }
});

test("decode attention over a cache equals the last row of causal attention", { skip }, () => {
  const [T, H, KVH, D] = [45, 6, 2, 20]; // D not a multiple of 8
  const q = uniformArray(T * H * D, 21, 2);
  const k = uniformArray(T * KVH * D, 22, 2);
  const v = uniformArray(T * KVH * D, 23);
  const scale = 1 / Math.sqrt(D);
  const full = new Float32Array(T * H * D);
  jsKernels.attentionForward(
    q,
    k,
    v,
    new Int32Array(T),
    full,
    new Float32Array(H * T),
    1,
    T,
    H,
    KVH,
    D,
    scale,
  );
  const last = full.slice((T - 1) * H * D);
  for (const K of [jsKernels, native!]) {
    const out = new Float32Array(H * D + 3);
    K.decodeAttention(q, (T - 1) * H * D, k, v, T, out, 3, H, KVH, D, scale);
    close(out.subarray(3), last, 1e-5, `${K.name} decode attention`);
  }
});

function attentionCases(other: Kernels): void {
  const [B, T, H, KVH, D] = [2, 100, 4, 2, 16];
  const seg = new Int32Array(B * T);
  for (let i = 0; i < B * T; i++) seg[i] = i < 37 ? 0 : i < T ? 1 : 2;
  const q = uniformArray(B * T * H * D, 1, 2);
  const k = uniformArray(B * T * KVH * D, 2, 2);
  const v = uniformArray(B * T * KVH * D, 3);
  const dout = uniformArray(B * T * H * D, 4);
  const scale = 1 / Math.sqrt(D);
  const [f1, f2] = both(
    [new Float32Array(B * T * H * D), new Float32Array(B * H * T)],
    (K, [o, p]) => K.attentionForward(q, k, v, seg, o!, p!, B, T, H, KVH, D, scale),
    other,
  );
  close(f2[0]!, f1[0]!, 1e-5, "attention out");
  close(f2[1]!, f1[1]!, 1e-5, "attention log-sum-exp");
  const grads = [uniformArray(q.length, 5), uniformArray(k.length, 6), uniformArray(v.length, 7)];
  const [b1, b2] = both(
    grads,
    (K, [dq, dk, dv]) =>
      K.attentionBackward(dout, q, k, v, seg, f1[1]!, dq!, dk!, dv!, B, T, H, KVH, D, scale),
    other,
  );
  for (let i = 0; i < 3; i++) close(b2[i]!, b1[i]!, 1e-4, `attention d${"qkv"[i]}`);
}

test("native attention forward and backward agree, T not a multiple of the row block", { skip }, () =>
  attentionCases(native!),
);
test("wasm attention agrees", { skip: wasm ? false : "wasm not built" }, () => attentionCases(wasm!));

test("norm, rope, swiglu, cross-entropy, adamw, reductions agree", { skip }, () => {
  const [rows, dim] = [300, 48];
  const x = uniformArray(rows * dim, 1, 3);
  const w = uniformArray(dim, 2);
  const dy = uniformArray(rows * dim, 3);
  const rstd = new Float32Array(rows);
  const [n1, n2] = both([new Float32Array(rows * dim), new Float32Array(rows)], (K, [o, r]) =>
    K.rmsnormForward(x, w, o!, r!, rows, dim, 1e-6),
  );
  close(n2[0]!, n1[0]!, 1e-5, "rmsnorm out");
  rstd.set(n1[1]!);
  const [nb1, nb2] = both([uniformArray(rows * dim, 4), uniformArray(dim, 5)], (K, [dx, dw]) =>
    K.rmsnormBackward(dy, x, w, rstd, dx!, dw!, rows, dim),
  );
  close(nb2[0]!, nb1[0]!, 1e-5, "rmsnorm dx");
  close(nb2[1]!, nb1[1]!, 1e-4, "rmsnorm dw");

  const cos = uniformArray(64 * 8, 6);
  const sin = uniformArray(64 * 8, 7);
  const pos = Int32Array.from({ length: rows }, (_, i) => (i * 7) % 64);
  for (const [sign, acc] of [
    [1, false],
    [-1, true],
  ] as const) {
    const [r1, r2] = both([uniformArray(rows * dim, 8)], (K, [o]) =>
      K.rope(x, o!, cos, sin, pos, rows, 3, 16, sign, acc),
    );
    close(r2[0]!, r1[0]!, 1e-5, `rope sign ${sign}`);
  }

  const n = rows * dim + 5;
  const gate = uniformArray(n, 9, 6);
  const up = uniformArray(n, 10);
  const [s1, s2] = both([new Float32Array(n)], (K, [o]) => K.swigluForward(gate, up, o!, n));
  close(s2[0]!, s1[0]!, 1e-5, "swiglu");
  const [sb1, sb2] = both([uniformArray(n, 11), uniformArray(n, 12)], (K, [dg, du]) =>
    K.swigluBackward(dy, gate, up, dg!, du!, rows * dim),
  );
  close(sb2[0]!, sb1[0]!, 1e-5, "swiglu dgate");
  close(sb2[1]!, sb1[1]!, 1e-5, "swiglu dup");

  const vocab = 203;
  const logits = uniformArray(rows * vocab, 13, 8);
  const targets = Int32Array.from({ length: rows }, (_, i) => (i * 31) % vocab);
  const weights = Float32Array.from({ length: rows }, (_, i) => (i % 5 === 0 ? 0 : 1 + (i % 3)));
  const d1 = uniformArray(rows * vocab, 14);
  const d2 = d1.slice();
  const l1 = jsKernels.crossEntropy(logits, targets, weights, rows, vocab, d1, 0.01);
  const l2 = native!.crossEntropy(logits, targets, weights, rows, vocab, d2, 0.01);
  assert.ok(Math.abs(l1 - l2) < 1e-5 * Math.abs(l1), `cross-entropy ${l1} vs ${l2}`);
  close(d2, d1, 1e-5, "cross-entropy dlogits");

  const g = uniformArray(n, 15);
  const [a1, a2] = both(
    [uniformArray(n, 16), uniformArray(n, 17, 0.1), uniformArray(n, 18).map(Math.abs)],
    (K, [p, m, v]) => K.adamw(p!, g, m!, v!, n, 1e-3, 0.9, 0.95, 1e-8, 0.1, 3),
  );
  for (let i = 0; i < 3; i++) close(a2[i]!, a1[i]!, 1e-5, `adamw ${i}`);
  // bf16 moments: the same hashed rounding bits on both backends; a float32 rounding difference may still
  // move a stored moment by one bf16 step on a rare element
  const bits = (seed: number, scale = 1) => f32ToBf16(uniformArray(n, seed, scale).map(Math.abs));
  const runBf16 = (K: Kernels) => {
    const [p, m, v] = [uniformArray(n, 16), bits(17, 0.1), bits(18)];
    K.adamwBf16(p, g, m, v, n, 1e-3, 0.9, 0.95, 1e-8, 0.1, 3, 0x9e3779b9);
    return [p, bf16ToF32(m), bf16ToF32(v)];
  };
  const [b1, b2] = [runBf16(jsKernels), runBf16(native!)];
  close(b2[0]!, b1[0]!, 1e-5, "adamwBf16 p");
  for (let i = 1; i < 3; i++) close(b2[i]!, b1[i]!, 2 ** -7, `adamwBf16 moment ${i}`);
  assert.ok(Math.abs(jsKernels.sumSquares(g, n) - native!.sumSquares(g, n)) < 1e-3);
  const [e1, e2] = both([new Float32Array(n), uniformArray(n, 19)], (K, [o, d]) => {
    K.add(g, up, o!, n);
    K.accumulate(d!, g, n);
  });
  close(e2[0]!, e1[0]!, 0, "add");
  close(e2[1]!, e1[1]!, 0, "accumulate");
  const [c1, c2] = both([g], (K, [x]) => K.scale(x!, n, 0.3));
  close(c2[0]!, c1[0]!, 1e-6, "scale");
});

test("native kernels reject arrays too small for the call", { skip }, () => {
  assert.throws(() =>
    native!.gemm(
      4,
      4,
      4,
      new Float32Array(15),
      0,
      4,
      1,
      new Float32Array(16),
      0,
      4,
      1,
      new Float32Array(16),
      0,
      4,
      false,
    ),
  );
  assert.throws(() =>
    native!.swigluForward(new Float32Array(3), new Float32Array(4), new Float32Array(4), 4),
  );
  // a cache shorter than the positions asked for
  const [q, kv, out] = [new Float32Array(8), new Float32Array(8 * 3), new Float32Array(8)];
  assert.throws(() => native!.decodeAttention(q, 0, kv, kv, 4, out, 0, 1, 1, 8, 1), /keys/);
});
