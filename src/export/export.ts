/**
 * `distill export`: a trained student (an HF model folder) for the tools people run models with —
 * `gguf` (llama.cpp, Ollama), `safetensors` (transformers, vLLM), `trl` (a dataset and a ready TRL SFT
 * recipe for students too large for the CPU engine). The stage function is `exportModel` because
 * `export` is a reserved word.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { readModelConfig } from "../model/config.ts";
import { UserError } from "../util/errors.ts";
import { prepareOutDir } from "../util/outputs.ts";
import { exportGgufFormat, type GgufExportSummary } from "./gguf.ts";
import { exportConfigFolder, exportSourceFolder } from "./lora.ts";
import { type ExportOptions, exportOptionsSchema } from "./options.ts";
import { exportSafetensorsFormat, type SafetensorsExportSummary } from "./safetensors.ts";
import { exportTrl, type TrlExportSummary } from "./trl.ts";

export type ExportSummary = { out: string; format: "gguf" | "safetensors" | "trl"; files: string[] } & (
  | { format: "gguf"; gguf: GgufExportSummary }
  | { format: "safetensors"; safetensors: SafetensorsExportSummary }
  | { format: "trl"; trl: TrlExportSummary }
);

export async function exportModel(input: ExportOptions): Promise<ExportSummary> {
  const parsed = exportOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UserError(issue.message, { field: issue.path.map(String).join(".") || undefined });
  }
  const o = parsed.data;
  // Flags of another format are a mistake worth saying, not something to ignore silently.
  const onlyFor: [keyof typeof o, string, string][] = [
    ["data", "trl", "--data"],
    ["validation", "trl", "--validation"],
    ["baseModel", "trl", "--base-model"],
    ["maxShardSize", "safetensors", "--max-shard-size"],
  ];
  for (const [key, format, flag] of onlyFor) {
    if (o[key] !== undefined && o.format !== format)
      throw new UserError(`${flag} applies to --format ${format} only`, { field: key });
  }
  refuseOtherFormatsDtype(o.format, o.dtype);
  const configPath = path.join(exportConfigFolder(o), "config.json");
  if (!existsSync(configPath))
    throw new UserError("no config.json (is this a Hugging Face model folder?)", { file: o.model });
  const config = readModelConfig(configPath);
  const name = o.name ?? path.basename(path.resolve(o.model));
  if (o.format === "safetensors" && path.resolve(o.model) === path.resolve(o.out))
    throw new UserError("--out must differ from --model (the export would overwrite its own source)", {
      field: "out",
    });
  prepareOutDir(o.out);
  // every file is written into a work folder inside --out and moved into place once all are done,
  // so a failed export leaves an earlier one whole and no half-written file
  const work = path.join(o.out, `.export-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work);
  try {
    const w = { ...o, model: exportSourceFolder(o, work), out: work };
    let summary: ExportSummary;
    if (o.format === "gguf") {
      const gguf = exportGgufFormat(w, config.max_position_embeddings, name);
      summary = { out: o.out, format: "gguf", files: gguf.files, gguf };
    } else if (o.format === "safetensors") {
      const safetensors = exportSafetensorsFormat(w);
      summary = { out: o.out, format: "safetensors", files: safetensors.files, safetensors };
    } else {
      const trl = await exportTrl(w, config, name);
      summary = { out: o.out, format: "trl", files: trl.files, trl };
    }
    writeFileSync(
      path.join(work, "export.json"),
      `${JSON.stringify({ options: { ...o, model: path.resolve(o.model) }, summary }, null, 2)}\n`,
    );
    for (const file of [...summary.files, "export.json"]) {
      mkdirSync(path.dirname(path.join(o.out, file)), { recursive: true });
      renameSync(path.join(work, file), path.join(o.out, file));
    }
    return summary;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The weight types each format writes (the first is listed first in messages; defaults are in each format). */
const dtypesOf = {
  gguf: ["f32", "f16", "q8_0", "q4_0", "q4_k_m"],
  safetensors: ["f32", "bf16"],
  trl: ["f32", "f16", "bf16"],
} as const;

/** A --dtype another format writes is refused before anything is read, saying which formats take it. */
function refuseOtherFormatsDtype(format: keyof typeof dtypesOf, dtype: string | undefined): void {
  if (dtype === undefined || (dtypesOf[format] as readonly string[]).includes(dtype)) return;
  const orList = (xs: readonly string[]) =>
    xs.length > 1 ? `${xs.slice(0, -1).join(", ")} or ${xs.at(-1)}` : xs[0];
  const others = Object.entries(dtypesOf)
    .filter(([, types]) => (types as readonly string[]).includes(dtype))
    .map(([f]) => f);
  throw new UserError(
    `${format} export writes ${orList(dtypesOf[format])} (${dtype} is for --format ${orList(others)})`,
    {
      field: "dtype",
    },
  );
}
