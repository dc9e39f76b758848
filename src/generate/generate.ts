import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { loadPrompts, type PromptRecord } from "../tasks/sources.ts";
import { createTeacher, isModelFolder } from "../teachers/registry.ts";
import type { Teacher } from "../teachers/types.ts";
import { TeacherError } from "../teachers/types.ts";
import { resolveMarkers, type TemplateMarkers } from "../template/markers.ts";
import { parseCompletion } from "../template/parse.ts";
import { renderTeacherMessages } from "../template/render.ts";
import { UserError } from "../util/errors.ts";
import { JsonlAppender, readJsonl, repairTornTail } from "../util/jsonl.ts";
import { createProgress } from "../util/progress.ts";
import { hashSeed } from "../util/random.ts";
import { type GenerateOptions, generateOptionsSchema, type ResolvedGenerateOptions } from "./options.ts";
import { withRetries } from "./retry.ts";

/** One candidate, one line of `generations.jsonl`. Field names are snake_case: it is a file format. */
export interface GenerationRecord {
  prompt_id: string;
  sample_index: number;
  prompt: string;
  gold?: string;
  source: string;
  band?: string;
  /** The teacher's raw content. */
  completion: string;
  /** Reasoning the teacher returned beside the content (DeepSeek `reasoning_content`), raw. */
  completion_reasoning?: string;
  reasoning: string | null;
  answer: string | null;
  boxed: string | null;
  conforms: boolean;
  problems: string[];
  finish_reason: string;
  usage: { prompt_tokens: number; completion_tokens: number };
  latency_ms: number;
  attempts: number;
  teacher: string;
  params: { temperature: number; top_p: number; max_tokens: number };
  seed: number;
  teacher_meta?: Record<string, unknown>;
  created_at: string;
}

export interface FailureRecord {
  prompt_id: string;
  sample_index: number;
  error: string;
  status?: number;
  retryable: boolean;
  attempts: number;
  created_at: string;
}

export interface GenerateSummary {
  out: string;
  /** Candidates in generations.jsonl after this run (earlier runs included). */
  candidates: number;
  /** Candidates written by this run. */
  written: number;
  /** Candidates that failed in this run after all retries (in failed.jsonl; a re-run tries them again). */
  failed: number;
  /** Candidates already present from an earlier run and skipped. */
  resumed: number;
  promptTokens: number;
  completionTokens: number;
  retries: number;
  seconds: number;
  samplesPerSecond: number;
}

/** What a run folder was made with: resuming with other settings would mix two configurations. */
interface RunIdentity {
  prompts: string;
  teacher: string;
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number;
  markers: TemplateMarkers;
}

/**
 * `distill generate`: sample `samplesPerPrompt` candidates a prompt from a teacher, in the template,
 * and append them to `<out>/generations.jsonl`. Concurrent up to `concurrency`; retryable errors are
 * retried with backoff; a candidate that still fails is recorded in `failed.jsonl`, not fatal.
 * Resumable: finished `(prompt_id, sample_index)` pairs are skipped, so re-running the same command
 * continues where a crash or kill stopped it, and a `kill -9` loses only requests in flight.
 */
export async function generate(
  input: GenerateOptions,
  injected?: { teacher?: Teacher },
): Promise<GenerateSummary> {
  const options: ResolvedGenerateOptions = generateOptionsSchema.parse(input);
  const markers = resolveMarkers(options.markers);
  const started = Date.now();
  mkdirSync(options.out, { recursive: true });
  const file = path.join(options.out, "generations.jsonl");
  const failedFile = path.join(options.out, "failed.jsonl");

  let prompts: PromptRecord[] = await loadPrompts(options.prompts, options);
  if (options.limit !== undefined) prompts = prompts.slice(0, options.limit);
  const identity: RunIdentity = {
    prompts: options.prompts,
    teacher: options.teacher,
    temperature: options.temperature,
    topP: options.topP,
    maxTokens: options.maxTokens,
    seed: options.seed,
    markers,
  };
  checkIdentity(options.out, identity);

  const torn = repairTornTail(file);
  if (torn > 0 && !options.quiet)
    process.stderr.write(`generate: removed a torn last line (${torn} bytes) left by a kill\n`);
  const done = new Set<string>();
  if (existsSync(file)) {
    for await (const { value } of readJsonl<GenerationRecord>(file))
      done.add(key(value.prompt_id, value.sample_index));
  }
  repairTornTail(failedFile);

  const jobs: { prompt: PromptRecord; index: number }[] = [];
  for (const prompt of prompts) {
    for (let index = 0; index < options.samplesPerPrompt; index++) {
      if (!done.has(key(prompt.id, index))) jobs.push({ prompt, index });
    }
  }
  const resumed = prompts.length * options.samplesPerPrompt - jobs.length;

  const teacher =
    injected?.teacher ??
    createTeacher(options.teacher, {
      markers,
      apiKeyEnv: options.apiKeyEnv,
      stream: options.stream,
      timeoutMs: options.timeoutMs,
      sequences: options.concurrency,
    });
  // students learn the template from their training data, so they get the bare problem
  const useInstruction =
    options.instruction ?? !(options.teacher.startsWith("model:") || isModelFolder(options.teacher));
  const out = new JsonlAppender(file);
  const failures = new JsonlAppender(failedFile);
  const progress = createProgress("generate", jobs.length, { quiet: options.quiet });
  const totals = { written: 0, failed: 0, retries: 0, promptTokens: 0, completionTokens: 0 };
  const policy = { maxAttempts: options.maxAttempts, baseDelayMs: options.retryBaseMs, maxDelayMs: 60_000 };

  const runOne = async ({ prompt, index }: { prompt: PromptRecord; index: number }) => {
    const seed = hashSeed(options.seed, prompt.id, index);
    const messages = useInstruction
      ? renderTeacherMessages(prompt.prompt, markers)
      : [{ role: "user" as const, content: prompt.prompt.trim() }];
    const t0 = performance.now();
    let last = t0;
    const result = await withRetries(async () => {
      last = performance.now();
      const [completion] = await teacher.sample({
        messages,
        n: 1,
        temperature: options.temperature,
        topP: options.topP,
        maxTokens: options.maxTokens,
        seed,
      });
      return completion;
    }, policy);
    totals.retries += result.attempts - 1;
    const createdAt = new Date().toISOString();
    if (result.value) {
      const c = result.value;
      const parsed = parseCompletion(c.text, markers, c.reasoning);
      const record: GenerationRecord = {
        prompt_id: prompt.id,
        sample_index: index,
        prompt: prompt.prompt,
        ...(prompt.gold === undefined ? {} : { gold: prompt.gold }),
        source: prompt.source,
        ...(prompt.band === undefined ? {} : { band: prompt.band }),
        completion: c.text,
        ...(c.reasoning ? { completion_reasoning: c.reasoning } : {}),
        reasoning: parsed.reasoning,
        answer: parsed.answer,
        boxed: parsed.boxed,
        conforms: parsed.conforms,
        problems: parsed.problems,
        finish_reason: c.finishReason,
        usage: { prompt_tokens: c.usage.promptTokens, completion_tokens: c.usage.completionTokens },
        latency_ms: Math.round(performance.now() - last),
        attempts: result.attempts,
        teacher: teacher.id,
        params: { temperature: options.temperature, top_p: options.topP, max_tokens: options.maxTokens },
        seed,
        ...(c.meta ? { teacher_meta: c.meta } : {}),
        created_at: createdAt,
      };
      out.write(record);
      totals.written++;
      totals.promptTokens += c.usage.promptTokens;
      totals.completionTokens += c.usage.completionTokens;
    } else {
      const err = result.error;
      failures.write({
        prompt_id: prompt.id,
        sample_index: index,
        error: err instanceof Error ? err.message : String(err),
        ...(err instanceof TeacherError && err.status !== undefined ? { status: err.status } : {}),
        retryable: err instanceof TeacherError && err.retryable,
        attempts: result.attempts,
        created_at: createdAt,
      } satisfies FailureRecord);
      totals.failed++;
    }
    progress.tick(1, { failed: totals.failed, tokens: totals.completionTokens });
  };

  try {
    await runPool(jobs, options.concurrency, runOne);
  } finally {
    progress.stop();
    out.close();
    failures.close();
    await teacher.close?.();
  }
  const seconds = (Date.now() - started) / 1000;
  const summary: GenerateSummary = {
    out: options.out,
    candidates: resumed + totals.written,
    written: totals.written,
    failed: totals.failed,
    resumed,
    promptTokens: totals.promptTokens,
    completionTokens: totals.completionTokens,
    retries: totals.retries,
    seconds,
    samplesPerSecond: totals.written / Math.max(seconds, 1e-3),
  };
  writeFileSync(
    path.join(options.out, "generate.json"),
    `${JSON.stringify({ identity, summary }, null, 2)}\n`,
  );
  return summary;
}

function key(promptId: string, index: number): string {
  return `${promptId}\u0000${index}`;
}

/** Refuse to resume a run folder that was made with other settings, naming what changed. */
function checkIdentity(out: string, identity: RunIdentity): void {
  const file = path.join(out, "generate.json");
  if (!existsSync(file)) {
    writeFileSync(file, `${JSON.stringify({ identity }, null, 2)}\n`);
    return;
  }
  let previous: RunIdentity;
  try {
    previous = JSON.parse(readFileSync(file, "utf8")).identity;
  } catch {
    throw new UserError("cannot read the run's settings; remove it to start afresh", { file });
  }
  const changed = (Object.keys(identity) as (keyof RunIdentity)[]).filter(
    (k) => JSON.stringify(previous?.[k]) !== JSON.stringify(identity[k]),
  );
  if (changed.length > 0) {
    const what = changed
      .map((k) => `${k} ${JSON.stringify(previous?.[k])} → ${JSON.stringify(identity[k])}`)
      .join(", ");
    throw new UserError(`this run folder was generated with other settings (${what}); use another --out`, {
      file,
    });
  }
}

/** Run `work` over `items` with at most `concurrency` in flight. */
async function runPool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
