import { existsSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { UserError } from "../util/errors.ts";

/** Every option of `distill train`, shared by flags and YAML recipes. */
export const trainOptionsSchema = z
  .object({
    data: z.string({ error: "is required: a train.jsonl in Hugging Face chat format" }).min(1),
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
    quiet: z.coerce.boolean().default(false),
  })
  .strict()
  .superRefine((o, ctx) => {
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
