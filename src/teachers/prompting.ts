/**
 * Whether a model is sent the template instruction after each problem: the one rule `generate`, `eval`
 * and `serve` follow. A student is prompted as it was trained, however it is reached (its folder's
 * `distill_prompt.json`, its GGUF's `distill.instruction`, `distill serve`'s `/v1/models`); a teacher
 * that records nothing (DeepSeek-R1, a vLLM server, a downloaded GGUF) gets the instruction.
 */
import {
  ggufInstructionKey,
  type InstructionMode,
  isInstructionMode,
  type PromptRecord,
  readPromptRecord,
} from "../model/promptRecord.ts";
import type { TeacherSpec } from "./spec.ts";

/** `auto` follows what the model records; `none` and `template` override it. */
export type InstructionOption = "auto" | InstructionMode;
export const instructionOptions = ["auto", "none", "template"] as const;

export interface ResolvedPrompting {
  instruction: InstructionMode;
  /** Where the choice came from, for the run's record and its progress line. */
  source: string;
}

/** What `spec` records of its training prompt, or null when it records nothing. */
export async function recordedPrompting(spec: TeacherSpec): Promise<PromptRecord | null> {
  if (spec.kind === "model") return readPromptRecord(spec.dir) ?? { instruction: "none" };
  if (spec.kind === "gguf") return ggufPrompting(spec.path);
  if (spec.kind === "openai" && spec.urls.length > 0) return servedPrompting(spec.urls[0], spec.model);
  return null;
}

export async function resolvePrompting(
  spec: TeacherSpec,
  option: InstructionOption = "auto",
): Promise<ResolvedPrompting> {
  if (option !== "auto") return { instruction: option, source: "--instruction" };
  const recorded = await recordedPrompting(spec);
  if (recorded) return { instruction: recorded.instruction, source: `recorded by ${spec.spec}` };
  return { instruction: "template", source: "default for a teacher that records none" };
}

/** The GGUF's `distill.instruction` (read from the header only: a teacher's GGUF may be many GB). */
async function ggufPrompting(path: string): Promise<PromptRecord | null> {
  const { readGgufFileInfo } = await import("node-llama-cpp");
  const info = await readGgufFileInfo(path, {
    readTensorInfo: false,
    sourceType: "filesystem",
    logWarnings: false,
    ignoreKeys: ["tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type"],
  }).catch(() => null);
  const [group, key] = ggufInstructionKey.split(".");
  const value = (info?.metadata as Record<string, Record<string, unknown> | undefined> | undefined)?.[
    group
  ]?.[key];
  return isInstructionMode(value) ? { instruction: value } : null;
}

/**
 * The `distill` field of the model's entry in `<baseURL>/models`, as `distill serve` lists it. Other
 * servers list no such field; one that does not answer in 5 s records nothing either.
 */
async function servedPrompting(baseURL: string, model: string): Promise<PromptRecord | null> {
  try {
    const res = await fetch(`${baseURL.replace(/\/+$/, "")}/models`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return null;
    const body = (await res.json()) as { data?: { id?: string; distill?: { instruction?: unknown } }[] };
    const entry = body.data?.find((m) => m.id === model);
    const value = entry?.distill?.instruction;
    return isInstructionMode(value) ? { instruction: value } : null;
  } catch {
    return null;
  }
}
