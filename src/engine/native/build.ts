/**
 * Builds the code that needs a build: the WebAssembly SIMD GEMM (../wasm/gemm.as → ../wasm/build/gemm.wasm)
 * with AssemblyScript, the native addon (kernels.cc → build/kernels.node) with the system C++ compiler
 * and the Node headers already on the machine, and the GGUF quantizer of `distill export`
 * (src/export/native/quantize.c → build/distill-quantize) with the C compiler; runs from `npm ci` (the
 * "prepare" script). Never fails the install: whatever cannot be built is reported, the engine falls back
 * (native → wasm → js) and export offers F32/F16 only.
 * Flags: -O3, x86-64-v3 (AVX2+FMA) as the baseline, AVX-512 only in the GEMM kernel behind a run-time
 * CPU check, OpenMP for threads.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "build", "kernels.node");

function say(msg: string): void {
  process.stderr.write(`build:kernels: ${msg}\n`);
}

function nodeIncludeDir(): string | null {
  const candidates = [
    process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, "include", "node"),
    resolve(dirname(process.execPath), "..", "include", "node"),
    "/usr/include/node",
    "/usr/local/include/node",
  ];
  for (const c of candidates) if (c && existsSync(join(c, "node_api.h"))) return c;
  return null;
}

/**
 * True when `output` exists and is newer than every source it is built from: `npx distill` runs this
 * script again (npm's "prepare" for the linked package), and a minute of g++ for nothing is a poor first
 * command. DISTILLERY_REBUILD_KERNELS=1 builds anyway.
 */
function upToDate(output: string, sources: string[]): boolean {
  if (process.env.DISTILLERY_REBUILD_KERNELS || !existsSync(output)) return false;
  const built = statSync(output).mtimeMs;
  return sources.every((s) => statSync(s).mtimeMs < built);
}

/** Builds the addon; returns null on success, else why not. */
function build(): string | null {
  if (process.env.DISTILLERY_SKIP_NATIVE) return "skipped (DISTILLERY_SKIP_NATIVE)";
  const sources = ["kernels.cc", "gemm.h", "ops.h", "build.ts"].map((f) => join(here, f));
  if (upToDate(out, sources)) return `${out} is up to date`;
  if (process.platform !== "linux" || process.arch !== "x64")
    return `no native kernels for ${process.platform}-${process.arch}; using JS kernels`;
  const include = nodeIncludeDir();
  if (!include) return "Node headers (node_api.h) not found; using JS kernels";
  const cxx = process.env.CXX || "g++";
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp`;
  const common = ["-O3", "-std=c++17", "-fopenmp", "-fPIC", "-shared", "-DNODE_GYP_MODULE_NAME=kernels"];
  // x86-64-v3 needs GCC ≥ 11 / clang ≥ 12; the explicit feature list is the same set for older compilers
  for (const arch of [["-march=x86-64-v3"], ["-mavx2", "-mfma", "-mf16c", "-mbmi", "-mbmi2"]]) {
    const args = [...common, ...arch, `-I${include}`, join(here, "kernels.cc"), "-o", tmp];
    const r = spawnSync(cxx, args, { stdio: ["ignore", "inherit", "pipe"], encoding: "utf8" });
    if (r.error) return `${cxx} not available (${r.error.message}); using JS kernels`;
    if (r.status === 0) {
      renameSync(tmp, out);
      say(`built ${out}`);
      return null;
    }
    say(`${cxx} ${arch.join(" ")} failed:\n${r.stderr.slice(0, 2000)}`);
  }
  rmSync(tmp, { force: true });
  return "native build failed; using JS kernels";
}

/** Compiles wasm/gemm.as with AssemblyScript (a devDependency) into wasm/build/gemm.wasm. */
function buildWasm(): string | null {
  const src = join(here, "..", "wasm", "gemm.as");
  const dir = join(here, "..", "wasm", "build");
  const asc = resolve(here, "..", "..", "..", "node_modules", "assemblyscript", "bin", "asc.js");
  if (!existsSync(asc)) return "assemblyscript not installed; no WASM kernels";
  if (upToDate(join(dir, "gemm.wasm"), [src, fileURLToPath(import.meta.url)]))
    return `${join(dir, "gemm.wasm")} is up to date`;
  mkdirSync(dir, { recursive: true });
  // asc only reads .ts sources; the .as name keeps tsc and biome off AssemblyScript's types
  copyFileSync(src, join(dir, "gemm.ts"));
  const args = [asc, join(dir, "gemm.ts"), "-O3", "--runtime", "stub", "--noAssert", "--enable", "simd"];
  const r = spawnSync(process.execPath, [...args, "-o", join(dir, "gemm.wasm")], { encoding: "utf8" });
  rmSync(join(dir, "gemm.ts"), { force: true });
  if (r.status !== 0)
    return `AssemblyScript build failed:\n${(r.stderr || r.stdout || String(r.error)).slice(0, 2000)}`;
  say(`built ${join(dir, "gemm.wasm")}`);
  return null;
}

/** Compiles the quantizer program (it opens node-llama-cpp's libllama at run time, so no link step). */
function buildQuantizer(): string | null {
  const src = resolve(here, "..", "..", "export", "native", "quantize.c");
  const exe = resolve(here, "..", "..", "export", "native", "build", "distill-quantize");
  if (upToDate(exe, [src])) return `${exe} is up to date`;
  mkdirSync(dirname(exe), { recursive: true });
  const cc = process.env.CC || "cc";
  const r = spawnSync(cc, ["-O2", "-std=c11", src, "-o", `${exe}.tmp`, "-ldl"], { encoding: "utf8" });
  if (r.error) return `${cc} not available (${r.error.message}); distill export writes F32/F16 GGUF only`;
  if (r.status !== 0) return `quantizer build failed:\n${r.stderr.slice(0, 2000)}`;
  renameSync(`${exe}.tmp`, exe);
  say(`built ${exe}`);
  return null;
}

for (const step of [buildWasm, build, buildQuantizer]) {
  try {
    const why = step();
    if (why) say(why);
  } catch (err) {
    say(`${step.name} failed (${(err as Error).message}); the engine falls back to slower kernels`);
  }
}
