import { existsSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { UserError } from "../util/errors.ts";

/** Every option of `distill train`, shared by flags and YAML recipes. */
export const trainOptionsSchema = z
  .object({
    /** Chat rows to learn from (required, but with --on-policy, where they are the supervised share). */
    data: z.string().min(1).optional(),
    validation: z.string().optional(),
    init: z.string({ error: "is required: a model folder or new:<preset>" }).min(1),
    out: z.string({ error: "is required: the output folder" }).min(1),
    epochs: z.coerce.number().int().min(1).default(2),
    /** Peak learning rate (default: 1e-3 for a new model, 5e-5 for a pretrained one). */
    lr: z.coerce.number().positive().optional(),
    minLrRatio: z.coerce.number().min(0).max(1).default(0.1),
    warmup: z.coerce.number().min(0).default(0.05),
    weightDecay: z.coerce.number().min(0).default(0.1),
    maxGradNorm: z.coerce.number().positive().default(1),
    batchTokens: z.coerce.number().int().min(1).default(8192),
    microBatchTokens: z.coerce.number().int().min(1).optional(),
    context: z.coerce.number().int().min(8).default(512),
    seed: z.coerce.number().int().min(0).default(0),
    resume: z.coerce.boolean().default(false),
    /** Train from the start into a folder that already holds a trained model, replacing it. */
    overwrite: z.coerce.boolean().default(false),
    checkpointEvery: z.coerce.number().int().min(0).default(200),
    /** Tokenizer folder for a new model (default: train a BPE tokenizer on the data). */
    tokenizer: z.string().optional(),
    /** Extra chat JSONL files whose text the new tokenizer also learns from. */
    tokenizerCorpus: z.array(z.string()).default([]),
    /** Stop after this many optimizer steps (the schedule still spans all epochs). */
    maxSteps: z.coerce.number().int().min(1).optional(),
    /**
     * LoRA on a frozen pretrained student, e.g. `r=16,alpha=32,dropout=0,targets=q_proj,v_proj`
     * (`true`: r 16, alpha 32, all seven linear layers); the output is a PEFT adapter folder.
     */
    lora: z.union([z.string(), z.literal(true)]).optional(),
    /**
     * Decoder layers that recompute their activations in backward instead of keeping them: true (the
     * flag alone) every layer, N the first N. Less memory for one more forward of each such layer.
     */
    checkpointActivations: z.union([z.boolean(), z.coerce.number().int().min(0)]).default(false),
    /**
     * How AdamW keeps its two moments: float32 (torch's AdamW), or bfloat16 with stochastic rounding,
     * half the optimizer's memory (2 of the 8 GB a 0.5B full fine-tune holds before activations).
     */
    optimizerState: z
      .enum(["float32", "bfloat16"], { error: "must be float32 or bfloat16" })
      .default("float32"),
    /**
     * `topk`: learn from the teacher's top-K distribution at each assistant token too (the side files of
     * `distill generate --logprobs`, `teacherLogprobs`): loss α·CE + (1 − α)·T²·KL (src/engine/distill.ts).
     */
    kd: z.enum(["topk"], { error: "must be topk" }).optional(),
    /** The weight α of the cross-entropy on the teacher's sampled token (default 0.5). */
    kdAlpha: z.coerce.number().min(0).max(1).default(0.5),
    /** Temperature T of the divergence (default 1, where the top-K buckets are exact). */
    kdTemperature: z.coerce.number().positive().default(1),
    /** The `logprobs.jsonl` files (or the generate folders holding them) the rows were sampled with. */
    teacherLogprobs: z.array(z.string()).default([]),
    /**
     * On-policy distillation: each step the student samples completions of `promptsPerStep` prompts, the
     * `teacher` scores every token of them, and the student minimises the reverse KL to the teacher's top-K
     * on its own tokens (onPolicy.ts). `--max-steps` steps (default: one pass over the prompts).
     */
    onPolicy: z.coerce.boolean().default(false),
    /** The teacher that scores the student's tokens (a model folder, or openai:<model>@<url> that scores). */
    teacher: z.string().min(1).optional(),
    /** The prompts the student answers on-policy (a prompt source, as generate takes). */
    prompts: z.string().min(1).optional(),
    promptsPerStep: z.coerce.number().int().min(1).default(8),
    /** Most tokens the student writes an answer on-policy. */
    maxTokens: z.coerce.number().int().min(1).default(256),
    /** The student's sampling temperature on-policy. */
    temperature: z.coerce.number().min(0).max(2).default(1),
    /** Alternatives a token the teacher is asked for on-policy (0–20). */
    kdTopK: z.coerce.number().int().min(0).max(20).default(20),
    /** Of the steps, the share that is on-policy; the rest are supervised on `data` (GKD's λ). */
    onPolicyShare: z.coerce.number().min(0).max(1).default(1),
    promptField: z.string().optional(),
    answerField: z.string().optional(),
    idField: z.string().optional(),
    quiet: z.coerce.boolean().default(false),
  })
  .strict()
  .superRefine((o, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
    if (!o.data && !o.onPolicy)
      issue("data", "is required: a train.jsonl in Hugging Face chat format (or --on-policy with --prompts)");
    if (o.onPolicy && !o.teacher)
      issue("teacher", "--on-policy needs --teacher: the model that scores the student's tokens");
    if (o.onPolicy && !o.prompts) issue("prompts", "--on-policy needs --prompts: what the student answers");
    if (o.onPolicy && o.onPolicyShare < 1 && !o.data)
      issue("data", "--on-policy-share below 1 needs --data: the rows of the supervised steps");
    if (o.onPolicy && o.kd)
      issue("kd", "--kd topk and --on-policy are two ways of learning from the teacher: choose one");
    if (o.onPolicy && o.lora !== undefined)
      issue("lora", "--on-policy trains all the student's weights (LoRA is not supported yet)");
    if (o.onPolicy && o.init.startsWith("new:"))
      issue(
        "init",
        "--on-policy starts from a student that already writes: a model folder, not new:<preset>",
      );
    if (o.kd && o.teacherLogprobs.length === 0)
      ctx.addIssue({
        code: "custom",
        path: ["teacherLogprobs"],
        message: "--kd topk needs --teacher-logprobs: the logprobs.jsonl of `distill generate --logprobs`",
      });
    if (!o.kd && o.teacherLogprobs.length > 0)
      ctx.addIssue({
        code: "custom",
        path: ["kd"],
        message: "--teacher-logprobs is read only with --kd topk",
      });
  });

export type TrainOptions = z.input<typeof trainOptionsSchema>;

/** How many of a model's `layers` decoder layers --checkpoint-activations recomputes (the first N). */
export function checkpointedLayers(o: { checkpointActivations: boolean | number }, layers: number): number {
  const asked = o.checkpointActivations;
  if (typeof asked === "boolean") return asked ? layers : 0;
  if (asked > layers)
    throw new UserError(`is ${asked}, but the model has ${layers} decoder layers`, {
      field: "--checkpoint-activations",
    });
  return asked;
}

/** What marks a folder as holding a model trained earlier: its weights, config, LoRA adapter or checkpoint. */
const trainedModelFiles = [
  "model.safetensors",
  "model.safetensors.index.json",
  "config.json",
  "adapter_config.json",
  "checkpoint",
];

/**
 * Refuses to train into a folder that holds a trained model unless the run continues it (`--resume`)
 * or replaces it on purpose (`--overwrite`): training from scratch would silently write over it.
 */
export function refuseTrainedOut(o: { out: string; resume?: boolean; overwrite?: boolean }): void {
  if (o.resume || o.overwrite) return;
  const found = trainedModelFiles.find((f) => existsSync(path.join(o.out, f)));
  if (found)
    throw new UserError(
      `already holds a trained model (${found}); pass --resume to continue it or --overwrite to replace it`,
      { file: o.out },
    );
}
export type ResolvedTrainOptions = z.output<typeof trainOptionsSchema>;
