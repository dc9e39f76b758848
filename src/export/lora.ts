/**
 * `distill export --merge-lora`: a LoRA adapter folder (what `distill train --lora` writes) exported as
 * base + adapter merged, W + scale · B · A, in any format that carries weights.
 */
import path from "node:path";
import {
  isAdapterFolder,
  readAdapterFolder,
  resolveAdapterBase,
  writeMergedFolder,
} from "../model/loraFolder.ts";
import { readPromptRecord, writePromptRecord } from "../model/promptRecord.ts";
import { UserError } from "../util/errors.ts";
import type { ResolvedExportOptions } from "./options.ts";

/** Checks --merge-lora against --model; returns the folder whose config.json the export follows. */
export function exportConfigFolder(o: ResolvedExportOptions): string {
  const adapter = isAdapterFolder(o.model);
  if (!o.mergeLora) {
    if (adapter)
      throw new UserError(
        "is a LoRA adapter folder: add --merge-lora to export it merged onto its base model",
        {
          file: o.model,
        },
      );
    return o.model;
  }
  if (!adapter)
    throw new UserError("--merge-lora needs a LoRA adapter folder (adapter_config.json)", { file: o.model });
  if (o.format === "trl")
    throw new UserError(
      "--merge-lora applies to --format gguf and safetensors (trl trains from a base model)",
      {
        field: "mergeLora",
      },
    );
  return resolveAdapterBase(readAdapterFolder(o.model));
}

/** The folder the format's exporter reads: --model, or with --merge-lora the merge written inside `work`. */
export function exportSourceFolder(o: ResolvedExportOptions, work: string): string {
  if (!o.mergeLora) return o.model;
  const merged = writeMergedFolder(o.model, path.join(work, ".merged"));
  // the adapter's training prompt goes with the merged weights
  const prompting = readPromptRecord(o.model);
  if (prompting) writePromptRecord(merged, prompting);
  return merged;
}
