import { z } from "zod";
import { instructionOptions } from "../teachers/prompting.ts";
import { markersOptionSchema } from "../template/markers.ts";

/** One endpoint of a fleet (recipe `endpoints:`); limits left out fall back to the run-wide flags. */
export const endpointSchema = z
  .object({
    url: z.string().regex(/^https?:\/\/\S+$/, "must be an http(s) URL"),
    concurrency: z.coerce.number().int().min(1).optional(),
    requestsPerMinute: z.coerce.number().positive().optional(),
    tokensPerMinute: z.coerce.number().positive().optional(),
  })
  .strict();
export type EndpointOption = z.output<typeof endpointSchema>;

/** USD per million tokens, as providers publish them. */
export const priceSchema = z
  .object({ input: z.coerce.number().min(0), output: z.coerce.number().min(0) })
  .strict();
export type Price = z.output<typeof priceSchema>;

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
    /** Candidates in flight in all (default: the endpoints' concurrencies added up, else 8). */
    concurrency: z.coerce.number().int().min(1).max(4096).optional(),
    /** llama.cpp's CPU threads for a gguf: teacher (default: the cores available less one). */
    threads: z.coerce.number().int().min(1).max(1024).optional(),
    /** More endpoints of the teacher's model, with their own limits. */
    endpoints: z.array(endpointSchema).optional(),
    /** Per-endpoint defaults for endpoints that do not set their own. */
    endpointConcurrency: z.coerce.number().int().min(1).optional(),
    requestsPerMinute: z.coerce.number().positive().optional(),
    tokensPerMinute: z.coerce.number().positive().optional(),
    seed: z.coerce.number().int().min(0).default(0),
    maxAttempts: z.coerce.number().int().min(1).default(6),
    retryBaseMs: z.coerce.number().min(0).default(1000),
    timeoutMs: z.coerce.number().int().min(1).default(600_000),
    /** Hard deadline of one request in seconds (overrides timeoutMs); a request past it is retried. */
    requestTimeout: z.coerce.number().positive().optional(),
    /** A streamed response silent this many seconds is aborted and retried. */
    stallTimeout: z.coerce.number().positive().default(60),
    /** On SIGINT/SIGTERM (or an aborted signal): seconds to wait for requests in flight. */
    grace: z.coerce.number().min(0).default(30),
    /** Stop issuing requests once this many prompt + completion tokens are spent (this folder, all runs). */
    maxTokensTotal: z.coerce.number().int().min(1).optional(),
    /** Stop issuing requests once this many US dollars are spent, by `prices`. */
    maxCost: z.coerce.number().positive().optional(),
    /** USD per million input/output tokens, by model name (`deepseek-reasoner`) or teacher spec. */
    prices: z.record(z.string(), priceSchema).optional(),
    /** Continue in this folder with changed settings as a new configuration, in its own files. */
    newParams: z.coerce.boolean().default(false),
    /** `i/n`: generate only the i-th of n disjoint parts of the prompts (1-based, by hash of prompt id). */
    shard: z
      .string()
      .regex(/^\d+\/\d+$/, "must look like i/n, e.g. 1/4")
      .refine((s) => {
        const [i, n] = s.split("/").map(Number);
        return n >= 1 && i >= 1 && i <= n;
      }, "must be i/n with 1 ≤ i ≤ n")
      .optional(),
    apiKeyEnv: z.string().default("OPENAI_API_KEY"),
    stream: z.coerce.boolean().default(false),
    promptField: z.string().optional(),
    answerField: z.string().optional(),
    idField: z.string().optional(),
    markers: markersOptionSchema,
    /**
     * Append the template instruction to each prompt: `template` always, `none` never, `auto` (the
     * default) as the model records it was trained (src/teachers/prompting.ts); true/false mean
     * template/none.
     */
    instruction: z
      .preprocess(
        (v) => (v === true || v === "true" ? "template" : v === false || v === "false" ? "none" : v),
        z.enum(instructionOptions, { error: "must be auto, none or template" }),
      )
      .optional(),
    /**
     * Record each completion token's log-probability and its K most likely alternatives (0–20, OpenAI's
     * `top_logprobs`) in `logprobs.jsonl` beside the generations: teachers that give them only.
     */
    logprobs: z.coerce.number().int().min(0).max(20).optional(),
    quiet: z.coerce.boolean().default(false),
  })
  .strict();

export type GenerateOptions = z.input<typeof generateOptionsSchema>;
export type ResolvedGenerateOptions = z.output<typeof generateOptionsSchema>;
