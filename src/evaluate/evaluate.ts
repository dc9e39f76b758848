import { mkdirSync } from "node:fs";
import path from "node:path";
import { type GenerateSummary, type GenerationRecord, generate } from "../generate/generate.ts";
import type { InstructionMode } from "../model/promptRecord.ts";
import { taskOf } from "../tasks/grading.ts";
import { loadPrompts, type SourceOptions } from "../tasks/sources.ts";
import type { InstructionOption } from "../teachers/prompting.ts";
import { UserError } from "../util/errors.ts";
import { readJsonl } from "../util/jsonl.ts";
import { writeFileAtomic } from "../util/outputs.ts";
import { countTokens } from "../util/tokens.ts";
import { gradeRecord } from "./score.ts";

export interface EvaluateOptions extends SourceOptions {
  /** A teacher spec (builtin:…, openai:…@…, gguf:…) or a model folder of the project's own. */
  model: string;
  /** A prompt source with gold answers (builtin:equations?split=test, gsm8k:test, math500:test, jsonl:…). */
  benchmark: string;
  out: string;
  /** Samples per item; accuracy is pass@1 averaged over them, as the DeepSeek-R1 paper reports. */
  samples?: number;
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  limit?: number;
  concurrency?: number;
  /** llama.cpp's CPU threads for a gguf: model (default: the cores available less one). */
  threads?: number;
  seed?: number;
  apiKeyEnv?: string;
  /** The template instruction after each problem: `auto` (default) as the model records it was trained. */
  instruction?: InstructionOption;
  quiet?: boolean;
}

/** Figures for one model on one set of items (and, in `by_band`, on each band of it). */
export interface ModelScore {
  n: number;
  samples: number;
  /** pass@1 averaged over the samples. */
  accuracy: number;
  /** Share of items with at least one correct sample among `samples`. */
  pass_at_k: number;
  format_rate: number;
  truncation_rate: number;
  /** Mean completion tokens (as the model reports them). */
  mean_tokens: number;
  mean_reasoning_tokens: number;
  mean_answer_tokens: number;
}

export interface EvaluateSummary extends ModelScore {
  model: string;
  benchmark: string;
  /** Whether the prompts carried the template instruction (as the model records, or `--instruction`). */
  instruction?: InstructionMode;
  by_band: Record<string, ModelScore>;
  /**
   * Samples the model could not produce (in failed.jsonl, or left by a stop): not scored, so the
   * figures are over the rest. Always set by `evaluate`; optional for summaries written before it.
   */
  missing?: number;
  /** Where the failures are. */
  failed_file?: string;
  seconds: number;
}

export interface EvaluatedRecord extends GenerationRecord {
  /** By the task's rule (`gradeAnswer`); null: cannot tell (counted as not correct). */
  correct: boolean | null;
  /** The answer judged: the template's answer part, else one stated in the prose (never from a cut-off one). */
  graded_answer?: string | null;
  /** Why it is wrong or cannot be judged. */
  grade_reason?: string;
}

/** The benchmark was run but no sample could be scored: every request failed, or none was made. */
export class NothingScored extends UserError {}

/**
 * `distill eval`: sample every benchmark item `samples` times through the generation stage (resumable,
 * concurrent, the same records), check each answer with the verifier, and write `results.jsonl` (the
 * records with `correct`) and `summary.json` (accuracy, pass@k, format rate, lengths, truncation, per band).
 */
export async function evaluate(options: EvaluateOptions): Promise<EvaluateSummary> {
  const started = Date.now();
  await refuseWithoutGold(options);
  mkdirSync(options.out, { recursive: true });
  const run = await generate(
    {
      prompts: options.benchmark,
      teacher: options.model,
      out: options.out,
      samplesPerPrompt: options.samples ?? 1,
      temperature: options.temperature ?? 0,
      topP: options.topP ?? 1,
      maxTokens: options.maxTokens ?? 1024,
      limit: options.limit,
      concurrency: options.concurrency ?? 32,
      threads: options.threads,
      seed: options.seed ?? 0,
      apiKeyEnv: options.apiKeyEnv,
      promptField: options.promptField,
      answerField: options.answerField,
      idField: options.idField,
      instruction: options.instruction,
      quiet: options.quiet,
    },
    { changedSettings: "use another --out for other settings (each eval folder holds one configuration)" },
  );
  if (run.stopped === "unreachable")
    throw new NothingScored(`${run.stopReason}; nothing was scored (re-run the same command once it is up)`);
  const records: EvaluatedRecord[] = [];
  for await (const { value } of readJsonl<GenerationRecord>(run.file)) records.push(gradeRecord(value));
  if (records.length === 0) throw new NothingScored(nothingScoredReason(run));
  records.sort((a, b) => a.prompt_id.localeCompare(b.prompt_id) || a.sample_index - b.sample_index);
  writeFileAtomic(
    path.join(options.out, "results.jsonl"),
    records.map((r) => `${JSON.stringify(r)}\n`).join(""),
  );
  const bands = [...new Set(records.map((r) => r.band ?? "all"))].sort();
  const summary: EvaluateSummary = {
    model: options.model,
    benchmark: options.benchmark,
    instruction: run.instruction,
    ...scoreRecords(records),
    by_band: Object.fromEntries(
      bands.map((band) => [band, scoreRecords(records.filter((r) => (r.band ?? "all") === band))]),
    ),
    missing: run.failed + run.abandoned + run.remaining,
    failed_file: run.failedFile,
    seconds: (Date.now() - started) / 1000,
  };
  writeFileAtomic(path.join(options.out, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

/**
 * A benchmark is scored against its golds: one whose task needs them (all but the built-in tasks, which
 * compute the right answer from the prompt) and lacks one is refused before anything is generated.
 */
async function refuseWithoutGold(options: EvaluateOptions): Promise<void> {
  if (!taskOf(options.benchmark).needsGold) return;
  const prompts = (await loadPrompts(options.benchmark, options)).slice(0, options.limit);
  const missing = prompts.filter((p) => !p.gold?.trim());
  if (missing.length === 0) return;
  const field = options.benchmark.startsWith("jsonl:")
    ? ` (name the field holding them with --answer-field${options.answerField ? `; "${options.answerField}" is missing or empty there` : ""})`
    : "";
  throw new UserError(
    `benchmark "${options.benchmark}" has no gold answer for ${missing.length} of its ${prompts.length} items ` +
      `(the first: ${missing[0].id}), so they cannot be scored${field}`,
  );
}

/** Why a run left nothing to score: its failures counted by cause, or that it made no request. */
function nothingScoredReason(run: GenerateSummary): string {
  if (run.failed === 0)
    return `nothing was scored: no sample was generated (${run.stopped ?? "no request made"})`;
  const causes = Object.entries(run.errors)
    .map(([cause, n]) => `${cause} ×${n}`)
    .join(", ");
  return `nothing was scored: all ${run.failed} requests failed (${causes}); see ${run.failedFile}, and re-run to retry them`;
}

export function scoreRecords(records: EvaluatedRecord[]): ModelScore {
  const byItem = new Map<string, EvaluatedRecord[]>();
  for (const r of records) byItem.set(r.prompt_id, [...(byItem.get(r.prompt_id) ?? []), r]);
  const mean = (f: (r: EvaluatedRecord) => number) =>
    records.length ? records.reduce((s, r) => s + f(r), 0) / records.length : 0;
  const items = [...byItem.values()];
  return {
    n: items.length,
    samples: items.length ? Math.round(records.length / items.length) : 0,
    accuracy: round(mean((r) => (r.correct ? 1 : 0))),
    pass_at_k: round(
      items.length ? items.filter((rs) => rs.some((r) => r.correct)).length / items.length : 0,
    ),
    format_rate: round(mean((r) => (r.conforms ? 1 : 0))),
    truncation_rate: round(mean((r) => (r.finish_reason === "length" ? 1 : 0))),
    mean_tokens: round(
      mean((r) => r.usage.completion_tokens),
      1,
    ),
    mean_reasoning_tokens: round(
      mean((r) => countTokens(r.reasoning ?? "")),
      1,
    ),
    mean_answer_tokens: round(
      mean((r) => countTokens(r.answer ?? "")),
      1,
    ),
  };
}

function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
