/** Tiny configs of each supported architecture, for tests, benchmarks and the GGUF parity check. */
import { type ModelConfig, parseModelConfig } from "../../src/model/config.ts";

export type ArchName = "qwen2" | "qwen3" | "llama";

/**
 * A tiny config: 2 layers, 4 query heads over 2 KV heads (grouped-query attention is exercised), qwen3
 * with head_dim different from hidden/heads as real Qwen3 models have.
 */
export function tinyConfig(arch: ArchName, opts: Partial<ModelConfig> & { vocab_size: number }): ModelConfig {
  return parseModelConfig({
    model_type: arch,
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: arch === "qwen3" ? 32 : 16,
    rms_norm_eps: 1e-6,
    rope_theta: arch === "llama" ? 500000 : 1000000,
    tie_word_embeddings: arch !== "llama",
    max_position_embeddings: 512,
    bos_token_id: 0,
    eos_token_id: 0,
    ...opts,
  });
}
