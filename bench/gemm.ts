/**
 * GEMM micro-benchmark on the reference workload's shapes (2,048 tokens, d 256, SwiGLU 704) and Qwen2.5-0.5B's
 * MLP (d 896, SwiGLU 4,864): the engine's kernels (native on N threads; WASM SIMD and JS on one) and PyTorch's
 * matmul on the same shapes and threads — Debian's (/usr/bin/python3, "torch1") and the reference venv's
 * (.venv-ref or $DISTILLERY_REF_PYTHON, "torch2") where each is installed — in one run. Prints one JSON line
 * of GFLOP/s per shape and backend.
 *
 *   npx tsx bench/gemm.ts [--threads 2]
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Kernels } from "../src/engine/kernels.ts";
import { jsKernels } from "../src/engine/kernels-js.ts";
import { loadWasmKernels } from "../src/engine/kernels-wasm.ts";
import { loadNativeKernels } from "../src/engine/native-loader.ts";

const { values } = parseArgs({ options: { threads: { type: "string", default: "2" } } });
const threads = Number(values.threads);
const startEnv = { ...process.env };
process.env.DISTILLERY_THREADS = String(threads);

/** [name, m, n, k, A transposed, B transposed] as linear forward / input grad / weight grad use them. */
const shapes: [string, number, number, number, boolean, boolean][] = [
  ["x·Wᵀ 2048×704×256", 2048, 704, 256, false, true],
  ["dY·W 2048×256×704", 2048, 256, 704, false, false],
  ["dYᵀ·X 704×256×2048", 704, 256, 2048, true, false],
  ["x·Wᵀ 2048×256×256", 2048, 256, 256, false, true],
  ["x·Wᵀ 2048×4864×896", 2048, 4864, 896, false, true],
  ["dY·W 2048×896×4864", 2048, 896, 4864, false, false],
];

function measure(
  K: Kernels,
  m: number,
  n: number,
  k: number,
  ta: boolean,
  tb: boolean,
  seconds: number,
): number {
  const a = new Float32Array(m * k).map((_, i) => (i % 7) * 0.1);
  const b = new Float32Array(k * n).map((_, i) => (i % 5) * 0.1);
  const c = new Float32Array(m * n);
  const [ars, acs] = ta ? [1, m] : [k, 1];
  const [brs, bcs] = tb ? [1, k] : [n, 1];
  K.gemm(m, n, k, a, 0, ars, acs, b, 0, brs, bcs, c, 0, n, false);
  let reps = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    K.gemm(m, n, k, a, 0, ars, acs, b, 0, brs, bcs, c, 0, n, false);
    reps++;
  }
  return (2 * m * n * k * reps) / ((performance.now() - t0) / 1000) / 1e9;
}

function torchGflops(python: string): number[] | null {
  const code = `
import torch, time, json, sys
torch.set_num_threads(${threads})
out = []
for m, n, k, ta, tb in ${JSON.stringify(shapes.map(([, m, n, k, ta, tb]) => [m, n, k, ta ? 1 : 0, tb ? 1 : 0]))}:
    a = torch.rand(k, m).t() if ta else torch.rand(m, k)
    b = torch.rand(n, k).t() if tb else torch.rand(k, n)
    a @ b
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 1.0:
        a @ b; reps += 1
    out.append(2 * m * n * k * reps / (time.perf_counter() - t0) / 1e9)
print(json.dumps(out))`;
  const r = spawnSync(python, ["-c", code], {
    env: { ...startEnv, OPENBLAS_NUM_THREADS: "1" },
    encoding: "utf8",
  });
  return r.status === 0 ? (JSON.parse(r.stdout.trim()) as number[]) : null;
}

const native = loadNativeKernels();
const wasm = loadWasmKernels();
const torch1 = torchGflops("/usr/bin/python3");
const torch2 = torchGflops(
  process.env.DISTILLERY_REF_PYTHON ?? fileURLToPath(new URL("../.venv-ref/bin/python", import.meta.url)),
);
const result: Record<string, Record<string, number | null>> = {};
shapes.forEach(([name, m, n, k, ta, tb], i) => {
  const big = m * n * k > 1e9;
  result[name] = {
    native: native ? Math.round(measure(native, m, n, k, ta, tb, 1)) : null,
    // one call of the Qwen shapes takes the JS kernels a minute: only the reference shapes run there
    wasm: wasm && !big ? Math.round(measure(wasm, m, n, k, ta, tb, 0.5) * 10) / 10 : null,
    js: big ? null : Math.round(measure(jsKernels, m, n, k, ta, tb, 0.5) * 10) / 10,
    torch1: torch1 ? Math.round(torch1[i]!) : null,
    torch2: torch2 ? Math.round(torch2[i]!) : null,
  };
});
console.log(JSON.stringify({ threads, gflops: result }));
