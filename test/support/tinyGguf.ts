/**
 * A tiny random-weight model with a real (trained) byte-level BPE tokenizer and a ChatML chat template,
 * written both as an HF folder and as `model.gguf`. llama.cpp/node-llama-cpp load and chat with it, so
 * tests of GGUF teachers and of the export path need no downloaded model.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { ModelConfig } from "../../src/model/config.ts";
import { exportGguf } from "../../src/model/ggufExport.ts";
import { saveModelFolder } from "../../src/model/hfFolder.ts";
import { type Model, randomModel } from "../../src/model/model.ts";
import { type TrainedTokenizer, trainBpeTokenizer } from "../../src/tokenizer/bpeTrainer.ts";
import { type ArchName, tinyConfig } from "./tinyConfig.ts";

export interface TinyGgufOptions {
  /** Decoder family (default qwen3). */
  arch?: ArchName;
  /** Seed of the random weights (default 1). */
  seed?: number;
  /** Std of the random weights; large enough that next-token distributions are far from uniform. */
  std?: number;
  /** Vocabulary of the trained tokenizer (default 512). */
  vocabSize?: number;
  /** Text the tokenizer is trained on (default: a built-in ChatML/equations corpus). */
  corpus?: string[];
  /** Context length in config.json and the GGUF (default 2048). */
  contextLength?: number;
  /** Fields of config.json to override (e.g. `rope_scaling`). */
  config?: Partial<ModelConfig>;
  /** Store matrices as F16 in the GGUF. */
  f16?: boolean;
}

export interface TinyGgufModel {
  /** Path of the written `model.gguf`. */
  ggufPath: string;
  /** The folder, which also holds the HF files (config.json, model.safetensors, tokenizer files). */
  dir: string;
  model: Model;
  tokenizer: TrainedTokenizer;
}

/** Writes `dir/model.gguf` plus the HF folder of a tiny random model. */
export function writeTinyGgufModel(dir: string, opts: TinyGgufOptions = {}): TinyGgufModel {
  const arch = opts.arch ?? "qwen3";
  const tokenizer = trainBpeTokenizer(opts.corpus ?? tinyCorpus(), { vocabSize: opts.vocabSize ?? 512 });
  const imEnd = tokenizer.vocabSize - 5; // ids: …, <|endoftext|>, <|im_start|>, <|im_end|>, 4 markers
  const config = tinyConfig(arch, {
    vocab_size: tokenizer.vocabSize,
    bos_token_id: imEnd - 2,
    eos_token_id: imEnd,
    pad_token_id: imEnd - 2,
    max_position_embeddings: opts.contextLength ?? 2048,
    ...opts.config,
  });
  const model = randomModel(config, { seed: opts.seed ?? 1, std: opts.std ?? 0.15, normStd: 0.2 });
  mkdirSync(dir, { recursive: true });
  saveModelFolder(dir, model, { tokenizer });
  const ggufPath = join(dir, "model.gguf");
  exportGguf(ggufPath, model, tokenizer, { name: `tiny-${arch}`, f16: opts.f16 });
  return { ggufPath, dir, model, tokenizer };
}

const syllables = ["ka", "lo", "mi", "tre", "son", "va", "ped", "ur", "gli", "zam", "bor", "qui", "nex"];

/** A built-in corpus: ChatML conversations solving linear equations, plus plain sentences. */
export function tinyCorpus(n = 400): string[] {
  const words = [
    "the",
    "answer",
    "equation",
    "solve",
    "both",
    "sides",
    "subtract",
    "divide",
    "check",
    "value",
  ];
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = (i % 9) + 2;
    const x = (i * 7) % 23;
    const b = (i * 13) % 50;
    out.push(
      `<|im_start|>user\nSolve for x: ${a}x + ${b} = ${a * x + b}<|im_end|>\n<|im_start|>assistant\n` +
        `<think>\nSubtract ${b} from both sides: ${a}x = ${a * x}. Divide by ${a}: x = ${x}.\n</think>\n` +
        `<answer>x = ${x}</answer><|im_end|>\n`,
    );
    out.push(Array.from({ length: 12 }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(" "));
    out.push(`Hello! The ${words[i % 10]} is ${i}. Why? Because ${words[(i + 3) % 10]}s matter.`);
    // Pseudo-words add enough distinct byte pairs to fill a vocabulary of a few hundred merges.
    out.push(
      Array.from({ length: 10 }, (_, j) => syllables[(i * 3 + j) % 11] + syllables[(i + j * j) % 13]).join(
        " ",
      ),
    );
  }
  return out;
}
