/**
 * Size presets for new students (`--init new:<size>`): Qwen3-shaped decoders from ~1M to ~100M
 * parameters (counted with a 2k vocabulary; the embedding adds vocab × hidden). "3m" is exactly the
 * reference workload of ../shared/bench/pytorch_baseline.py.
 */

import { UserError } from "../util/errors.ts";
import { type ModelConfig, parseModelConfig } from "./config.ts";

interface PresetDims {
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim: number;
  intermediate_size: number;
}

export const modelPresets: Record<string, PresetDims> = {
  "1m": {
    hidden_size: 128,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 32,
    intermediate_size: 384,
  },
  "3m": {
    hidden_size: 256,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    num_key_value_heads: 4,
    head_dim: 64,
    intermediate_size: 704,
  },
  "10m": {
    hidden_size: 384,
    num_hidden_layers: 6,
    num_attention_heads: 6,
    num_key_value_heads: 2,
    head_dim: 64,
    intermediate_size: 1024,
  },
  "30m": {
    hidden_size: 512,
    num_hidden_layers: 10,
    num_attention_heads: 8,
    num_key_value_heads: 4,
    head_dim: 64,
    intermediate_size: 1536,
  },
  "100m": {
    hidden_size: 768,
    num_hidden_layers: 14,
    num_attention_heads: 12,
    num_key_value_heads: 4,
    head_dim: 64,
    intermediate_size: 2304,
  },
};

export interface PresetOptions {
  vocabSize: number;
  /** Decoder family (default qwen3). */
  arch?: "qwen2" | "qwen3" | "llama";
  /** Context length (default 2048). */
  contextLength?: number;
  bosTokenId?: number;
  eosTokenId?: number;
  padTokenId?: number;
}

/** config.json of a new model of the named size. */
export function presetConfig(name: string, opts: PresetOptions): ModelConfig {
  const dims = modelPresets[name.toLowerCase()];
  if (!dims) {
    throw new UserError(`unknown model size "${name}" (known: ${Object.keys(modelPresets).join(", ")})`);
  }
  return parseModelConfig({
    model_type: opts.arch ?? "qwen3",
    vocab_size: opts.vocabSize,
    ...dims,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: true,
    max_position_embeddings: opts.contextLength ?? 2048,
    bos_token_id: opts.bosTokenId ?? null,
    eos_token_id: opts.eosTokenId ?? null,
    pad_token_id: opts.padTokenId ?? null,
  });
}
