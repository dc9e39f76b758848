import { z } from "zod";
import { instructionOptions } from "../teachers/prompting.ts";

/**
 * Every option of `distill eval`, shared by flags and YAML recipes (`eval:` section). Defaults stay in
 * `evaluate()` (greedy, one sample, 1024 tokens) so the library and the command agree.
 */
export const evalOptionsSchema = z
  .object({
    model: z
      .string({ error: "is required: a model folder or a teacher spec such as builtin:equations" })
      .min(1),
    benchmark: z
      .string({ error: "is required: a prompt source with gold answers such as gsm8k:test" })
      .min(1),
    out: z.string({ error: "is required: the output folder" }).min(1),
    samples: z.coerce.number().int().min(1).optional(),
    temperature: z.coerce.number().min(0).max(2).optional(),
    topP: z.coerce.number().gt(0).max(1).optional(),
    maxTokens: z.coerce.number().int().min(1).optional(),
    limit: z.coerce.number().int().min(1).optional(),
    concurrency: z.coerce.number().int().min(1).max(4096).optional(),
    threads: z.coerce.number().int().min(1).max(1024).optional(),
    seed: z.coerce.number().int().min(0).optional(),
    apiKeyEnv: z.string().optional(),
    promptField: z.string().min(1).optional(),
    answerField: z.string().min(1).optional(),
    idField: z.string().min(1).optional(),
    instruction: z.enum(instructionOptions, { error: "must be auto, none or template" }).optional(),
    quiet: z.coerce.boolean().optional(),
  })
  .strict();

export type ResolvedEvalOptions = z.output<typeof evalOptionsSchema>;
