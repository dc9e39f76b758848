/**
 * Loads the native kernel addon (src/engine/native/build/kernels.node, made by `npm run build:kernels`)
 * when it exists and this CPU can run it; returns null otherwise so the engine falls back to JS.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import type { Kernels } from "./kernels.ts";

export const nativeAddonPath = fileURLToPath(new URL("./native/build/kernels.node", import.meta.url));

interface NativeAddon extends Omit<Kernels, "name"> {
  setThreads(n: number): void;
  /** 0: best the CPU has; 1: force the AVX2 GEMM kernel. Returns the kernel now in use. */
  setGemmIsa(isa: number): "avx512" | "avx2";
}

let loaded: NativeAddon | null = null;

/** Selects the native GEMM micro-kernel (tests run both on AVX-512 machines); null without the addon. */
export function setNativeGemmIsa(isa: "auto" | "avx2"): "avx512" | "avx2" | null {
  return loaded ? loaded.setGemmIsa(isa === "avx2" ? 1 : 0) : null;
}

/** The addon is built for x86-64-v3 (AVX2+FMA); refuse it on CPUs without those rather than crash. */
function cpuSupported(): boolean {
  if (process.arch !== "x64") return false;
  try {
    const flags = readFileSync("/proc/cpuinfo", "utf8").match(/^flags\s*:(.*)$/m)?.[1] ?? "";
    return [" avx2", " fma", " f16c", " bmi2"].every((f) => flags.includes(`${f} `) || flags.endsWith(f));
  } catch {
    return false;
  }
}

export function loadNativeKernels(): Kernels | null {
  if (!existsSync(nativeAddonPath) || !cpuSupported()) return null;
  // libgomp reads this when the addon loads. Its default (spin ~300k iterations before sleeping) is
  // catastrophic on a busy 2-core machine: measured 472 tokens/s spinning vs 2,018 passive on the
  // reference workload with other jobs running; on an idle machine passive costs only wake-up latency.
  if (!process.env.OMP_WAIT_POLICY && !process.env.GOMP_SPINCOUNT) process.env.OMP_WAIT_POLICY = "passive";
  let addon: NativeAddon;
  try {
    addon = createRequire(import.meta.url)(nativeAddonPath) as NativeAddon;
  } catch {
    return null;
  }
  loaded = addon;
  const threads = Number(process.env.DISTILLERY_THREADS) || availableParallelism();
  addon.setThreads(threads);
  return {
    name: "native",
    gemm: addon.gemm,
    attentionForward: addon.attentionForward,
    decodeAttention: addon.decodeAttention,
    attentionBackward: addon.attentionBackward,
    rmsnormForward: addon.rmsnormForward,
    rmsnormBackward: addon.rmsnormBackward,
    rope: addon.rope,
    swigluForward: addon.swigluForward,
    swigluBackward: addon.swigluBackward,
    crossEntropy: addon.crossEntropy,
    adamw: addon.adamw,
    adamwBf16: addon.adamwBf16,
    add: addon.add,
    accumulate: addon.accumulate,
    sumSquares: addon.sumSquares,
    scale: addon.scale,
  };
}
