/**
 * Builds the native kernel addon (kernels.cc → build/kernels.node) with the system C++ compiler and the
 * Node headers already on the machine; runs from `npm ci` (the "prepare" script). Never fails the
 * install: without a compiler, headers or an x86-64 CPU it prints why and the engine uses its JS kernels.
 * Flags: -O3, x86-64-v3 (AVX2+FMA) as the baseline, AVX-512 only in the GEMM kernel behind a run-time
 * CPU check, OpenMP for threads.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
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

/** Builds the addon; returns null on success, else why not. */
function build(): string | null {
  if (process.env.DISTILLERY_SKIP_NATIVE) return "skipped (DISTILLERY_SKIP_NATIVE)";
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

try {
  const why = build();
  if (why) say(why);
} catch (err) {
  say(`native build failed (${(err as Error).message}); using JS kernels`);
}
