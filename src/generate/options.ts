import { z } from "zod";
import { markersOptionSchema } from "../template/markers.ts";

/** Every option of `distill generate`, shared by flags and YAML recipes. */
export const generateOptionsSchema = z
  .object({
    prompts: z.string({ error: "is required: a prompt source such as builtin:equations" }).min(1),
    teacher: z.string({ error: "is required: a teacher such as builtin:equations" }).min(1),
    out: z.string({ error: "is required: the run folder" }).min(1),
    samplesPerPrompt: z.coerce.number().int().min(1).default(4),
    limit: z.coerce.number().int().min(1).optional(),
    temperature: z.coerce.number().min(0).max(2).default(0.6),
    topP: z.coerce.number().gt(0).max(1).default(0.95),
    maxTokens: z.coerce.number().int().min(1).default(4096),
    concurrency: z.coerce.number().int().min(1).max(4096).default(8),
    seed: z.coerce.number().int().min(0).default(0),
    maxAttempts: z.coerce.number().int().min(1).default(6),
    retryBaseMs: z.coerce.number().min(0).default(1000),
    timeoutMs: z.coerce.number().int().min(1).default(600_000),
    apiKeyEnv: z.string().default("OPENAI_API_KEY"),
    stream: z.coerce.boolean().default(false),
    promptField: z.string().optional(),
    answerField: z.string().optional(),
    idField: z.string().optional(),
    markers: markersOptionSchema,
    /** Append the template instruction to each prompt (default: yes, except for the project's own models). */
    instruction: z.coerce.boolean().optional(),
    quiet: z.coerce.boolean().default(false),
  })
  .strict();

export type GenerateOptions = z.input<typeof generateOptionsSchema>;
export type ResolvedGenerateOptions = z.output<typeof generateOptionsSchema>;
