import { existsSync } from "node:fs";
import path from "node:path";
import { ContinuousBatcher } from "../model/batchDecoder.ts";
import { Decoder } from "../model/forward.ts";
import { isAdapterFolder, loadModelOrAdapter } from "../model/loraFolder.ts";
import { loadStopTokens } from "../model/stopTokens.ts";
import { loadTokenizer, type TextTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import type { Completion, SampleRequest, Teacher } from "./types.ts";

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
  const batcher = new ContinuousBatcher(new Decoder(model), options.sequences ?? 64);
  const stopTokens = new Set(loadStopTokens(modelDir, model.config, tokenizer));

  return {
    id: `model:${dir}`,
    async sample(request: SampleRequest): Promise<Completion[]> {
      const prompt = tokenizer.encode(
        tokenizer.applyChatTemplate(
          request.messages.map((m) => ({ ...m })),
          { addGenerationPrompt: true },
        ),
      );
      const results = await Promise.all(
        Array.from({ length: request.n }, (_, i) => {
          const text = request.onText && textStream(tokenizer, stopTokens, (d) => request.onText!(i, d));
          return batcher.submit({
            prompt,
            maxTokens: request.maxTokens,
            temperature: request.temperature,
            topP: request.topP,
            seed: (request.seed ?? 0) + i,
            stopTokens,
            onToken: text,
          });
        }),
      );
      return results.map((r) => ({
        text: tokenizer.decode(r.tokens.filter((t) => !stopTokens.has(t))),
        finishReason: r.finishReason,
        usage: { promptTokens: r.promptTokens, completionTokens: r.tokens.length },
      }));
    },
  };
}

/**
 * Token ids in, text deltas out. Byte-level tokens can split a character, so text that ends in an
 * unfinished one (decoded as U+FFFD) waits for the next token.
 */
function textStream(
  tokenizer: TextTokenizer,
  stopTokens: ReadonlySet<number>,
  emit: (delta: string) => void,
): (token: number) => void {
  const tokens: number[] = [];
  let sent = "";
  return (token) => {
    if (stopTokens.has(token)) return;
    tokens.push(token);
    const text = tokenizer.decode(tokens);
    if (text.endsWith("\uFFFD") || !text.startsWith(sent) || text.length === sent.length) return;
    emit(text.slice(sent.length));
    sent = text;
  };
}
