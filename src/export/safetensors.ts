/**
 * `distill export --format safetensors`: a Hugging Face folder (config.json, model.safetensors or shards
 * + index, tokenizer files, generation_config.json) that transformers and vLLM load as it is.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { loadModelFolder, readJsonFile, saveModelFolder } from "../model/hfFolder.ts";
import { promptRecordFile, readPromptRecord, writePromptRecord } from "../model/promptRecord.ts";
import { UserError } from "../util/errors.ts";
import type { ResolvedExportOptions } from "./options.ts";

export interface SafetensorsExportSummary {
  files: string[];
  dtype: "f32" | "bf16";
  shards: number;
}

export function exportSafetensorsFormat(o: ResolvedExportOptions): SafetensorsExportSummary {
  const dtype = (o.dtype ?? "bf16") as SafetensorsExportSummary["dtype"]; // exportModel refused the rest
  const model = loadModelFolder(o.model);
  if (!existsSync(path.join(o.model, "tokenizer.json")))
    throw new UserError("no tokenizer.json: transformers and vLLM need the tokenizer beside the weights", {
      file: o.model,
    });
  // Keep the source's generation settings (sampling defaults, eos list) when it has them.
  const genPath = path.join(o.model, "generation_config.json");
  let generationConfig: Record<string, unknown> | undefined;
  if (existsSync(genPath)) {
    const { transformers_version: _, ...rest } = readJsonFile(genPath) as Record<string, unknown>;
    generationConfig = rest;
  }
  const files = saveModelFolder(o.out, model, {
    dtype: dtype === "bf16" ? "BF16" : "F32",
    maxShardBytes: parseSize(o.maxShardSize ?? "5GB"),
    tokenizerFrom: o.model,
    generationConfig,
  });
  const prompting = readPromptRecord(o.model);
  if (prompting) {
    writePromptRecord(o.out, prompting);
    files.push(promptRecordFile);
  }
  return { files, dtype, shards: files.filter((f) => f.endsWith(".safetensors")).length };
}

/** "5GB", "500MB", "2GiB", "123" (bytes) → bytes; decimal units as transformers' max_shard_size. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?\s*$/i.exec(text);
  if (!m) throw new UserError(`"${text}" is not a size like 5GB or 500MB`, { field: "maxShardSize" });
  const unit = (m[2] ?? "b").toLowerCase();
  const scale: Record<string, number> = {
    b: 1,
    kb: 1e3,
    mb: 1e6,
    gb: 1e9,
    kib: 1024,
    mib: 1024 ** 2,
    gib: 1024 ** 3,
  };
  return Math.round(Number(m[1]) * scale[unit]);
}
