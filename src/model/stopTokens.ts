/**
 * The ids that end an assistant turn, read once for every way a model folder is decoded (loadPretrained
 * for evaluation, the local-model teacher). A checkpoint states them in several places, all honoured:
 *   config.json            "eos_token_id": 151643           (a number or a list)
 *   generation_config.json "eos_token_id": [151645, 151643] (what transformers' generate stops at)
 *   tokenizer_config.json  "eos_token": "<|im_end|>"
 *   the vocabulary         ChatML's "<|im_end|>" (the end of every templated turn) and "<|endoftext|>"
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import type { ModelConfig } from "./config.ts";
import { readJsonFile } from "./hfFolder.ts";

/** Ids of ChatML's end-of-turn and end-of-text markers, stop tokens whenever the vocabulary has them. */
const chatEndMarkers = ["<|im_end|>", "<|endoftext|>"];

/** Stop ids of the model folder `dir` (config.json already parsed as `config`), in the order found. */
export function loadStopTokens(dir: string, config: ModelConfig, tokenizer?: TextTokenizer): number[] {
  const stop = new Set<number>(idsOf(config.eos_token_id));
  const genPath = join(dir, "generation_config.json");
  if (existsSync(genPath)) {
    const gen = readJsonFile(genPath) as { eos_token_id?: unknown } | null;
    for (const id of checkedIds(gen?.eos_token_id, genPath, config.vocab_size)) stop.add(id);
  }
  if (tokenizer) {
    const eos = tokenizer.eosTokenId;
    if (eos !== undefined) stop.add(eos);
    for (const marker of chatEndMarkers) {
      const id = tokenizer.tokenToId(marker);
      if (id !== undefined) stop.add(id);
    }
  }
  return [...stop];
}

function idsOf(v: number | number[] | null | undefined): number[] {
  return v == null ? [] : Array.isArray(v) ? v : [v];
}

/** generation_config.json's eos_token_id: absent/null, or ids (a number or a list) inside the vocabulary. */
function checkedIds(v: unknown, file: string, vocab: number): number[] {
  if (v == null) return [];
  const ids = Array.isArray(v) ? v : [v];
  for (const id of ids)
    if (!(Number.isInteger(id) && id >= 0 && id < vocab))
      throw new UserError(`${JSON.stringify(id)} is not a token id of this model (vocab_size ${vocab})`, {
        file,
        field: "eos_token_id",
      });
  return ids as number[];
}
