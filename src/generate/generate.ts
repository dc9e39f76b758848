import type { InstructionMode } from "../model/promptRecord.ts";
import type { EndpointStats } from "../teachers/pool.ts";
import { type ResolvedPrompting, resolvePrompting } from "../teachers/prompting.ts";
import { teacherFactories } from "../teachers/registry.ts";
import { parseTeacherSpec, type TeacherSpec } from "../teachers/spec.ts";
import type { Teacher } from "../teachers/types.ts";
import { resolveMarkers, type TemplateMarkers } from "../template/markers.ts";
import { UserError } from "../util/errors.ts";
import type { Spent } from "./budget.ts";
import { createRunTeacher, endpointsOf, runConcurrencyOf } from "./endpoints.ts";
import { writeRunInfo } from "./identity.ts";
import { type GenerateOptions, generateOptionsSchema, type ResolvedGenerateOptions } from "./options.ts";
import { planRun, type RunPlan } from "./plan.ts";
import { CandidateRun, deadlineMs } from "./run.ts";

export { candidateKey } from "./plan.ts";

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
  /** Failed attempts of this run by cause (`ECONNREFUSED`, `HTTP 503`…), retried ones included. */
  errors: Record<string, number>;
  seconds: number;
  samplesPerSecond: number;
  /**
   * Why the run ended before every candidate was tried: its budget, a signal (SIGINT/SIGTERM), or no
   * endpoint reachable (every attempt failed to connect and none ever answered; `stopReason` says which).
   */
  stopped?: "budget" | "SIGINT" | "SIGTERM" | "signal" | "unreachable";
  /** For a person: `cannot reach http://…: ECONNREFUSED on all 9 attempts, none answered`. */
  stopReason?: string;
  /** Candidates in flight or waiting to retry when the run stopped: neither written nor failed. */
  abandoned: number;
  /** Candidates not yet tried when the run stopped (a re-run does them). */
  remaining: number;
  /** Tokens (and dollars, with a price) spent by everything in this configuration's file, all runs. */
  spent: Spent;
  /** The configuration's id and the file its candidates are in. */
  config: string;
  file: string;
  failedFile: string;
  /** With `--logprobs`: the side file holding the teacher's log-probabilities of each candidate. */
  logprobsFile?: string;
  /** Whether prompts carried the template instruction (`--instruction`, else what the model records). */
  instruction: InstructionMode;
  endpoints?: EndpointStats[];
}

/**
 * `distill generate`: sample `samplesPerPrompt` candidates a prompt from a teacher, in the template,
 * and append them to `<out>/generations.jsonl`. Concurrent up to `concurrency`, over one endpoint or a
 * pool of them; retryable errors (and requests past `requestTimeout`, streams silent past `stallTimeout`)
 * are retried with backoff; a candidate that still fails is recorded in `failed.jsonl`, not fatal.
 * Resumable: finished `(prompt_id, sample_index)` pairs are skipped, so re-running the same command
 * continues where a crash or kill stopped it, and a `kill -9` loses only requests in flight.
 * Stops cleanly at a budget, when `signal` aborts, or when no endpoint can be reached at all: no new
 * requests, those in flight get `grace` seconds to finish and are written, and the summary says why.
 * `changedSettings` is the remedy offered when the folder holds another configuration.
 */
export async function generate(
  input: GenerateOptions,
  injected: { teacher?: Teacher; signal?: AbortSignal; changedSettings?: string } = {},
): Promise<GenerateSummary> {
  const options: ResolvedGenerateOptions = generateOptionsSchema.parse(input);
  const started = Date.now();
  const concurrency = runConcurrencyOf(options.teacher, options, options.concurrency);
  // made before planRun writes generate.json: a teacher that cannot be (a file that is no GGUF) leaves no trace
  const teacher = injected.teacher ?? openTeacher(options, resolveMarkers(options.markers), concurrency);
  if (options.logprobs !== undefined && !teacher.givesLogprobs) {
    await teacher.close?.();
    throw new UserError(
      `--logprobs: the teacher ${teacher.id} gives no log-probabilities; OpenAI-compatible endpoints and model folders do`,
      { field: "logprobs" },
    );
  }
  // a student gets the prompt it was trained on; a teacher, the problem and the template instruction
  const prompting = await resolvePrompting(specOf(options.teacher), options.instruction);
  const plan = await planRun(options, injected.changedSettings)
    .then((plan) => {
      refuseOtherPrompting(plan, prompting);
      return plan;
    })
    .catch(async (err: unknown) => {
      if (!injected.teacher) await teacher.close?.();
      throw err;
    });
  const endpoints = injected.teacher
    ? [teacher.id]
    : endpointsOf(options.teacher, options, concurrency).map((e) => e.url ?? e.spec);
  const useInstruction = prompting.instruction === "template";
  const run = new CandidateRun(options, plan, teacher, endpoints, Boolean(injected.teacher), useInstruction);
  const detach = run.stopOn(injected.signal);
  try {
    await run.work(concurrency);
  } finally {
    detach();
    await run.close();
  }
  const summary = summarise(options, plan, run, started, prompting);
  writeRunInfo(options.out, { ...plan.info, summary });
  if (run.refusal) throw run.refusal;
  return summary;
}

/** The run's teacher from its spec: one endpoint's client, or a pool over several. */
function openTeacher(
  options: ResolvedGenerateOptions,
  markers: TemplateMarkers,
  concurrency: number,
): Teacher {
  return createRunTeacher(options.teacher, options, concurrency, {
    markers,
    apiKeyEnv: options.apiKeyEnv,
    stream: options.stream,
    timeoutMs: deadlineMs(options),
    sequences: concurrency,
    threads: options.threads,
  });
}

function summarise(
  options: ResolvedGenerateOptions,
  plan: RunPlan,
  run: CandidateRun,
  started: number,
  prompting: ResolvedPrompting,
): GenerateSummary {
  const seconds = (Date.now() - started) / 1000;
  const { totals } = run;
  return {
    out: options.out,
    candidates: plan.resumed + totals.written,
    written: totals.written,
    failed: totals.failed,
    resumed: plan.resumed,
    promptTokens: totals.promptTokens,
    completionTokens: totals.completionTokens,
    retries: totals.retries,
    errors: run.watch.causes,
    seconds,
    samplesPerSecond: totals.written / Math.max(seconds, 1e-3),
    ...(run.stopped ? { stopped: run.stopped } : {}),
    ...(run.stopReason ? { stopReason: run.stopReason } : {}),
    abandoned: totals.abandoned,
    remaining: plan.jobs.length - run.next,
    spent: run.budget.spent,
    config: plan.config.id,
    file: plan.file,
    failedFile: plan.failedFile,
    ...(plan.logprobsFile ? { logprobsFile: plan.logprobsFile } : {}),
    instruction: prompting.instruction,
    ...(run.pool ? { endpoints: run.pool.stats() } : {}),
  };
}

/**
 * A resumed configuration keeps the prompt its candidates were made with: `auto` may resolve otherwise
 * than last time (a server that did not answer its model list then), and one file must not mix both.
 */
function refuseOtherPrompting(plan: RunPlan, prompting: ResolvedPrompting): void {
  // the folder's generate.json as planRun read it: the last run's summary is still in it
  const earlier = plan.info.summary as Partial<GenerateSummary> | undefined;
  if (plan.resumed === 0 || earlier?.config !== plan.config.id || !earlier.instruction) return;
  if (earlier.instruction === prompting.instruction) return;
  throw new UserError(
    `the candidates in ${plan.file} were prompted with instruction "${earlier.instruction}", this run would use "${prompting.instruction}" (${prompting.source}): add --instruction ${earlier.instruction} to continue them, or use another --out`,
    { field: "instruction" },
  );
}

/** The teacher's parsed spec; one only an injected teacher understands counts as a custom kind. */
function specOf(teacher: string): TeacherSpec {
  try {
    return parseTeacherSpec(teacher, Object.keys(teacherFactories));
  } catch {
    return { kind: "custom", spec: teacher, prefix: "", rest: teacher };
  }
}
