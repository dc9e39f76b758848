import type { ModelConfig } from "../model/config.ts";
import { parseModelConfig } from "../model/config.ts";
import { UserError } from "../util/errors.ts";
import { parseSpecQuery } from "../util/query.ts";

/**
 * Sizes for students trained from scratch (`--init new:<preset>`), Qwen2-shaped with tied embeddings
 * and grouped-query attention. Parameter counts are for a 1,024-token vocabulary.
 *
 * | preset | hidden | layers | heads (kv) | ffn  | params  |
 * | ------ | ------ | ------ | ---------- | ---- | ------- |
 * | 1m     | 128    | 4      | 4 (2)      | 384  | ≈0.9M   |
 * | 5m     | 256    | 6      | 8 (4)      | 768  | ≈5M     |
 * | 25m    | 512    | 8      | 8 (4)      | 1536 | ≈26M    |
 * | 100m   | 768    | 14     | 12 (4)     | 2304 | ≈98M    |
 */
export const presets: Record<
  string,
  { hidden: number; layers: number; heads: number; kvHeads: number; ffn: number }
> = {
  "1m": { hidden: 128, layers: 4, heads: 4, kvHeads: 2, ffn: 384 },
  "5m": { hidden: 256, layers: 6, heads: 8, kvHeads: 4, ffn: 768 },
  "25m": { hidden: 512, layers: 8, heads: 8, kvHeads: 4, ffn: 1536 },
  "100m": { hidden: 768, layers: 14, heads: 12, kvHeads: 4, ffn: 2304 },
};

export interface NewModelSpec {
  preset: string;
  arch: "qwen2" | "qwen3" | "llama";
  /** Vocabulary of the BPE tokenizer trained on the data. */
  vocab: number;
  /** Longest sequence the model is made for. */
  context: number;
  /** Overrides of the preset's shape, e.g. `layers=2`. */
  overrides: Partial<Record<"hidden" | "layers" | "heads" | "kvHeads" | "ffn", number>>;
}

/** The settings `new:<preset>?…` takes. */
const newModelSettings = ["arch", "vocab", "context", "hidden", "layers", "heads", "kvHeads", "ffn"] as const;

/** `new:5m`, `new:1m?arch=qwen3&vocab=512&context=256&layers=2`. */
export function parseNewModelSpec(spec: string): NewModelSpec {
  const { name, params } = parseSpecQuery(spec, spec.replace(/^new:/, ""), newModelSettings);
  if (!(name in presets))
    throw new UserError(`unknown preset "${name}" in "${spec}" (${Object.keys(presets).join(", ")})`);
  const arch = params.get("arch") ?? "qwen2";
  if (arch !== "qwen2" && arch !== "qwen3" && arch !== "llama")
    throw new UserError(`unknown arch "${arch}" in "${spec}" (qwen2, qwen3, llama)`);
  const int = (key: string, fallback: number) => {
    const raw = params.get(key);
    const n = raw === null ? fallback : raw.trim() === "" ? Number.NaN : Number(raw);
    if (!Number.isInteger(n) || n <= 0)
      throw new UserError(`"${key}" must be a positive integer in "${spec}"`);
    return n;
  };
  const overrides: NewModelSpec["overrides"] = {};
  for (const key of ["hidden", "layers", "heads", "kvHeads", "ffn"] as const) {
    if (params.has(key)) overrides[key] = int(key, 1);
  }
  return { preset: name, arch, vocab: int("vocab", 1024), context: int("context", 1024), overrides };
}

/** config.json of a new student once its tokenizer (and so its vocabulary and special ids) is known. */
export function newModelConfig(
  spec: NewModelSpec,
  tokens: { vocabSize: number; bos: number; eos: number; pad: number },
): ModelConfig {
  const shape = { ...presets[spec.preset], ...spec.overrides };
  return parseModelConfig({
    model_type: spec.arch,
    vocab_size: tokens.vocabSize,
    hidden_size: shape.hidden,
    intermediate_size: shape.ffn,
    num_hidden_layers: shape.layers,
    num_attention_heads: shape.heads,
    num_key_value_heads: shape.kvHeads,
    head_dim: shape.hidden / shape.heads,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: true,
    max_position_embeddings: spec.context,
    bos_token_id: tokens.bos,
    eos_token_id: tokens.eos,
    pad_token_id: tokens.pad,
  });
}
