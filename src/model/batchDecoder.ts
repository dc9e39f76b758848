/**
 * Decoding many sequences together, one batched forward step at a time, with sequences joining and
 * leaving between steps. `generateBatch` drives it synchronously over a fixed list of prompts;
 * `ContinuousBatcher` drives it from a queue, yielding to the event loop between steps, so requests
 * that arrive while others are being decoded join the running batch (continuous batching, as vLLM and
 * llama.cpp's server do) and every token can be streamed as it is sampled.
 */
import type { Decoder, KvCache } from "./forward.ts";
import type { GenerateOptions, GenerateResult } from "./generate.ts";
import { Rng } from "./rng.ts";
import { sampleToken, type TokenLogprob, tokenLogprobs } from "./sampling.ts";

export interface SequenceRequest extends Pick<GenerateOptions, "temperature" | "topP" | "topK"> {
  prompt: readonly number[];
  maxTokens: number;
  seed: number;
  stopTokens?: ReadonlySet<number>;
  /** Record each token's log-probability and this many most likely alternatives (OpenAI's top_logprobs). */
  topLogprobs?: number;
  /** Each new token as it is sampled (the stop token too, last), with its log-probabilities when asked. */
  onToken?: (token: number, logprob?: TokenLogprob) => void;
}

interface Slot {
  request: SequenceRequest;
  cache: KvCache;
  rng: Rng;
  budget: number;
  tokens: number[];
  /** The token sampled from the last logits, recorded at the next step. */
  next: number;
  /** Its log-probabilities (with topLogprobs), and those of the recorded tokens. */
  nextLogprob?: TokenLogprob;
  logprobs?: TokenLogprob[];
  done: (result: GenerateResult) => void;
  fail: (err: unknown) => void;
}

/** The sequences being decoded now. Rows never interact: each result equals `generate`'s for its prompt and seed. */
export class BatchDecoder {
  private active: Slot[] = [];

  constructor(readonly decoder: Decoder) {}

  get size(): number {
    return this.active.length;
  }

  /** Prefills `request.prompt` (one forward over it) and samples its first token; `done` is called once it ends. */
  add(request: SequenceRequest, done: Slot["done"], fail: Slot["fail"] = () => {}): void {
    const { prompt } = request;
    const budget = Math.min(request.maxTokens, this.decoder.maxPositions - prompt.length);
    if (budget <= 0) {
      const none: GenerateResult = { tokens: [], finishReason: "length", promptTokens: prompt.length };
      done(request.topLogprobs === undefined ? none : { ...none, logprobs: [] });
      return;
    }
    const cache = this.decoder.newCache(Math.min(prompt.length + budget, this.decoder.maxPositions));
    const rng = new Rng(request.seed);
    const slot: Slot = { request, cache, rng, budget, tokens: [], next: 0, done, fail };
    if (request.topLogprobs !== undefined) slot.logprobs = [];
    this.choose(slot, this.decoder.forward(prompt, cache));
    this.active.push(slot);
  }

  private choose(s: Slot, logits: Float32Array): void {
    s.next = sampleToken(logits, s.request, s.rng);
    if (s.logprobs) s.nextLogprob = tokenLogprobs(logits, s.next, s.request.topLogprobs!);
  }

  private result(s: Slot, finishReason: GenerateResult["finishReason"]): GenerateResult {
    const r: GenerateResult = { tokens: s.tokens, finishReason, promptTokens: s.request.prompt.length };
    return s.logprobs ? { ...r, logprobs: s.logprobs } : r;
  }

  /**
   * One step: records every sequence's pending token, retires those that stopped or used their budget,
   * then one forward over the rest — tokens (B), caches (B) → logits (B, vocab) — and samples each row.
   */
  step(): void {
    const going: Slot[] = [];
    for (const s of this.active) {
      s.tokens.push(s.next);
      if (s.nextLogprob) s.logprobs!.push(s.nextLogprob);
      s.request.onToken?.(s.next, s.nextLogprob);
      const finish = s.request.stopTokens?.has(s.next)
        ? "stop"
        : s.tokens.length >= s.budget
          ? "length"
          : null;
      if (finish) s.done(this.result(s, finish));
      else going.push(s);
    }
    this.active = going;
    if (going.length === 0) return;
    const logits = this.decoder.forwardBatch(
      going.map((s) => s.next),
      going.map((s) => s.cache),
    );
    const V = this.decoder.dims.vocab;
    going.forEach((s, b) => {
      this.choose(s, logits.subarray(b * V, (b + 1) * V));
    });
  }

  /** Ends every sequence with `err` (a failed forward leaves their caches unusable). */
  failAll(err: unknown): void {
    const failed = this.active;
    this.active = [];
    for (const s of failed) s.fail(err);
  }
}

/**
 * A queue in front of a BatchDecoder: `submit` resolves when the sequence ends. Up to `batchSize`
 * sequences decode together; between two steps the loop yields to the event loop (so a server can
 * accept requests and flush streamed tokens) and admits waiting requests into free rows.
 */
export class ContinuousBatcher {
  private readonly batch: BatchDecoder;
  private queue: { request: SequenceRequest; resolve: Slot["done"]; reject: Slot["fail"] }[] = [];
  private running = false;

  constructor(
    decoder: Decoder,
    private readonly batchSize = 16,
  ) {
    this.batch = new BatchDecoder(decoder);
  }

  submit(request: SequenceRequest): Promise<GenerateResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      if (!this.running) {
        this.running = true;
        setImmediate(() => this.run());
      }
    });
  }

  private async run(): Promise<void> {
    try {
      for (;;) {
        while (this.batch.size < this.batchSize && this.queue.length > 0) {
          const { request, resolve, reject } = this.queue.shift()!;
          try {
            this.batch.add(request, resolve, reject);
          } catch (err) {
            reject(err);
          }
        }
        if (this.batch.size === 0) break;
        try {
          this.batch.step();
        } catch (err) {
          this.batch.failAll(err);
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.running = false;
    }
  }
}
