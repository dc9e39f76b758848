import { z } from "zod";

/** Every option of `distill export`, shared by flags and YAML recipes. */
export const exportOptionsSchema = z
  .object({
    model: z
      .string({ error: "is required: a Hugging Face model folder (e.g. what distill train wrote)" })
      .min(1),
    format: z.enum(["gguf", "safetensors", "trl"], { error: "must be gguf, safetensors or trl" }),
    out: z.string({ error: "is required: the output folder" }).min(1),
    /**
     * Weights on disk: gguf f32|f16|q8_0|q4_0|q4_k_m (default f16), safetensors f32|bf16 (default bf16),
     * trl: training precision f32|f16|bf16 (default bf16).
     */
    dtype: z
      .enum(["f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m"], {
        error: "must be f32, f16, bf16, q8_0, q4_0 or q4_k_m",
      })
      .optional(),
    /** Model name in the GGUF metadata and the README (default: the model folder's name). */
    name: z.string().min(1).optional(),
    /** safetensors: shard above this size, e.g. 5GB, 500MB (default 5GB, as transformers does). */
    maxShardSize: z.string().optional(),
    /** trl: chat rows to train on (Hugging Face chat JSONL). */
    data: z.string().min(1).optional(),
    /** trl: validation rows (default: validation.jsonl beside --data, if any). */
    validation: z.string().min(1).optional(),
    /** trl: what the GPU machines load (a Hugging Face id or a path there); default: --model's absolute path. */
    baseModel: z.string().min(1).optional(),
    // trl hyperparameters, under distill train's names (defaults: distill train's for a pretrained student).
    epochs: z.coerce.number().int().min(1).default(2),
    lr: z.coerce.number().positive().default(5e-5),
    minLrRatio: z.coerce.number().min(0).max(1).default(0.1),
    warmup: z.coerce.number().min(0).default(0.05),
    weightDecay: z.coerce.number().min(0).default(0.1),
    maxGradNorm: z.coerce.number().positive().default(1),
    /** Tokens a step over all GPUs (default 131072: 32 packed rows of 4096). */
    batchTokens: z.coerce.number().int().min(1).default(131072),
    /** Packed row length (TRL's max_length); default 4096, capped by the model's context. */
    context: z.coerce.number().int().min(8).optional(),
    seed: z.coerce.number().int().min(0).default(0),
    /** GPUs a node (accelerate's num_processes) and packed rows a GPU a micro-step. */
    gpus: z.coerce.number().int().min(1).default(8),
    perDeviceBatch: z.coerce.number().int().min(1).default(1),
    /** --model is a LoRA adapter folder: export its base with the adapter merged in (W + scale·B·A). */
    mergeLora: z.coerce.boolean().default(false),
    quiet: z.coerce.boolean().default(false),
  })
  .strict();

export type ExportOptions = z.input<typeof exportOptionsSchema>;
export type ResolvedExportOptions = z.output<typeof exportOptionsSchema>;
