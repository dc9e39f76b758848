import { z } from "zod";
import { markersOptionSchema } from "../template/markers.ts";
import { defaultCheckConfig } from "./checks/defaults.ts";
import { policies } from "./policy.ts";

const d = defaultCheckConfig;

/**
 * The languages `--language` can name: those the language check's detector (eld, large) knows, as
 * ISO 639-1 codes. Listed here so reading options does not load eld's dictionary (seconds);
 * options.test.ts checks the list against eld's own.
 */
// biome-ignore format: a table of codes
export const filterLanguages = [
  "am", "ar", "az", "be", "bg", "bn", "ca", "cs", "da", "de", "el", "en", "es", "et", "eu", "fa",
  "fi", "fr", "gu", "he", "hi", "hr", "hu", "hy", "is", "it", "ja", "ka", "kn", "ko", "ku", "lo",
  "lt", "lv", "ml", "mr", "ms", "nl", "no", "or", "pa", "pl", "pt", "ro", "ru", "sk", "sl", "sq",
  "sr", "sv", "ta", "te", "th", "tl", "tr", "uk", "ur", "vi", "yo", "zh",
] as const;

/** Every option of `distill filter`, shared by flags and YAML recipes (`filter:` section). */
export const filterOptionsSchema = z
  .object({
    in: z.string({ error: "is required: a generations.jsonl file" }).min(1),
    out: z.string({ error: "is required: the output folder" }).min(1),
    policy: z.enum(policies).default("all-correct"),
    /** Candidates kept a prompt: the cap of all-correct, the k of k-diverse (default 2). */
    maxPerPrompt: z.coerce.number().int().min(1).optional(),
    /** Benchmark prompt specs (loadPrompts) no training prompt may overlap with. */
    decontaminate: z.array(z.string().min(1)).default([]),
    decontaminateNgram: z.coerce.number().int().min(1).default(13),
    /** What deduplication looks at: prompts, responses, both or neither. */
    dedup: z.enum(["all", "prompts", "responses", "none"]).default("all"),
    nearDupThreshold: z.coerce.number().gt(0).max(1).default(0.8),
    nearDupMinWords: z.coerce.number().int().min(1).default(8),
    nearDupPermutations: z.coerce.number().int().min(8).max(1024).default(64),
    nearDupShingle: z.coerce.number().int().min(1).default(3),
    language: z
      .enum(filterLanguages, {
        error: (issue) =>
          `unknown language ${JSON.stringify(issue.input)}: an ISO 639-1 code, one of ${filterLanguages.join(", ")}`,
      })
      .default(d.language as (typeof filterLanguages)[number]),
    languageMinWords: z.coerce.number().int().min(1).default(d.languageMinWords),
    languageMargin: z.coerce.number().min(0).max(1).default(d.languageMargin),
    maxParagraphChars: z.coerce.number().int().min(1).default(d.maxParagraphChars),
    maxParagraphSentences: z.coerce.number().int().min(1).default(d.maxParagraphSentences),
    repeatedLineMinChars: z.coerce.number().int().min(1).default(d.repeatedLineMinChars),
    maxLineRepeats: z.coerce.number().int().min(2).default(d.maxLineRepeats),
    repetitionNgram: z.coerce.number().int().min(1).default(d.repetitionNgram),
    maxRepeatedNgramShare: z.coerce.number().min(0).max(1).default(d.maxRepeatedNgramShare),
    minChars: z.coerce.number().int().min(0).default(d.minChars),
    maxChars: z.coerce.number().int().min(1).default(d.maxChars),
    keepUnverifiable: z.coerce.boolean().default(d.keepUnverifiable),
    markers: markersOptionSchema,
    /** Size of the partitions pass 2 holds in memory at once (bytes of input a partition). */
    partitionBytes: z.coerce
      .number()
      .int()
      .min(1024)
      .default(32 * 1024 * 1024),
    quiet: z.coerce.boolean().default(false),
  })
  .strict();

export type FilterOptions = z.input<typeof filterOptionsSchema>;
export type ResolvedFilterOptions = z.output<typeof filterOptionsSchema>;
