/**
 * `distill export --format gguf`: `model.gguf` (F32, F16, or quantized Q8_0 / Q4_0 / Q4_K_M by llama.cpp's
 * own quantizer; the tokenizer and chat template inside) for llama.cpp, an Ollama `Modelfile`, and a
 * README saying how to run both.
 */
import { rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { exportGgufFromFolder } from "../model/ggufExport.ts";
import { ollamaModelfile } from "../model/ollama.ts";
import { type PromptRecord, readPromptRecord } from "../model/promptRecord.ts";
import { renderInstruction } from "../template/render.ts";
import { loadTokenizer } from "../tokenizer/tokenizer.ts";
import type { ResolvedExportOptions } from "./options.ts";
import { type GgufQuantType, isGgufQuantType, quantizeGguf } from "./quantize.ts";

export interface GgufExportSummary {
  files: string[];
  bytes: number;
  dtype: "f32" | "f16" | GgufQuantType;
  /** Whether the Modelfile carries a ChatML TEMPLATE (else Ollama falls back to the GGUF's own). */
  chatml: boolean;
}

/**
 * Sampling defaults of the Modelfile: DeepSeek-R1's recommendation for its distilled students
 * (temperature 0.6, top-p 0.95), which keeps reasoning from looping without making it erratic.
 */
export const ollamaSampling = { temperature: 0.6, topP: 0.95 };

export function exportGgufFormat(
  o: ResolvedExportOptions,
  contextLength: number,
  name: string,
): GgufExportSummary {
  const dtype = (o.dtype ?? "f16") as GgufExportSummary["dtype"]; // exportModel refused the rest
  const tokenizer = loadTokenizer(o.model);
  const prompting = readPromptRecord(o.model);
  const ggufPath = path.join(o.out, "model.gguf");
  let bytes: number;
  if (isGgufQuantType(dtype)) {
    // quantized from full precision, as llama-quantize is best fed; the F32 file is gone afterwards
    const f32Path = path.join(o.out, "model.f32.gguf");
    exportGgufFromFolder(o.model, f32Path, { name, prompting: prompting ?? undefined });
    try {
      quantizeGguf(f32Path, ggufPath, dtype);
    } finally {
      rmSync(f32Path, { force: true });
    }
    bytes = statSync(ggufPath).size;
  } else
    bytes = exportGgufFromFolder(o.model, ggufPath, {
      name,
      f16: dtype === "f16",
      prompting: prompting ?? undefined,
    });
  // Ollama templates are Go templates: the ChatML one is spelled out; another family keeps the GGUF's.
  const chatml = (tokenizer.chatTemplate ?? "").includes("<|im_start|>");
  const numCtx = Math.min(contextLength, 8192);
  const sampling = [
    `PARAMETER temperature ${ollamaSampling.temperature}`,
    `PARAMETER top_p ${ollamaSampling.topP}`,
    `PARAMETER num_ctx ${numCtx}`,
  ];
  // Without a TEMPLATE line Ollama uses the chat template stored in the GGUF.
  const modelfile = chatml
    ? `${ollamaModelfile({ gguf: "./model.gguf" })}${sampling.join("\n")}\n`
    : `FROM ./model.gguf\n${sampling.join("\n")}\n`;
  writeFileSync(path.join(o.out, "Modelfile"), modelfile);
  writeFileSync(path.join(o.out, "README.txt"), ggufReadme(name, dtype, numCtx, prompting));
  return { files: ["model.gguf", "Modelfile", "README.txt"], bytes, dtype, chatml };
}

function ggufReadme(name: string, dtype: string, numCtx: number, prompting: PromptRecord | null): string {
  const tag = name.toLowerCase().replace(/[^a-z0-9._-]+/g, "-");
  return `${name} as GGUF (${dtype.toUpperCase()}), written by distill export --format gguf

Files
  model.gguf   weights, tokenizer and chat template, for llama.cpp and anything built on it
  Modelfile    for Ollama: FROM ./model.gguf, the chat template, stop tokens, sampling defaults

llama.cpp (the chat template inside the GGUF is applied by -cnv / --jinja)
  llama-cli -m model.gguf -cnv --temp ${ollamaSampling.temperature} --top-p ${ollamaSampling.topP}
  llama-server -m model.gguf --jinja -c ${numCtx}     # OpenAI-compatible server on :8080

Ollama
  ollama create ${tag} -f Modelfile
  ollama run ${tag} "Solve for x: 3x + 5 = 20"

The model answers in the template <think>…</think><answer>…</answer>.${promptingNote(prompting)}
`;
}

function promptingNote(prompting: PromptRecord | null): string {
  if (prompting?.instruction === "none")
    return "\nIt was trained on the bare problem as the user message: send it that way, with no instruction.";
  if (prompting?.instruction === "template")
    return `\nIt was trained with this instruction after each problem:\n  ${renderInstruction()}`;
  return "";
}
