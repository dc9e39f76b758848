import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { availableParallelism } from "node:os";
import type { ChatWrapper, Llama, LlamaContext, LlamaContextSequence, LlamaModel } from "node-llama-cpp";
import { UserError } from "../util/errors.ts";
import type { Completion, FinishReason, SampleRequest, Teacher } from "./types.ts";
import { TeacherError } from "./types.ts";

export interface GgufTeacherOptions {
  path: string;
  /** Context window in tokens (default 4096, or the model's training context when smaller). */
  contextSize?: number;
  /** Parallel sequences in one context: how many requests run at once (at most `maxGgufSequences`). */
  sequences?: number;
  /**
   * CPU threads (default: the cores this process may use, less one). Set, never left to node-llama-cpp:
   * its own default is 4 on a 2-core machine, where 10 tokens then take 12.9 s instead of 21 ms.
   */
  threads?: number;
}

/**
 * llama.cpp's threads when none are asked for: a core for each, less the one this process's own work
 * (the event loop, tokenizing, grading) runs on, and at least one. On a 2-core machine that is 1: there
 * a second llama.cpp thread made decoding slower at every size measured (the eval test's 1M student:
 * 11 ms a request with 1 thread, 233 ms with 2; 10M: 224 against 109 tokens/s; 60M: 45 against 44).
 */
export function defaultGgufThreads(): number {
  return Math.max(1, availableParallelism() - 1);
}

interface LoadedGguf {
  llama: Llama;
  model: LlamaModel;
  context: LlamaContext;
  /** One sequence per parallel request, made once and reused (cleared) request after request. */
  pool: LlamaContextSequence[];
  chatWrapper: ChatWrapper | undefined;
}

async function loadGguf(options: GgufTeacherOptions): Promise<LoadedGguf> {
  const { getLlama } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
  const model = await llama.loadModel({ modelPath: options.path });
  const perSequence = Math.min(options.contextSize ?? 4096, model.trainContextSize);
  const sequences = ggufSequences(options.sequences);
  // llama.cpp's KV cache is one pool for all sequences: each needs its own window in it
  const context = await model.createContext({
    contextSize: perSequence * sequences,
    sequences,
    threads: options.threads ?? defaultGgufThreads(),
    ...kvCacheFor(model.fileInfo.metadata.general?.file_type),
  });
  const pool = Array.from({ length: sequences }, () => context.getSequence());
  return { llama, model, context, pool, chatWrapper: await ownChatWrapper(model) };
}

/**
 * A local GGUF model through node-llama-cpp's prebuilt llama.cpp (CPU). The chat template comes from
 * the model's own metadata (`tokenizer.chat_template`), with no system message unless the request has
 * one; sampling honours temperature, top-p and seed.
 * The model loads once, lazily, on the first request; each request takes a free context sequence.
 */
export function createGgufTeacher(options: GgufTeacherOptions): Teacher {
  checkGgufFile(options.path);
  let loading: Promise<LoadedGguf> | undefined;
  const load = () => {
    loading ??= loadGguf(options);
    return loading;
  };
  // sequences are handed out one request at a time; callers beyond the pool wait their turn
  const waiting: ((sequence: LlamaContextSequence) => void)[] = [];
  const acquire = async (pool: LlamaContextSequence[]) =>
    pool.pop() ?? (await new Promise<LlamaContextSequence>((resolve) => waiting.push(resolve)));
  const release = (pool: LlamaContextSequence[], sequence: LlamaContextSequence) => {
    const next = waiting.shift();
    if (next) next(sequence);
    else pool.push(sequence);
  };

  return {
    id: `gguf:${options.path}`,
    async sample(request: SampleRequest): Promise<Completion[]> {
      const { LlamaChatSession } = await import("node-llama-cpp");
      const { pool, chatWrapper } = await load();
      const user = request.messages.filter((m) => m.role === "user").at(-1)?.content ?? "";
      const system = request.messages.find((m) => m.role === "system")?.content;
      const completions: Completion[] = [];
      for (let i = 0; i < request.n; i++) {
        const sequence = await acquire(pool);
        try {
          await sequence.clearHistory();
          let generated = 0;
          let promptTokens: number | undefined;
          const session = new LlamaChatSession({
            contextSequence: sequence,
            systemPrompt: system,
            chatWrapper,
          });
          // no system message asked for: none at all, as the model's own template renders a chat
          // without one (node-llama-cpp would otherwise put its default "You are a helpful…" there)
          if (system === undefined) session.setChatHistory([]);
          const result = await session.promptWithMeta(user, {
            temperature: request.temperature,
            topP: request.topP,
            seed: request.seed === undefined ? undefined : request.seed + i,
            maxTokens: request.maxTokens,
            signal: request.signal,
            onToken: (tokens) => {
              // at the first token the sequence holds exactly the rendered chat the model saw
              promptTokens ??= sequence.contextTokens.length;
              generated += tokens.length;
            },
          });
          // reasoning models' thoughts come back as segments; keep them, between the model's own markers
          const text = result.response
            .map((item) => (typeof item === "string" ? item : "segmentType" in item ? segmentText(item) : ""))
            .join("");
          const finishReason: FinishReason = result.stopReason === "maxTokens" ? "length" : "stop";
          completions.push({
            text,
            finishReason,
            usage: {
              promptTokens: promptTokens ?? sequence.contextTokens.length,
              completionTokens: generated,
            },
          });
          session.dispose({ disposeSequence: false });
        } catch (err) {
          throw new TeacherError(`local model failed: ${(err as Error).message}`, false, { cause: err });
        } finally {
          release(pool, sequence);
        }
      }
      return completions;
    },
    async close() {
      // a load that failed has nothing to dispose (and its error was reported by sample)
      const loaded = await loading?.catch(() => undefined);
      if (!loaded) return;
      const { llama, model, context } = loaded;
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}

/**
 * Sequences decoded together: one, whatever the concurrency asked (requests wait for it in turn).
 * Several sequences in one node-llama-cpp 3.21.1 context do not decode as one does. Measured on the
 * demo's distilled student, F32 GGUF, 100 held-out items, greedy: 1, 2 and 4 sequences scored as the
 * model folder (32%), 8 a point below, 32 between 8% and 29% from run to run, whatever the KV-cache type
 * or flash attention; on the copy-words student of test/one-prompt.test.ts 4 sequences gave 98.5% of the
 * folder's completions (1 gives all). One was as fast as 4 there (11 s for the 100 items).
 */
export const maxGgufSequences = 1;
function ggufSequences(asked: number | undefined): number {
  return Math.max(1, Math.min(asked ?? 1, maxGgufSequences));
}

/**
 * The model's own chat template (`tokenizer.chat_template`), rendered as transformers renders it, rather
 * than the family wrapper node-llama-cpp would pick: its ChatML wrapper, for one, puts a BOS token
 * (`<|endoftext|>` for Qwen) before the chat that the template — and training — never had. Undefined
 * (node-llama-cpp's choice) when the file has no template or node-llama-cpp cannot take it.
 */
async function ownChatWrapper(model: LlamaModel): Promise<ChatWrapper | undefined> {
  const template = model.fileInfo.metadata.tokenizer?.chat_template;
  if (typeof template !== "string" || template.length === 0) return undefined;
  const { JinjaTemplateChatWrapper } = await import("node-llama-cpp");
  try {
    return new JinjaTemplateChatWrapper({ template });
  } catch {
    return undefined;
  }
}

/**
 * An all-F32 GGUF (file type 0) keeps its attention in F32 too: llama.cpp's defaults, an F16 KV cache
 * and flash attention in F16 on CPU, move its log-probabilities by ~5e-3, enough to flip near-ties of
 * greedy decoding, and F32 is what such a file is asked for. Smaller types keep llama.cpp's defaults.
 */
function kvCacheFor(fileType: number | undefined) {
  if (fileType !== 0) return {};
  return {
    flashAttention: false,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
  } as const;
}

/** GGUF files start with these four bytes; anything else would fail deep inside llama.cpp's loader. */
const ggufMagic = "GGUF";

/** Refuses a path that is missing, a folder, or not a GGUF file, naming it, before anything loads. */
export function checkGgufFile(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(code === "ENOENT" ? "GGUF model not found" : `cannot read the GGUF model (${code})`, {
      file,
    });
  }
  try {
    if (fstatSync(fd).isDirectory()) throw new UserError("is a folder, not a GGUF file", { file });
    const head = Buffer.alloc(4);
    const read = readSync(fd, head, 0, 4, 0);
    if (head.subarray(0, read).toString("latin1") !== ggufMagic)
      throw new UserError("not a GGUF file (it does not start with the GGUF magic bytes)", { file });
  } finally {
    closeSync(fd);
  }
}

function segmentText(segment: { segmentType: string; text: string }): string {
  return segment.segmentType === "thought" ? `<think>${segment.text}</think>` : segment.text;
}
