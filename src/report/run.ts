import { existsSync, readFileSync, statSync } from "node:fs";
import { z } from "zod";
import type { EvaluatedRecord, ModelScore } from "../evaluate/evaluate.ts";
import { UserError } from "../util/errors.ts";
import { evaluatedModels, headlineFunnel, runLayout, trainedModels } from "../util/runLayout.ts";

/** A model's figures as `summary.json` holds them: the totals and the same figures per band. */
export type BandedScore = Partial<ModelScore> & {
  n: number;
  accuracy: number;
  by_band?: Record<string, Partial<ModelScore> & { n: number; accuracy: number }>;
};

/** One line of `models/<name>/metrics.jsonl`: a training step (`loss`) or an epoch's end (`val_loss`). */
export interface MetricRow {
  step: number;
  epoch?: number;
  loss?: number;
  val_loss?: number;
  lr?: number;
  tokens_per_s?: number;
}

/** Everything the report reads from a run folder; a part whose files are absent is empty or null. */
export interface RunData {
  dir: string;
  /** Model names in display order: teacher, base, distilled, distilled_unfiltered, then the rest A–Z. */
  models: string[];
  scores: Record<string, BandedScore>;
  /** The benchmark each model was evaluated on, where its eval summary names it. */
  benchmarks: Record<string, string>;
  results: Record<string, EvaluatedRecord[]>;
  metrics: Record<string, MetricRow[]>;
  /** Candidates left after each check, in funnel order; the first entry is the input. */
  funnel: [string, number][] | null;
  seconds: Record<string, number> | null;
}

const knownOrder = ["teacher", "base", "distilled", "distilled_unfiltered"];

const scoreSchema = z.looseObject({
  n: z.number(),
  accuracy: z.number(),
  samples: z.number().optional(),
  pass_at_k: z.number().optional(),
  format_rate: z.number().optional(),
  truncation_rate: z.number().optional(),
  mean_tokens: z.number().optional(),
  mean_reasoning_tokens: z.number().optional(),
  mean_answer_tokens: z.number().optional(),
});
const bandedSchema = scoreSchema.extend({ by_band: z.record(z.string(), scoreSchema).optional() });
const summarySchema = z.looseObject({
  models: z.record(z.string(), bandedSchema).optional(),
  funnel: z.record(z.string(), z.number()).optional(),
  seconds: z.record(z.string(), z.number()).optional(),
});
/** `filter/funnel.json` as the filter stage writes it (see src/filter/filter.ts `Funnel`). */
const filterFunnelSchema = z.looseObject({
  candidates: z.number(),
  steps: z.array(z.looseObject({ step: z.string(), remaining: z.number() })),
});

/**
 * Read what a run folder holds (the layout of src/util/runLayout.ts): `summary.json`,
 * `eval/<model>/{summary.json,results.jsonl}`, `models/<model>/metrics.jsonl` and the filter's
 * `funnel.json`. Any of them may be missing; malformed ones are a UserError naming the file, line and field.
 */
export function readRun(dir: string): RunData {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new UserError("run folder not found", { file: dir });
  const layout = runLayout(dir);
  const summaryFile = layout.summary;
  const summary = existsSync(summaryFile)
    ? parseWith(summarySchema, readJson(summaryFile), summaryFile)
    : null;

  const scores: Record<string, BandedScore> = { ...(summary?.models ?? {}) };
  const benchmarks: Record<string, string> = {};
  const results: Record<string, EvaluatedRecord[]> = {};
  for (const name of evaluatedModels(dir)) {
    const evalSummary = layout.evalSummary(name);
    if (existsSync(evalSummary)) {
      const s = parseWith(bandedSchema, readJson(evalSummary), evalSummary);
      scores[name] ??= s;
      if (typeof s.benchmark === "string") benchmarks[name] = s.benchmark;
    }
    const resultsFile = layout.evalResults(name);
    if (existsSync(resultsFile)) results[name] = readResults(resultsFile);
  }
  const metrics: Record<string, MetricRow[]> = {};
  for (const name of trainedModels(dir)) metrics[name] = readMetrics(layout.metrics(name));

  let funnel: [string, number][] | null = summary?.funnel ? Object.entries(summary.funnel) : null;
  const funnelFile = headlineFunnel(dir);
  if (!funnel && funnelFile) {
    const f = parseWith(filterFunnelSchema, readJson(funnelFile), funnelFile);
    funnel = [["candidates", f.candidates], ...f.steps.map((s): [string, number] => [s.step, s.remaining])];
  }

  const names = new Set([...Object.keys(scores), ...Object.keys(results), ...Object.keys(metrics)]);
  const models = [
    ...knownOrder.filter((m) => names.has(m)),
    ...[...names].filter((m) => !knownOrder.includes(m)).sort(),
  ];
  return { dir, models, scores, benchmarks, results, metrics, funnel, seconds: summary?.seconds ?? null };
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new UserError(`not valid JSON (${(err as Error).message})`, { file });
  }
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, file: string, line?: number): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new UserError(issue.message, { file, line, field: issue.path.join(".") || undefined });
}

/** JSON Lines read whole and synchronously: a few thousand lines parse in milliseconds. */
function readLines(file: string): { value: unknown; line: number }[] {
  const out: { value: unknown; line: number }[] = [];
  const lines = readFileSync(file, "utf8").split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    try {
      out.push({ value: JSON.parse(lines[i]), line: i + 1 });
    } catch (err) {
      throw new UserError(`not valid JSON (${(err as Error).message})`, { file, line: i + 1 });
    }
  }
  return out;
}

const resultSchema = z.looseObject({
  prompt_id: z.string(),
  sample_index: z.number().optional(),
  prompt: z.string(),
  completion: z.string(),
  correct: z.boolean().nullable().optional(),
  usage: z.looseObject({ completion_tokens: z.number() }),
});

function readResults(file: string): EvaluatedRecord[] {
  // Validate only the fields the report uses; the rest pass through as the eval stage wrote them.
  return readLines(file).map(({ value, line }) => {
    const r = parseWith(resultSchema, value, file, line) as unknown as EvaluatedRecord;
    r.sample_index ??= 0;
    r.correct ??= null;
    return r;
  });
}

const metricSchema = z.looseObject({
  step: z.number(),
  loss: z.number().optional(),
  val_loss: z.number().optional(),
});

function readMetrics(file: string): MetricRow[] {
  return readLines(file).map(({ value, line }) => parseWith(metricSchema, value, file, line));
}
