import { setMaxListeners } from "node:events";
import type { TeacherPool } from "../teachers/pool.ts";
import type { Completion, Teacher } from "../teachers/types.ts";
import { TeacherError } from "../teachers/types.ts";
import { parseCompletion } from "../template/parse.ts";
import { type ChatMessage, renderTeacherMessages } from "../template/render.ts";
import { UserError } from "../util/errors.ts";
import { BatchedJsonlAppender, JsonlAppender } from "../util/jsonl.ts";
import { createProgress, type Progress } from "../util/progress.ts";
import { hashSeed } from "../util/random.ts";
import { InFlight, RunStopped, sampleOnce } from "./attempt.ts";
import { Budget } from "./budget.ts";
import { FailureWatch, unreachablePatience } from "./failures.ts";
import type { FailureRecord, GenerateSummary, GenerationRecord } from "./generate.ts";
import { toLogprobsRecord } from "./logprobsFile.ts";
import type { ResolvedGenerateOptions } from "./options.ts";
import type { Job, RunPlan } from "./plan.ts";
import { type Attempted, type RetryPolicy, withRetries } from "./retry.ts";

export type StopCause = NonNullable<GenerateSummary["stopped"]>;

/**
 * One run over a plan's candidates: workers take the next candidate while the budget allows and no
 * stop was asked, sample it with retries under the run's deadlines, and append it to the generations
 * file (or, having failed every attempt, to the failures file). A stop — a signal, the budget, or no
 * endpoint reachable — issues nothing more; requests in flight get `grace` seconds and are written.
 */
export class CandidateRun {
  readonly totals = { written: 0, failed: 0, retries: 0, promptTokens: 0, completionTokens: 0, abandoned: 0 };
  readonly budget: Budget;
  readonly watch: FailureWatch;
  stopped?: StopCause;
  /** Why an unreachable run stopped, for a person. */
  stopReason?: string;
  /** Index of the next job to start; those from here on were never tried. */
  next = 0;
  /** Set when a `--logprobs` run met a teacher that gives none: the run stops and `generate` throws it. */
  refusal?: UserError;
  private busy = 0;
  // `stopping` ends retries and backoff waits; `inFlight.abortAll()` cuts requests when the grace ends
  private readonly stopping = new AbortController();
  private graceTimer: NodeJS.Timeout | undefined;
  private readonly inFlight: InFlight;
  private readonly policy: RetryPolicy;
  private readonly out: BatchedJsonlAppender;
  /** The side file of log-probabilities; each line is written before its generation's (see alignLogprobsFile). */
  private readonly side?: BatchedJsonlAppender;
  private readonly failures: JsonlAppender;
  private readonly progress: Progress;

  constructor(
    private readonly options: ResolvedGenerateOptions,
    private readonly plan: RunPlan,
    private readonly teacher: Teacher,
    /** The teacher's endpoints (URLs or its id), for the unreachable message. */
    endpoints: string[],
    /** Teachers given by a caller are told of cuts through their signal (see InFlight). */
    injectedTeacher: boolean,
    private readonly useInstruction: boolean,
  ) {
    setMaxListeners(0, this.stopping.signal); // every backoff wait listens to it
    const { maxTokensTotal, maxCost, maxTokens, stream, stallTimeout } = options;
    this.budget = new Budget({ maxTokensTotal, maxCost }, plan.price, maxTokens, plan.onDisk);
    this.inFlight = new InFlight(
      { deadlineMs: deadlineMs(options), ...(stream ? { stallMs: stallTimeout * 1000 } : {}) },
      Boolean(this.pool || stream || injectedTeacher), // see InFlight: plain requests skip the signal
    );
    this.policy = {
      maxAttempts: options.maxAttempts,
      baseDelayMs: options.retryBaseMs,
      maxDelayMs: 60_000,
      signal: this.stopping.signal,
    };
    if (plan.logprobsFile) this.side = new BatchedJsonlAppender(plan.logprobsFile);
    this.out = new BatchedJsonlAppender(plan.file);
    this.failures = new JsonlAppender(plan.failedFile);
    this.progress = createProgress("generate", plan.jobs.length, { quiet: options.quiet });
    this.watch = new FailureWatch(
      endpoints,
      this.pool,
      (line) => this.report(line),
      unreachablePatience * options.retryBaseMs,
    );
  }

  /** The teacher as a pool, when it is one (its queue must be emptied on a stop). */
  get pool(): TeacherPool | undefined {
    return "cancelWaiting" in this.teacher ? (this.teacher as TeacherPool) : undefined;
  }

  /** Run `concurrency` workers until the jobs are done or the run is stopped. */
  async work(concurrency: number): Promise<void> {
    const { jobs } = this.plan;
    const worker = async () => {
      while (this.next < jobs.length && !this.stopping.signal.aborted) {
        if (this.budget.limited && !this.budget.allows(this.busy)) break; // those in flight finish
        this.busy++;
        try {
          await this.runCandidate(jobs[this.next++]);
        } finally {
          this.busy--;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, worker));
    if (!this.stopped && this.next < jobs.length) this.stopped = "budget";
  }

  /** No new requests from now; those in flight get the grace period, then are cut. */
  stop(cause: StopCause, reason?: string): void {
    if (this.stopped) return;
    this.stopped = cause;
    this.stopReason = reason;
    this.stopping.abort(new RunStopped(cause));
    // requests still queued for an endpoint have not been issued: they never will be
    this.pool?.cancelWaiting(new RunStopped(cause));
    this.graceTimer = setTimeout(() => this.inFlight.abortAll(), this.options.grace * 1000);
  }

  /** Stop when `signal` aborts (its reason names the signal); returns the detach function. */
  stopOn(signal: AbortSignal | undefined): () => void {
    const onAbort = () => this.stop(signalName(signal?.reason));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    return () => signal?.removeEventListener("abort", onAbort);
  }

  async close(): Promise<void> {
    clearTimeout(this.graceTimer);
    this.progress.stop();
    this.side?.close();
    this.out.close();
    this.failures.close();
    await this.teacher.close?.();
  }

  private async runCandidate({ prompt, index }: Job): Promise<void> {
    const seed = hashSeed(this.options.seed, prompt.id, index);
    const messages: ChatMessage[] = this.useInstruction
      ? renderTeacherMessages(prompt.prompt, this.plan.markers)
      : [{ role: "user", content: prompt.prompt.trim() }];
    let sent = performance.now();
    const result = await withRetries(async (attempt) => {
      sent = performance.now();
      return this.attempt(messages, seed, attempt);
    }, this.policy);
    this.totals.retries += Math.max(0, result.attempts - 1);
    const unreachable = result.value ? undefined : this.watch.exhausted(result.error);
    if (unreachable) this.stop("unreachable", unreachable);
    if (result.value) this.written(this.toRecord({ prompt, index }, seed, result, sent), result.value);
    else if (unreachable || result.stopped || result.error instanceof RunStopped) {
      this.totals.abandoned++; // stopped mid-way: left for a re-run, recorded nowhere
      return;
    } else this.failed({ prompt, index }, result);
    this.tick();
  }

  /** One request, its outcome shown to the failure watch (which may stop the run). */
  private async attempt(messages: ChatMessage[], seed: number, attempt: number): Promise<Completion> {
    const { temperature, topP, maxTokens, logprobs } = this.options;
    const request = { messages, n: 1, temperature, topP, maxTokens, seed, topLogprobs: logprobs };
    try {
      const [completion] = await sampleOnce(this.teacher, request, this.inFlight);
      this.watch.succeeded();
      if (logprobs !== undefined && !completion.logprobs) this.refuse(noLogprobs(this.teacher.id));
      return completion;
    } catch (err) {
      if (logprobs !== undefined && refusesLogprobs(err)) this.refuse(noLogprobs(this.teacher.id, err));
      if (!(err instanceof RunStopped) && !this.stopping.signal.aborted) {
        const unreachable = this.watch.failed(err, attempt);
        if (unreachable) this.stop("unreachable", unreachable);
        this.tick(0);
      }
      throw err;
    }
  }

  /** A `--logprobs` run whose teacher gives none ends at once: every candidate would lack them. */
  private refuse(refusal: UserError): never {
    this.refusal ??= refusal;
    this.stop("signal", refusal.message);
    this.inFlight.abortAll(); // the rest would come back without them too
    throw new RunStopped("signal");
  }

  private written(record: GenerationRecord, completion: Completion): void {
    if (this.side && completion.logprobs)
      this.side.write(toLogprobsRecord(record.prompt_id, record.sample_index, completion.logprobs));
    this.out.write(record);
    this.totals.written++;
    this.totals.promptTokens += record.usage.prompt_tokens;
    this.totals.completionTokens += record.usage.completion_tokens;
    this.budget.add({
      promptTokens: record.usage.prompt_tokens,
      completionTokens: record.usage.completion_tokens,
    });
  }

  private failed({ prompt, index }: Job, result: Attempted<Completion>): void {
    const err = result.error;
    this.failures.write({
      prompt_id: prompt.id,
      sample_index: index,
      error: err instanceof Error ? err.message : String(err),
      ...(err instanceof TeacherError && err.status !== undefined ? { status: err.status } : {}),
      retryable: err instanceof TeacherError && err.retryable,
      attempts: result.attempts,
      config: this.plan.config.id,
      created_at: new Date().toISOString(),
    } satisfies FailureRecord);
    this.totals.failed++;
  }

  private tick(n = 1): void {
    const errors = this.watch.describe();
    this.progress.tick(n, {
      failed: this.totals.failed,
      ...(errors ? { errors } : {}),
      tokens: this.totals.completionTokens,
    });
  }

  /** A sampled candidate as its generations.jsonl line. */
  private toRecord(
    { prompt, index }: Job,
    seed: number,
    result: Attempted<Completion>,
    sent: number,
  ): GenerationRecord {
    const c = result.value!;
    const { temperature, topP, maxTokens } = this.options;
    const parsed = parseCompletion(c.text, this.plan.markers, c.reasoning);
    return {
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
      latency_ms: Math.round(performance.now() - sent),
      attempts: result.attempts,
      teacher: this.teacher.id,
      params: { temperature, top_p: topP, max_tokens: maxTokens },
      seed,
      ...(c.meta ? { teacher_meta: c.meta } : {}),
      config: this.plan.config.id,
      created_at: new Date().toISOString(),
    };
  }

  /** A line for a person, above the progress bar (which redraws below it). */
  private report(line: string): void {
    if (this.options.quiet) return;
    process.stderr.write(`${process.stderr.isTTY ? "\r\x1b[2K" : ""}generate: ${line}\n`);
  }
}

/** An endpoint's refusal of the logprobs fields themselves (DeepSeek's reasoner answers 400). */
function refusesLogprobs(err: unknown): boolean {
  return err instanceof TeacherError && err.status === 400 && /logprob/i.test(err.message);
}

function noLogprobs(teacher: string, err?: unknown): UserError {
  const said = err instanceof Error ? ` (it answered: ${err.message})` : " (its answers carry none)";
  return new UserError(
    `--logprobs: the teacher ${teacher} does not return log-probabilities${said}; run without --logprobs, or use an endpoint that gives them (vLLM, SGLang, llama.cpp server, distill serve)`,
    { field: "logprobs" },
  );
}

/** The hard deadline of one request: `requestTimeout` seconds, else `timeoutMs`. */
export function deadlineMs(options: ResolvedGenerateOptions): number {
  return options.requestTimeout === undefined ? options.timeoutMs : options.requestTimeout * 1000;
}

function signalName(reason: unknown): "SIGINT" | "SIGTERM" | "signal" {
  return reason === "SIGINT" || reason === "SIGTERM" ? reason : "signal";
}
