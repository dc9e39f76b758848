/**
 * `config.json` of a Hugging Face decoder checkpoint, validated with zod, plus the architecture table:
 * qwen2, qwen3 and llama share one decoder and differ only in the rows of `architectures` below.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { UserError } from "../util/errors.ts";

/** What differs between the supported decoder families (data, not code paths). */
export interface Architecture {
  /** Q, K and V projections carry a bias (Qwen2). */
  qkvBias: boolean;
  /** RMSNorm over each head of Q and K before RoPE (Qwen3). */
  qkNorm: boolean;
  /** GGUF `general.architecture` value for llama.cpp. */
  ggufArch: string;
  /**
   * llama.cpp's LLAMA arch applies RoPE to interleaved pairs; HF's rotate_half works on halves, so the
   * converter permutes the rows of q/k weights for it. Qwen2/Qwen3 use NeoX RoPE in llama.cpp: no permute.
   */
  ggufPermuteQK: boolean;
  /** `architectures[0]` written to config.json. */
  hfClass: string;
}

export const architectures: Record<string, Architecture> = {
  qwen2: {
    qkvBias: true,
    qkNorm: false,
    ggufArch: "qwen2",
    ggufPermuteQK: false,
    hfClass: "Qwen2ForCausalLM",
  },
  qwen3: {
    qkvBias: false,
    qkNorm: true,
    ggufArch: "qwen3",
    ggufPermuteQK: false,
    hfClass: "Qwen3ForCausalLM",
  },
  llama: {
    qkvBias: false,
    qkNorm: false,
    ggufArch: "llama",
    ggufPermuteQK: true,
    hfClass: "LlamaForCausalLM",
  },
};

const tokenIds = z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())]).nullish();

/** The fields of config.json the decoder reads; unknown fields are kept as they are (passthrough). */
export const modelConfigSchema = z
  .looseObject({
    model_type: z.string(),
    architectures: z.array(z.string()).optional(),
    vocab_size: z.number().int().positive(),
    hidden_size: z.number().int().positive(),
    intermediate_size: z.number().int().positive(),
    num_hidden_layers: z.number().int().positive(),
    num_attention_heads: z.number().int().positive(),
    num_key_value_heads: z.number().int().positive().optional(),
    head_dim: z.number().int().positive().nullish(),
    rms_norm_eps: z.number().positive().default(1e-6),
    rope_theta: z.number().positive().default(10000),
    rope_scaling: z.unknown().optional(),
    tie_word_embeddings: z.boolean().default(false),
    max_position_embeddings: z.number().int().positive().default(2048),
    bos_token_id: tokenIds,
    eos_token_id: tokenIds,
    pad_token_id: tokenIds,
    attention_bias: z.boolean().optional(),
    hidden_act: z.string().default("silu"),
    torch_dtype: z.string().optional(),
    use_sliding_window: z.boolean().optional(),
  })
  .superRefine((c, ctx) => {
    if (!(c.model_type in architectures)) {
      ctx.addIssue({
        code: "custom",
        path: ["model_type"],
        message: `unsupported model_type "${c.model_type}" (supported: ${Object.keys(architectures).join(", ")})`,
      });
    }
    const kv = c.num_key_value_heads ?? c.num_attention_heads;
    if (c.num_attention_heads % kv !== 0) {
      ctx.addIssue({
        code: "custom",
        path: ["num_key_value_heads"],
        message: `num_attention_heads (${c.num_attention_heads}) must be a multiple of num_key_value_heads (${kv})`,
      });
    }
    if (!c.head_dim && c.hidden_size % c.num_attention_heads !== 0) {
      ctx.addIssue({
        code: "custom",
        path: ["hidden_size"],
        message: "hidden_size must be divisible by num_attention_heads when head_dim is not given",
      });
    }
    if (c.hidden_act !== "silu") {
      ctx.addIssue({
        code: "custom",
        path: ["hidden_act"],
        message: `only "silu" is supported, got "${c.hidden_act}"`,
      });
    }
    if (c.rope_scaling != null && !isLlama3Scaling(c.rope_scaling)) {
      ctx.addIssue({
        code: "custom",
        path: ["rope_scaling"],
        message:
          'only rope_scaling of rope_type "llama3" (with factor, low_freq_factor, high_freq_factor, original_max_position_embeddings) is supported',
      });
    }
    if (c.use_sliding_window === true) {
      ctx.addIssue({
        code: "custom",
        path: ["use_sliding_window"],
        message: "sliding-window attention is not supported",
      });
    }
  });

export type ModelConfig = z.infer<typeof modelConfigSchema>;

/** Derived sizes every consumer needs; computed once from a config. */
export interface ModelDims {
  arch: Architecture;
  hidden: number;
  ffn: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  eps: number;
  ropeTheta: number;
  /** Qwen2 always has QKV bias; llama has it when `attention_bias` is true. */
  qkvBias: boolean;
}

export function modelDims(config: ModelConfig): ModelDims {
  const arch = architectures[config.model_type];
  if (!arch) throw new UserError(`unsupported model_type "${config.model_type}"`, { field: "model_type" });
  const heads = config.num_attention_heads;
  return {
    arch,
    hidden: config.hidden_size,
    ffn: config.intermediate_size,
    layers: config.num_hidden_layers,
    heads,
    kvHeads: config.num_key_value_heads ?? heads,
    headDim: config.head_dim ?? config.hidden_size / heads,
    vocab: config.vocab_size,
    eps: config.rms_norm_eps,
    ropeTheta: config.rope_theta,
    qkvBias: arch.qkvBias || config.attention_bias === true,
  };
}

/** Validates a parsed config.json; `file` names the source in errors. */
export function parseModelConfig(json: unknown, file = "config.json"): ModelConfig {
  const result = modelConfigSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = issue.path.join(".");
    throw new UserError(issue.message, { file, field: field || undefined });
  }
  return result.data;
}

export function readModelConfig(path: string): ModelConfig {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new UserError(`cannot read config: ${(err as Error).message}`, { file: path });
  }
  return parseModelConfig(json, path);
}

/** Llama 3.1's frequency-dependent RoPE scaling, as config.json spells it. */
export interface Llama3RopeScaling {
  rope_type: "llama3";
  factor: number;
  low_freq_factor: number;
  high_freq_factor: number;
  original_max_position_embeddings: number;
}

function isLlama3Scaling(v: unknown): v is Llama3RopeScaling {
  const r = v as Record<string, unknown>;
  return (
    (r?.rope_type === "llama3" || r?.type === "llama3") &&
    ["factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"].every(
      (k) => typeof r[k] === "number",
    )
  );
}

/**
 * Per-frequency divisors of RoPE (length headDim/2): 1 everywhere without scaling. Llama 3 leaves short
 * wavelengths alone, divides long ones by `factor`, and blends in between. llama.cpp stores exactly
 * these divisors as the `rope_freqs.weight` tensor.
 */
export function ropeFrequencyFactors(config: ModelConfig): Float64Array {
  const d = modelDims(config);
  const half = d.headDim / 2;
  const out = new Float64Array(half).fill(1);
  const rs = config.rope_scaling;
  if (!isLlama3Scaling(rs)) return out;
  const lowWavelen = rs.original_max_position_embeddings / rs.low_freq_factor;
  const highWavelen = rs.original_max_position_embeddings / rs.high_freq_factor;
  for (let i = 0; i < half; i++) {
    const wavelen = (2 * Math.PI) / d.ropeTheta ** ((-2 * i) / d.headDim);
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = rs.factor;
    else {
      const smooth =
        (rs.original_max_position_embeddings / wavelen - rs.low_freq_factor) /
        (rs.high_freq_factor - rs.low_freq_factor);
      out[i] = 1 / ((1 - smooth) / rs.factor + smooth);
    }
  }
  return out;
}

/** RoPE inverse frequencies theta^(-2i/headDim) / factor_i, rounded to float32 as HF computes them. */
export function ropeInverseFrequencies(config: ModelConfig): Float32Array {
  const d = modelDims(config);
  const factors = ropeFrequencyFactors(config);
  return Float32Array.from(factors, (f, i) => 1 / d.ropeTheta ** ((2 * i) / d.headDim) / f);
}

/** First id of a config token-id field that may be a number or a list. */
export function firstTokenId(v: number | number[] | null | undefined): number | undefined {
  return Array.isArray(v) ? v[0] : (v ?? undefined);
}

/** The parameter tensors a model of this config has, by HF name, with their shapes (row-major). */
export function parameterShapes(config: ModelConfig): Map<string, number[]> {
  const d = modelDims(config);
  const shapes = new Map<string, number[]>();
  shapes.set("model.embed_tokens.weight", [d.vocab, d.hidden]);
  for (let i = 0; i < d.layers; i++) {
    const p = `model.layers.${i}`;
    shapes.set(`${p}.input_layernorm.weight`, [d.hidden]);
    shapes.set(`${p}.self_attn.q_proj.weight`, [d.heads * d.headDim, d.hidden]);
    shapes.set(`${p}.self_attn.k_proj.weight`, [d.kvHeads * d.headDim, d.hidden]);
    shapes.set(`${p}.self_attn.v_proj.weight`, [d.kvHeads * d.headDim, d.hidden]);
    if (d.qkvBias) {
      shapes.set(`${p}.self_attn.q_proj.bias`, [d.heads * d.headDim]);
      shapes.set(`${p}.self_attn.k_proj.bias`, [d.kvHeads * d.headDim]);
      shapes.set(`${p}.self_attn.v_proj.bias`, [d.kvHeads * d.headDim]);
    }
    if (d.arch.qkNorm) {
      shapes.set(`${p}.self_attn.q_norm.weight`, [d.headDim]);
      shapes.set(`${p}.self_attn.k_norm.weight`, [d.headDim]);
    }
    shapes.set(`${p}.self_attn.o_proj.weight`, [d.hidden, d.heads * d.headDim]);
    shapes.set(`${p}.post_attention_layernorm.weight`, [d.hidden]);
    shapes.set(`${p}.mlp.gate_proj.weight`, [d.ffn, d.hidden]);
    shapes.set(`${p}.mlp.up_proj.weight`, [d.ffn, d.hidden]);
    shapes.set(`${p}.mlp.down_proj.weight`, [d.hidden, d.ffn]);
  }
  shapes.set("model.norm.weight", [d.hidden]);
  if (!config.tie_word_embeddings) shapes.set("lm_head.weight", [d.vocab, d.hidden]);
  return shapes;
}
