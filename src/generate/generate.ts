import { setMaxListeners } from "node:events";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { loadPrompts, type PromptRecord } from "../tasks/sources.ts";
import type { EndpointStats, TeacherPool } from "../teachers/pool.ts";
import { isModelFolder } from "../teachers/registry.ts";
import type { Teacher } from "../teachers/types.ts";
import { TeacherError } from "../teachers/types.ts";
import { resolveMarkers } from "../template/markers.ts";
import { parseCompletion } from "../template/parse.ts";
import { renderTeacherMessages } from "../template/render.ts";
import { UserError } from "../util/errors.ts";
import { BatchedJsonlAppender, JsonlAppender, readJsonl, repairTornTail } from "../util/jsonl.ts";
import { createProgress } from "../util/progress.ts";
import { hashSeed } from "../util/random.ts";
import { InFlight, RunStopped, sampleOnce } from "./attempt.ts";
import { Budget, priceFor, type Spent } from "./budget.ts";
import { createRunTeacher, runConcurrencyOf } from "./endpoints.ts";
import {
  fingerprintPrompts,
  inShard,
  type RunIdentity,
  resolveConfig,
  teacherModelOf,
  writeRunInfo,
} from "./identity.ts";
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
  /** The run configuration (generate.json `configs`) this candidate belongs to. */
  config?: string;
  created_at: string;
}

export interface FailureRecord {
  prompt_id: string;
  sample_index: number;
  error: string;
  status?: number;
  retryable: boolean;
  attempts: number;
  config?: string;
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
  /** Why the run ended before every candidate was tried: its budget, or a signal (SIGINT/SIGTERM). */
  stopped?: "budget" | "SIGINT" | "SIGTERM" | "signal";
  /** Candidates in flight or waiting to retry when the run stopped: neither written nor failed. */
  abandoned: number;
  /** Candidates not yet tried when the run stopped (a re-run does them). */
  remaining: number;
  /** Tokens (and dollars, with a price) spent by everything in this configuration's file, all runs. */
  spent: Spent;
  /** The configuration's id and the file its candidates are in. */
  config: string;
  file: string;
  endpoints?: EndpointStats[];
}

/**
 * `distill generate`: sample `samplesPerPrompt` candidates a prompt from a teacher, in the template,
 * and append them to `<out>/generations.jsonl`. Concurrent up to `concurrency`, over one endpoint or a
 * pool of them; retryable errors (and requests past `requestTimeout`, streams silent past `stallTimeout`)
 * are retried with backoff; a candidate that still fails is recorded in `failed.jsonl`, not fatal.
 * Resumable: finished `(prompt_id, sample_index)` pairs are skipped, so re-running the same command
 * continues where a crash or kill stopped it, and a `kill -9` loses only requests in flight.
 * Stops cleanly at a budget, or when `signal` aborts: no new requests, those in flight get `grace`
 * seconds to finish and are written, and the summary says why it stopped.
 */
export async function generate(
  input: GenerateOptions,
  injected?: { teacher?: Teacher; signal?: AbortSignal },
): Promise<GenerateSummary> {
  const options: ResolvedGenerateOptions = generateOptionsSchema.parse(input);
  const markers = resolveMarkers(options.markers);
  const started = Date.now();
  mkdirSync(options.out, { recursive: true });

  let prompts: PromptRecord[] = await loadPrompts(options.prompts, options);
  if (options.limit !== undefined) prompts = prompts.slice(0, options.limit);
  const teacherModel = teacherModelOf(options.teacher);
  // before anything is written: a refused run leaves no trace
  const price = priceFor(options.prices, teacherModel);
  if (options.maxCost !== undefined && !price) {
    throw new UserError(
      `--max-cost needs a price for "${teacherModel.replace(/^[a-z]+:/, "")}": add prices: { <model>: { input, output } } (USD per million tokens) to the recipe`,
    );
  }
  const identity: RunIdentity = {
    prompts: options.prompts,
    promptsFingerprint: fingerprintPrompts(prompts),
    teacher: teacherModel,
    temperature: options.temperature,
    topP: options.topP,
    maxTokens: options.maxTokens,
    seed: options.seed,
    markers,
    ...(options.shard ? { shard: options.shard } : {}),
  };
  if (options.shard) prompts = prompts.filter((p) => inShard(p.id, options.shard!));
  const { config, info } = resolveConfig(options.out, identity, options.newParams);
  info.run = {
    samplesPerPrompt: options.samplesPerPrompt,
    ...(options.limit === undefined ? {} : { limit: options.limit }),
    promptCount: prompts.length,
    promptOptions: {
      promptField: options.promptField,
      answerField: options.answerField,
      idField: options.idField,
    },
  };
  // made before anything is written: a teacher that cannot be (a file that is no GGUF) leaves no trace
  const concurrency = runConcurrencyOf(options.teacher, options, options.concurrency);
  const teacher =
    injected?.teacher ??
    createRunTeacher(options.teacher, options, concurrency, {
      markers,
      apiKeyEnv: options.apiKeyEnv,
      stream: options.stream,
      timeoutMs: deadlineMs(options),
      sequences: concurrency,
    });
  writeRunInfo(options.out, info);
  const file = path.join(options.out, config.generations);
  const failedFile = path.join(options.out, config.failed);

  const torn = repairTornTail(file);
  if (torn > 0 && !options.quiet)
    process.stderr.write(`generate: removed a torn last line (${torn} bytes) left by a kill\n`);
  const done = new Set<string>();
  const onDisk = { promptTokens: 0, completionTokens: 0, requests: 0 };
  if (existsSync(file)) {
    for await (const { value } of readJsonl<GenerationRecord>(file)) {
      done.add(candidateKey(value.prompt_id, value.sample_index));
      onDisk.promptTokens += value.usage?.prompt_tokens ?? 0;
      onDisk.completionTokens += value.usage?.completion_tokens ?? 0;
      onDisk.requests++;
    }
  }
  repairTornTail(failedFile);

  const jobs: { prompt: PromptRecord; index: number }[] = [];
  for (const prompt of prompts) {
    for (let index = 0; index < options.samplesPerPrompt; index++) {
      if (!done.has(candidateKey(prompt.id, index))) jobs.push({ prompt, index });
    }
  }
  const resumed = prompts.length * options.samplesPerPrompt - jobs.length;

  const budget = new Budget(
    { maxTokensTotal: options.maxTokensTotal, maxCost: options.maxCost },
    price,
    options.maxTokens,
    onDisk,
  );

  const pool = "cancelWaiting" in teacher ? (teacher as TeacherPool) : undefined;
  // students learn the template from their training data, so they get the bare problem
  const useInstruction =
    options.instruction ?? !(options.teacher.startsWith("model:") || isModelFolder(options.teacher));
  const out = new BatchedJsonlAppender(file);
  const failures = new JsonlAppender(failedFile);
  const progress = createProgress("generate", jobs.length, { quiet: options.quiet });
  const totals = { written: 0, failed: 0, retries: 0, promptTokens: 0, completionTokens: 0, abandoned: 0 };
  // `stop` ends retries and backoff waits; `inFlight.abortAll()` cuts requests when the grace ends
  const stop = new AbortController();
  setMaxListeners(0, stop.signal); // every backoff wait listens to it
  let stopped: GenerateSummary["stopped"];
  const inFlight = new InFlight(
    { deadlineMs: deadlineMs(options), ...(options.stream ? { stallMs: options.stallTimeout * 1000 } : {}) },
    Boolean(pool || options.stream || injected?.teacher), // see InFlight: plain requests skip the signal
  );
  const policy = {
    maxAttempts: options.maxAttempts,
    baseDelayMs: options.retryBaseMs,
    maxDelayMs: 60_000,
    signal: stop.signal,
  };

  const runOne = async ({ prompt, index }: { prompt: PromptRecord; index: number }) => {
    const seed = hashSeed(options.seed, prompt.id, index);
    const messages = useInstruction
      ? renderTeacherMessages(prompt.prompt, markers)
      : [{ role: "user" as const, content: prompt.prompt.trim() }];
    const t0 = performance.now();
    let last = t0;
    const result = await withRetries(async () => {
      last = performance.now();
      const [completion] = await sampleOnce(
        teacher,
        {
          messages,
          n: 1,
          temperature: options.temperature,
          topP: options.topP,
          maxTokens: options.maxTokens,
          seed,
        },
        inFlight,
      );
      return completion;
    }, policy);
    totals.retries += Math.max(0, result.attempts - 1);
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
        config: config.id,
        created_at: createdAt,
      };
      out.write(record);
      totals.written++;
      totals.promptTokens += c.usage.promptTokens;
      totals.completionTokens += c.usage.completionTokens;
      budget.add(c.usage);
    } else if (result.stopped || result.error instanceof RunStopped) {
      totals.abandoned++; // stopped mid-way: left for a re-run, recorded nowhere
      return;
    } else {
      const err = result.error;
      failures.write({
        prompt_id: prompt.id,
        sample_index: index,
        error: err instanceof Error ? err.message : String(err),
        ...(err instanceof TeacherError && err.status !== undefined ? { status: err.status } : {}),
        retryable: err instanceof TeacherError && err.retryable,
        attempts: result.attempts,
        config: config.id,
        created_at: createdAt,
      } satisfies FailureRecord);
      totals.failed++;
    }
    progress.tick(1, { failed: totals.failed, tokens: totals.completionTokens });
  };

  // a stop from outside: no new requests now; the requests in flight get the grace period
  let graceTimer: NodeJS.Timeout | undefined;
  const onSignal = () => {
    stopped ??= signalName(injected?.signal?.reason);
    stop.abort(new RunStopped(stopped));
    // requests still queued for an endpoint have not been issued: they never will be
    pool?.cancelWaiting(new RunStopped(stopped));
    graceTimer = setTimeout(() => inFlight.abortAll(), options.grace * 1000);
  };
  if (injected?.signal?.aborted) onSignal();
  else injected?.signal?.addEventListener("abort", onSignal, { once: true });

  let next = 0;
  let busy = 0;
  const worker = async () => {
    while (next < jobs.length && !stop.signal.aborted) {
      if (budget.limited && !budget.allows(busy)) break; // those in flight finish and are written
      busy++;
      try {
        await runOne(jobs[next++]);
      } finally {
        busy--;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, worker));
  } finally {
    clearTimeout(graceTimer);
    injected?.signal?.removeEventListener("abort", onSignal);
    progress.stop();
    out.close();
    failures.close();
    await teacher.close?.();
  }
  if (!stopped && next < jobs.length) stopped = "budget";
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
    ...(stopped ? { stopped } : {}),
    abandoned: totals.abandoned,
    remaining: jobs.length - next,
    spent: budget.spent,
    config: config.id,
    file,
    ...(pool ? { endpoints: pool.stats() } : {}),
  };
  writeRunInfo(options.out, { ...info, summary });
  return summary;
}

/** The hard deadline of one request: `requestTimeout` seconds, else `timeoutMs`. */
function deadlineMs(options: ResolvedGenerateOptions): number {
  return options.requestTimeout === undefined ? options.timeoutMs : options.requestTimeout * 1000;
}

function signalName(reason: unknown): "SIGINT" | "SIGTERM" | "signal" {
  return reason === "SIGINT" || reason === "SIGTERM" ? reason : "signal";
}

/** One candidate's key in a run: its prompt and sample index. */
export function candidateKey(promptId: string, index: number): string {
  return `${promptId}\u0000${index}`;
}
