// AssemblyScript source of the WebAssembly SIMD GEMM, the fallback when the native addon is missing.
// (Named .as so tsc and biome leave it alone; build.ts copies it to a .ts for the AssemblyScript compiler.)
// C[mp, np] = A[mp, k] · B[k, np] over buffers the caller laid out in linear memory: A row-major with mp a
// multiple of 4, B packed in panels of 8 columns (panel q holds B[p, 8q .. 8q+8) at b + (q*k + p)*32), C
// row-major with np a multiple of 8. A 4×8 register tile: 8 f32x4 accumulators, 2 B loads and 4 splats of A
// per step of p. SIMD128 has no fused multiply-add, so this is a mul and an add.

export function gemm(mp: i32, np: i32, k: i32, a: usize, b: usize, c: usize): void {
  const rowBytes = <usize>k << 2;
  for (let i = 0; i < mp; i += 4) {
    const a0 = a + <usize>i * rowBytes;
    const a1 = a0 + rowBytes;
    const a2 = a1 + rowBytes;
    const a3 = a2 + rowBytes;
    for (let j = 0; j < np; j += 8) {
      let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
      let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
      let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
      let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
      let pb = b + <usize>(j >> 3) * rowBytes * 8;
      for (let p: usize = 0; p < rowBytes; p += 4) {
        const b0 = v128.load(pb);
        const b1 = v128.load(pb, 16);
        pb += 32;
        let x = v128.load32_splat(a0 + p);
        c00 = f32x4.add(c00, f32x4.mul(x, b0));
        c01 = f32x4.add(c01, f32x4.mul(x, b1));
        x = v128.load32_splat(a1 + p);
        c10 = f32x4.add(c10, f32x4.mul(x, b0));
        c11 = f32x4.add(c11, f32x4.mul(x, b1));
        x = v128.load32_splat(a2 + p);
        c20 = f32x4.add(c20, f32x4.mul(x, b0));
        c21 = f32x4.add(c21, f32x4.mul(x, b1));
        x = v128.load32_splat(a3 + p);
        c30 = f32x4.add(c30, f32x4.mul(x, b0));
        c31 = f32x4.add(c31, f32x4.mul(x, b1));
      }
      const pc = c + ((<usize>i * <usize>np + <usize>j) << 2);
      const cr = <usize>np << 2;
      v128.store(pc, c00);
      v128.store(pc, c01, 16);
      v128.store(pc + cr, c10);
      v128.store(pc + cr, c11, 16);
      v128.store(pc + 2 * cr, c20);
      v128.store(pc + 2 * cr, c21, 16);
      v128.store(pc + 3 * cr, c30);
      v128.store(pc + 3 * cr, c31, 16);
    }
  }
}
