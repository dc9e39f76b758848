import { existsSync } from "node:fs";
import path from "node:path";
import { ContinuousBatcher } from "../model/batchDecoder.ts";
import { Decoder } from "../model/forward.ts";
import { isAdapterFolder, loadModelOrAdapter } from "../model/loraFolder.ts";
import { argmax, type TokenLogprob, tokenLogprobs } from "../model/sampling.ts";
import { loadStopTokens } from "../model/stopTokens.ts";
import { loadTokenizer, type TextTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import type { Completion, SampleRequest, ScoredToken, Teacher, TokenLogprobs } from "./types.ts";

/**
 * A model folder of the project's own (what `distill train` writes: config.json, model.safetensors,
 * tokenizer.json with its chat template) as a teacher or an evaluated model, run by the TypeScript
 * decoder with a KV cache. Up to `sequences` completions decode together, one batched forward step for
 * all of them; a request that arrives meanwhile joins at the next step (continuous batching), and with
 * `onText` its text streams out as it is sampled.
 */
export function createLocalModelTeacher(dir: string, options: { sequences?: number } = {}): Teacher {
  if (!existsSync(dir)) throw new UserError("model folder not found", { file: dir });
  if (!existsSync(path.join(dir, "config.json")) && !isAdapterFolder(dir))
    throw new UserError("not a model folder (no config.json, nor a LoRA adapter_config.json)", { file: dir });
  // a LoRA adapter folder runs merged onto the base model it names
  const { model, modelDir, tokenizerDir } = loadModelOrAdapter(dir);
  const tokenizer = loadTokenizer(tokenizerDir);
  const decoder = new Decoder(model);
  const batcher = new ContinuousBatcher(decoder, options.sequences ?? 64);
  const stopTokens = new Set(loadStopTokens(modelDir, model.config, tokenizer));

  const logprobsOf = (t: TokenLogprob): TokenLogprobs => ({
    ...tokenEntry(tokenizer, t.id, t.logprob),
    top_logprobs: t.top.map((a) => tokenEntry(tokenizer, a.id, a.logprob)),
  });

  return {
    id: `model:${dir}`,
    givesLogprobs: true,
    async score(input, topLogprobs, options = {}) {
      const ids = typeof input === "string" ? tokenizer.encode(input) : [...input];
      const V = decoder.dims.vocab;
      if (ids.length > decoder.maxPositions)
        throw new UserError(
          `the text is ${ids.length} tokens, longer than the model's ${decoder.maxPositions}`,
        );
      const outside = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= V);
      if (outside !== undefined)
        throw new UserError(`token id ${outside} is outside the model's vocabulary (${V})`);
      if (ids.length === 0) return [];
      const logits = decoder.logits(ids);
      const scored: ScoredToken[] = ids.map((id, i) =>
        i === 0
          ? { token: tokenizer.decode([id]), logprob: null }
          : logprobsOf(tokenLogprobs(logits.subarray((i - 1) * V, i * V), id, topLogprobs)),
      );
      if (options.next) {
        const last = logits.subarray((ids.length - 1) * V, ids.length * V);
        scored.push(logprobsOf(tokenLogprobs(last, argmax(last), topLogprobs)));
      }
      return scored;
    },
    async sample(request: SampleRequest): Promise<Completion[]> {
      const prompt = tokenizer.encode(
        tokenizer.applyChatTemplate(
          request.messages.map((m) => ({ ...m })),
          { addGenerationPrompt: true },
        ),
      );
      const withLogprobs = request.topLogprobs !== undefined;
      const results = await Promise.all(
        Array.from({ length: request.n }, (_, i) => {
          const text =
            request.onText &&
            textStream(tokenizer, stopTokens, (d, lp) => request.onText!(i, d, lp?.map(logprobsOf)));
          return batcher.submit({
            prompt,
            maxTokens: request.maxTokens,
            temperature: request.temperature,
            topP: request.topP,
            seed: (request.seed ?? 0) + i,
            stopTokens,
            topLogprobs: request.topLogprobs,
            onToken: text,
          });
        }),
      );
      return results.map((r) => {
        const completion: Completion = {
          text: tokenizer.decode(r.tokens.filter((t) => !stopTokens.has(t))),
          finishReason: r.finishReason,
          usage: { promptTokens: r.promptTokens, completionTokens: r.tokens.length },
        };
        if (withLogprobs)
          completion.logprobs = (r.logprobs ?? []).filter((t) => !stopTokens.has(t.id)).map(logprobsOf);
        return completion;
      });
    },
  };
}

/** OpenAI's entry for one token: its text (decoded alone), log-probability and bytes. */
function tokenEntry(tokenizer: TextTokenizer, id: number, logprob: number) {
  return { token: tokenizer.decode([id]), logprob, bytes: tokenizer.tokenBytes(id) };
}

/**
 * Token ids in, text deltas out. Byte-level tokens can split a character, so text that ends in an
 * unfinished one (decoded as U+FFFD) waits for the next token; a delta carries the log-probabilities of
 * the tokens it holds.
 */
function textStream(
  tokenizer: TextTokenizer,
  stopTokens: ReadonlySet<number>,
  emit: (delta: string, logprobs?: TokenLogprob[]) => void,
): (token: number, logprob?: TokenLogprob) => void {
  const tokens: number[] = [];
  let pending: TokenLogprob[] = [];
  let sent = "";
  return (token, logprob) => {
    if (stopTokens.has(token)) return;
    tokens.push(token);
    if (logprob) pending.push(logprob);
    const text = tokenizer.decode(tokens);
    if (text.endsWith("\uFFFD") || !text.startsWith(sent) || text.length === sent.length) return;
    emit(text.slice(sent.length), logprob ? pending : undefined);
    pending = [];
    sent = text;
  };
}
