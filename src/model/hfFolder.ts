/**
 * Hugging Face model folders: `config.json`, `model.safetensors` (or shards + index),
 * `generation_config.json` and the tokenizer files, as transformers/vLLM read them.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import { architectures, firstTokenId, type ModelConfig, readModelConfig } from "./config.ts";
import { checkModelParams, type Model } from "./model.ts";
import { readSafetensorsFolder, type SaveDtype, writeSafetensorsFolder } from "./safetensors.ts";

/** Tokenizer files copied along with a model when they exist in the source folder. */
export const tokenizerFiles = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "vocab.json",
  "merges.txt",
  "added_tokens.json",
  "chat_template.jinja",
];

/** A model folder's config.json, or why there is none: the folder is not found, or holds no config.json. */
export function modelConfigPath(dir: string): string {
  if (!existsSync(dir)) throw new UserError("model folder not found", { file: dir });
  const configPath = join(dir, "config.json");
  if (!existsSync(configPath))
    throw new UserError("no config.json (is this a Hugging Face model folder?)", { file: dir });
  return configPath;
}

/** Loads config.json and the weights of an HF folder; errors name the folder and what is missing. */
export function loadModelFolder(dir: string): Model {
  const config = readModelConfig(modelConfigPath(dir));
  const params = readSafetensorsFolder(dir);
  // Tied checkpoints store one of the two: transformers writes embed_tokens alone, some tools lm_head
  // alone or both (the same values). The decoders read embed_tokens.
  if (config.tie_word_embeddings) {
    const head = params.get("lm_head.weight");
    if (head && !params.has("model.embed_tokens.weight")) params.set("model.embed_tokens.weight", head);
    params.delete("lm_head.weight");
  }
  const model = { config, params };
  checkModelParams(model, dir);
  return model;
}

export interface SaveOptions {
  /** Weights dtype on disk (default F32, exact round trip; BF16 halves the size). */
  dtype?: SaveDtype;
  /** Shard when the weights exceed this many bytes (default 5 GB, as transformers does). */
  maxShardBytes?: number;
  /** A folder whose tokenizer files are copied (see `tokenizerFiles`). */
  tokenizerFrom?: string;
  /** Tokenizer files given as objects, written as JSON (e.g. from the BPE trainer). */
  tokenizer?: { tokenizerJson: unknown; tokenizerConfig?: unknown };
  /** Written to generation_config.json; defaults derive bos/eos from config.json. */
  generationConfig?: Record<string, unknown>;
}

/** Writes a model as an HF folder. Returns the files written. */
export function saveModelFolder(dir: string, model: Model, opts: SaveOptions = {}): string[] {
  checkModelParams(model);
  mkdirSync(dir, { recursive: true });
  const arch = architectures[model.config.model_type]!;
  const config: ModelConfig = {
    ...model.config,
    architectures: model.config.architectures ?? [arch.hfClass],
    torch_dtype: opts.dtype === "BF16" ? "bfloat16" : "float32",
  };
  // transformers 5 spells it `dtype` (and reads that first): a config that came with one says the same
  if ("dtype" in config) config.dtype = config.torch_dtype;
  const files = ["config.json"];
  writeJson(join(dir, "config.json"), config);
  files.push(...writeSafetensorsFolder(dir, model.params, opts));
  const generationConfig = opts.generationConfig ?? {
    bos_token_id: firstTokenId(config.bos_token_id),
    eos_token_id: config.eos_token_id ?? undefined,
    pad_token_id: firstTokenId(config.pad_token_id),
  };
  writeJson(join(dir, "generation_config.json"), { ...generationConfig, transformers_version: "4.51.0" });
  files.push("generation_config.json");
  if (opts.tokenizerFrom) {
    for (const f of tokenizerFiles) {
      const src = join(opts.tokenizerFrom, f);
      if (existsSync(src) && src !== join(dir, f)) {
        copyFileSync(src, join(dir, f));
        files.push(f);
      }
    }
  }
  if (opts.tokenizer) {
    writeJson(join(dir, "tokenizer.json"), opts.tokenizer.tokenizerJson);
    files.push("tokenizer.json");
    if (opts.tokenizer.tokenizerConfig) {
      writeJson(join(dir, "tokenizer_config.json"), opts.tokenizer.tokenizerConfig);
      files.push("tokenizer_config.json");
    }
  }
  return files;
}

export function readJsonFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new UserError(`cannot read JSON: ${(err as Error).message}`, { file: path });
  }
}

function writeJson(path: string, value: unknown): void {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}
