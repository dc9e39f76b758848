import { existsSync } from "node:fs";
import path from "node:path";
import { Decoder } from "../model/forward.ts";
import { generateBatch } from "../model/generate.ts";
import { loadModelFolder } from "../model/hfFolder.ts";
import { loadTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import type { Completion, SampleRequest, Teacher } from "./types.ts";

/**
 * A model folder of the project's own (what `distill train` writes: config.json, model.safetensors,
 * tokenizer.json with its chat template) as a teacher or an evaluated model, run by the TypeScript
 * decoder with a KV cache. Requests that arrive together (the generator keeps `concurrency` in flight)
 * are decoded together, one batched forward step for all of them.
 */
export function createLocalModelTeacher(dir: string): Teacher {
  if (!existsSync(path.join(dir, "config.json")))
    throw new UserError("not a model folder (no config.json)", { file: dir });
  const model = loadModelFolder(dir);
  const tokenizer = loadTokenizer(dir);
  const decoder = new Decoder(model);
  const stopTokens = [
    tokenizer.eosTokenId,
    tokenizer.tokenToId("<|im_end|>"),
    tokenizer.tokenToId("<|endoftext|>"),
  ].filter((id): id is number => id !== undefined);
  type Pending = { request: SampleRequest; resolve: (c: Completion[]) => void; reject: (e: unknown) => void };
  let queue: Pending[] = [];

  const flush = () => {
    const batch = queue;
    queue = [];
    // one generateBatch per set of sampling parameters (a run normally has one)
    const groups = new Map<string, Pending[]>();
    for (const p of batch) {
      const key = `${p.request.temperature}/${p.request.topP}/${p.request.maxTokens}`;
      groups.set(key, [...(groups.get(key) ?? []), p]);
    }
    for (const group of groups.values()) {
      try {
        const prompts: number[][] = [];
        const seeds: number[] = [];
        for (const { request } of group) {
          const ids = tokenizer.encode(
            tokenizer.applyChatTemplate(
              request.messages.map((m) => ({ ...m })),
              { addGenerationPrompt: true },
            ),
          );
          for (let i = 0; i < request.n; i++) {
            prompts.push(ids);
            seeds.push((request.seed ?? 0) + i);
          }
        }
        const { temperature, topP, maxTokens } = group[0].request;
        const results = generateBatch(decoder, prompts, {
          temperature,
          topP,
          maxTokens,
          seeds,
          stopTokens,
          batchSize: prompts.length,
        });
        let at = 0;
        for (const { request, resolve } of group) {
          resolve(
            results.slice(at, at + request.n).map((r) => ({
              text: tokenizer.decode(r.tokens.filter((t) => !stopTokens.includes(t))),
              finishReason: r.finishReason,
              usage: { promptTokens: r.promptTokens, completionTokens: r.tokens.length },
            })),
          );
          at += request.n;
        }
      } catch (err) {
        for (const p of group) p.reject(err);
      }
    }
  };

  return {
    id: `model:${dir}`,
    sample(request: SampleRequest): Promise<Completion[]> {
      return new Promise((resolve, reject) => {
        if (queue.length === 0) setImmediate(flush);
        queue.push({ request, resolve, reject });
      });
    },
  };
}
