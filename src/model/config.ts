/**
 * `config.json` of a Hugging Face decoder checkpoint, validated with zod, plus the architecture table:
 * qwen2, qwen3 and llama share one decoder and differ only in the rows of `architectures` below.
 * Both spellings transformers writes are read (≤ 4: top-level `rope_theta`/`rope_scaling`; 5:
 * `rope_parameters`, `dtype`, `layer_types`); a field that would change the computation and is not
 * implemented here is refused with its name, never ignored.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { UserError } from "../util/errors.ts";
import { type RopeParameters, readRopeParameters } from "./rope.ts";

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
const looseConfig = z.looseObject({
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
  // RoPE in either spelling; read (and checked) by readRopeParameters, written back as given.
  rope_theta: z.number().positive().nullish(),
  rope_scaling: z.unknown().optional(),
  rope_parameters: z.unknown().optional(),
  tie_word_embeddings: z.boolean().default(false),
  max_position_embeddings: z.number().int().positive().default(2048),
  bos_token_id: tokenIds,
  eos_token_id: tokenIds,
  pad_token_id: tokenIds,
  attention_bias: z.boolean().optional(),
  hidden_act: z.string().default("silu"),
  torch_dtype: z.string().optional(),
  use_sliding_window: z.boolean().optional(),
  layer_types: z.array(z.string()).nullish(),
  mlp_bias: z.boolean().optional(),
  attention_dropout: z.number().nonnegative().optional(),
});

export const modelConfigSchema = looseConfig.superRefine((c, ctx) => {
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
  // transformers' ACT2FN maps both names to SiLU
  if (c.hidden_act !== "silu" && c.hidden_act !== "swish") {
    ctx.addIssue({
      code: "custom",
      path: ["hidden_act"],
      message: `only "silu" is supported, got "${c.hidden_act}"`,
    });
  }
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  if (headDim % 2 !== 0) {
    ctx.addIssue({
      code: "custom",
      path: ["head_dim"],
      message: `RoPE needs an even head_dim, got ${headDim}`,
    });
  }
  const rope = readRopeParameters(c);
  if ("field" in rope) ctx.addIssue({ code: "custom", path: rope.field.split("."), message: rope.message });
  for (const { field, message } of unsupportedSettings(c))
    ctx.addIssue({ code: "custom", path: [field], message });
});

/**
 * Settings of real configs that change what the decoder computes and that it does not implement.
 * qwen2's `attention_bias` is not among them: transformers' Qwen2 always has Q/K/V biases and no
 * o_proj bias, whatever the field says; qwen3/llama put a bias on o_proj too when it is true.
 */
function unsupportedSettings(c: z.infer<typeof looseConfig>): { field: string; message: string }[] {
  const out: { field: string; message: string }[] = [];
  if (c.use_sliding_window === true)
    out.push({ field: "use_sliding_window", message: "sliding-window attention is not supported" });
  const other = c.layer_types?.find((t) => t !== "full_attention");
  if (other)
    out.push({
      field: "layer_types",
      message: `only "full_attention" layers are supported, got "${other}"`,
    });
  if (c.attention_bias === true && c.model_type !== "qwen2")
    out.push({
      field: "attention_bias",
      message: `attention biases (o_proj included) are not supported for ${c.model_type}`,
    });
  if (c.mlp_bias === true) out.push({ field: "mlp_bias", message: "MLP biases are not supported" });
  if (c.attention_dropout)
    out.push({
      field: "attention_dropout",
      message: `attention dropout (${c.attention_dropout}) is not supported; set it to 0`,
    });
  for (const field of foreignFields)
    if (c[field] != null && c[field] !== false)
      out.push({ field, message: "is not supported (the Qwen2/Qwen3/Llama decoder has no such setting)" });
  return out;
}

/** Fields other decoder families use to change the computation; present in a config, they are refused. */
const foreignFields = [
  "quantization_config",
  "attn_logit_softcapping",
  "final_logit_softcapping",
  "logits_scaling",
  "embedding_multiplier",
  "residual_multiplier",
  "attention_multiplier",
  "no_rope_layers",
  "use_mrope",
  "moe_intermediate_size",
  "num_experts",
] as const;

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
  /** RoPE from either spelling of config.json (see rope.ts). */
  rope: RopeParameters;
  /** Q/K/V projections carry a bias (Qwen2, as transformers builds it whatever `attention_bias` says). */
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
    rope: ropeOf(config),
    qkvBias: arch.qkvBias,
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

/** RoPE of a parsed config (parsing already refused one that cannot be read). */
function ropeOf(config: ModelConfig): RopeParameters {
  const rope = readRopeParameters(config);
  if ("field" in rope) throw new UserError(rope.message, { field: rope.field });
  return rope;
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
