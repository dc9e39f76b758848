/**
 * The middle backend, for machines where the native addon could not be built: the JS kernels with the
 * GEMM (and attention, as products on it) replaced by WebAssembly SIMD (wasm/gemm.as, compiled by AssemblyScript during `npm ci` into
 * wasm/build/gemm.wasm). Single-threaded. The operands are copied into the module's memory in the layout
 * the kernel wants (A row-major, B in 8-column panels); the copies are O(mk + kn + mn) against O(mnk) work.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { attentionBackwardGemm, attentionForwardGemm } from "./attention-gemm.ts";
import type { Kernels } from "./kernels.ts";
import { jsKernels } from "./kernels-js.ts";

export const wasmModulePath = fileURLToPath(new URL("./wasm/build/gemm.wasm", import.meta.url));

// the WebAssembly globals Node has; the project's lib (ES2023, no DOM) does not declare them
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
};

interface GemmExports {
  memory: WasmMemory;
  gemm(mp: number, np: number, k: number, a: number, b: number, c: number): void;
}

export function loadWasmKernels(): Kernels | null {
  if (!existsSync(wasmModulePath)) return null;
  let ex: GemmExports;
  try {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(wasmModulePath)), {
      env: { abort: () => {} },
    });
    ex = instance.exports as unknown as GemmExports;
  } catch {
    return null;
  }
  // our buffers start after the module's own static data
  const base = ex.memory.buffer.byteLength;
  let f = new Float32Array(ex.memory.buffer);

  const gemm: Kernels["gemm"] = (m, n, k, a, aOff, ars, acs, b, bOff, brs, bcs, c, cOff, crs, accumulate) => {
    if (m <= 0 || n <= 0) return;
    if (k === 0) {
      if (!accumulate) for (let i = 0; i < m; i++) c.fill(0, cOff + i * crs, cOff + i * crs + n);
      return;
    }
    const mp = (m + 3) & ~3;
    const np = (n + 7) & ~7;
    const need = base + 4 * (mp * k + k * np + mp * np);
    if (need > ex.memory.buffer.byteLength)
      ex.memory.grow(Math.ceil((need - ex.memory.buffer.byteLength) / 65536));
    if (f.buffer !== ex.memory.buffer) f = new Float32Array(ex.memory.buffer);
    const A = base / 4;
    const B = A + mp * k;
    const C = B + k * np;
    for (let i = 0; i < m; i++) {
      const src = aOff + i * ars;
      if (acs === 1) f.set(a.subarray(src, src + k), A + i * k);
      else for (let p = 0; p < k; p++) f[A + i * k + p] = a[src + p * acs]!;
    }
    f.fill(0, A + m * k, A + mp * k);
    for (let q = 0; q < np / 8; q++) {
      const panel = B + q * k * 8;
      for (let jj = 0; jj < 8; jj++) {
        const j = q * 8 + jj;
        if (j >= n) for (let p = 0; p < k; p++) f[panel + p * 8 + jj] = 0;
        else {
          const src = bOff + j * bcs;
          for (let p = 0; p < k; p++) f[panel + p * 8 + jj] = b[src + p * brs]!;
        }
      }
    }
    ex.gemm(mp, np, k, A * 4, B * 4, C * 4);
    for (let i = 0; i < m; i++) {
      const row = C + i * np;
      const dst = cOff + i * crs;
      if (accumulate) for (let j = 0; j < n; j++) c[dst + j]! += f[row + j]!;
      else c.set(f.subarray(row, row + n), dst);
    }
  };
  return {
    ...jsKernels,
    name: "wasm",
    gemm,
    attentionForward: attentionForwardGemm(gemm),
    attentionBackward: attentionBackwardGemm(gemm),
  };
}
