/**
 * Quantized GGUF (Q8_0, Q4_0, Q4_K_M) by llama.cpp's own quantizer: `llama_model_quantize` in the libllama
 * that node-llama-cpp ships prebuilt, called by a small program (native/quantize.c, built by `npm ci`)
 * in a child process, so that llama.cpp's aborts on bad input cannot take the CLI down with them.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../util/errors.ts";

/** The quantized types `distill export --format gguf --dtype` writes, with their `enum llama_ftype` values. */
export const ggufQuantTypes = { q8_0: 7, q4_0: 2, q4_k_m: 15 } as const;
export type GgufQuantType = keyof typeof ggufQuantTypes;

export function isGgufQuantType(dtype: string): dtype is GgufQuantType {
  return Object.hasOwn(ggufQuantTypes, dtype);
}

/** The quantizer program, built by `npm run build:kernels` (src/engine/native/build.ts). */
export const quantizerPath = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  "native",
  "build",
  "distill-quantize",
);

/** libllama in node-llama-cpp's prebuilt binaries for this platform (the CPU build), or null. */
export function findLibllama(): string | null {
  const platform = `${process.platform}-${process.arch}`;
  let entry: string; // the binary package's dist/index.js; its binaries are in ../bins/<platform>
  try {
    entry = createRequire(import.meta.url).resolve(`@node-llama-cpp/${platform}`);
  } catch {
    return null;
  }
  const bins = path.join(path.dirname(entry), "..", "bins", platform);
  if (!existsSync(bins)) return null;
  const lib = readdirSync(bins).find((f) => /^libllama(\.v[\d.]+)?\.(so|dylib)$/.test(f));
  return lib ? path.join(bins, lib) : null;
}

/**
 * Quantizes `input` (an F32 or F16 GGUF) into `output`. llama.cpp keeps 1-d tensors (norms, biases) in
 * F32 and, for K-quants, gives rows whose length is not a multiple of 256 the nearest type that fits
 * (its "fallback quantization"), as `llama-quantize` does.
 */
export function quantizeGguf(input: string, output: string, type: GgufQuantType, threads?: number): void {
  const lib = findLibllama();
  if (!lib)
    throw new UserError(
      `quantized GGUF needs llama.cpp's library from node-llama-cpp, and there is none for ${process.platform}-${process.arch}; export f16 and quantize it with llama.cpp's llama-quantize`,
      { field: "dtype" },
    );
  if (!existsSync(quantizerPath))
    throw new UserError(
      `the quantizer was not built (${quantizerPath}); run "npm run build:kernels" to build it (it needs a C compiler) and see why not`,
      { field: "dtype" },
    );
  const nthread = String(threads ?? availableParallelism());
  const r = spawnSync(quantizerPath, [lib, input, output, String(ggufQuantTypes[type]), nthread], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) {
    const log = `${r.stderr ?? ""}${r.stdout ?? ""}`.trim().split("\n").slice(-8).join("\n");
    const how = r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit ${r.status}`;
    throw new Error(`llama.cpp's quantizer failed on ${input} (${how}):\n${log}`);
  }
}
