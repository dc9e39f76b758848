/**
 * LoRA adapter folders in PEFT's format, what `peft.PeftModel.from_pretrained` loads:
 *
 *   adapter_config.json        {"peft_type": "LORA", "r": 16, "lora_alpha": 32, "target_modules": [...],
 *                               "base_model_name_or_path": "<the base model folder>", ...}
 *   adapter_model.safetensors  base_model.model.<module>.lora_A.weight (r, in)
 *                              base_model.model.<module>.lora_B.weight (out, r)
 *
 * where <module> is an HF module path such as `model.layers.0.self_attn.q_proj`. The adapted weight is
 * W + scale · B · A with scale = lora_alpha / r (lora_alpha / √r with use_rslora).
 */
import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { UserError } from "../util/errors.ts";
import { loadModelFolder, readJsonFile, saveModelFolder } from "./hfFolder.ts";
import type { Model, Tensor } from "./model.ts";
import { readSafetensors, type SaveDtype, writeSafetensors } from "./safetensors.ts";

export const adapterConfigFile = "adapter_config.json";
export const adapterWeightsFile = "adapter_model.safetensors";
const tensorPrefix = "base_model.model.";

/** What a LoRA run is: rank, alpha, dropout on the adapter's input, and the module names adapted. */
export interface LoraSettings {
  r: number;
  alpha: number;
  dropout: number;
  /** Module names, e.g. ["q_proj", "v_proj"]: every linear layer whose last name part is one of them. */
  targets: string[];
}

/** One adapter: A (r, in) and B (out, r), float32 row-major. */
export interface AdapterPair {
  A: Tensor;
  B: Tensor;
}

export interface AdapterFolder {
  dir: string;
  settings: LoraSettings;
  scale: number;
  /** The base model folder as adapter_config.json names it. */
  base: string;
  /** By module path (`model.layers.0.self_attn.q_proj`). */
  pairs: Map<string, AdapterPair>;
}

export function isAdapterFolder(dir: string): boolean {
  return existsSync(path.join(dir, adapterConfigFile));
}

/** scale = alpha / r, PEFT's LoRA scaling. */
export function loraScale(s: Pick<LoraSettings, "r" | "alpha">): number {
  return s.alpha / s.r;
}

/** Writes adapter_config.json and adapter_model.safetensors; returns the file names. */
export function writeAdapterFolder(
  dir: string,
  settings: LoraSettings,
  base: string,
  pairs: ReadonlyMap<string, AdapterPair>,
): string[] {
  const config = {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: base,
    r: settings.r,
    lora_alpha: settings.alpha,
    lora_dropout: settings.dropout,
    target_modules: settings.targets,
    bias: "none",
    fan_in_fan_out: false,
    use_rslora: false,
    use_dora: false,
    init_lora_weights: true,
    modules_to_save: null,
    rank_pattern: {},
    alpha_pattern: {},
    inference_mode: true,
  };
  writeFileSync(path.join(dir, adapterConfigFile), `${JSON.stringify(config, null, 2)}\n`);
  const tensors = new Map<string, Tensor>();
  for (const [module, { A, B }] of pairs) {
    tensors.set(`${tensorPrefix}${module}.lora_A.weight`, A);
    tensors.set(`${tensorPrefix}${module}.lora_B.weight`, B);
  }
  writeSafetensors(path.join(dir, adapterWeightsFile), tensors);
  return [adapterConfigFile, adapterWeightsFile];
}

/** Reads an adapter folder; errors name the file and the field PEFT would have rejected or we do not run. */
export function readAdapterFolder(dir: string): AdapterFolder {
  const file = path.join(dir, adapterConfigFile);
  const c = readJsonFile(file) as Record<string, unknown>;
  const need = (ok: boolean, field: string, what: string) => {
    if (!ok) throw new UserError(what, { file, field });
  };
  need(
    c.peft_type === "LORA",
    "peft_type",
    `is ${JSON.stringify(c.peft_type)}; only LORA adapters load here`,
  );
  need(Number.isInteger(c.r) && (c.r as number) > 0, "r", "must be a positive integer");
  need(typeof c.lora_alpha === "number", "lora_alpha", "must be a number");
  need(typeof c.base_model_name_or_path === "string", "base_model_name_or_path", "must name the base model");
  need(!c.use_dora, "use_dora", "DoRA adapters are not supported");
  need(!c.fan_in_fan_out, "fan_in_fan_out", "must be false (Conv1D layouts are not supported)");
  need(c.bias === undefined || c.bias === "none", "bias", 'must be "none"');
  need(!c.modules_to_save, "modules_to_save", "is not supported (only LoRA matrices are loaded)");
  for (const key of ["rank_pattern", "alpha_pattern"])
    need(
      !c[key] || Object.keys(c[key] as object).length === 0,
      key,
      "is not supported (one r and alpha for all)",
    );
  const r = c.r as number;
  const alpha = c.lora_alpha as number;
  const targets = c.target_modules;
  const settings: LoraSettings = {
    r,
    alpha,
    dropout: typeof c.lora_dropout === "number" ? c.lora_dropout : 0,
    targets: Array.isArray(targets) ? targets.map(String) : typeof targets === "string" ? [targets] : [],
  };
  const scale = c.use_rslora ? alpha / Math.sqrt(r) : alpha / r;
  const pairs = readAdapterPairs(path.join(dir, adapterWeightsFile), r);
  return { dir, settings, scale, base: c.base_model_name_or_path as string, pairs };
}

function readAdapterPairs(file: string, r: number): Map<string, AdapterPair> {
  if (!existsSync(file))
    throw new UserError("missing (an adapter folder holds its LoRA weights here)", { file });
  const found = new Map<string, Partial<AdapterPair>>();
  for (const [name, t] of readSafetensors(file).tensors) {
    const m = /^base_model\.model\.(.+)\.lora_([AB])(?:\.[^.]+)?\.weight$/.exec(name);
    if (!m)
      throw new UserError(`tensor "${name}" is not a LoRA matrix (…lora_A.weight / …lora_B.weight)`, {
        file,
      });
    const entry = found.get(m[1]!) ?? {};
    entry[m[2] as "A" | "B"] = t;
    found.set(m[1]!, entry);
  }
  const pairs = new Map<string, AdapterPair>();
  for (const [module, { A, B }] of found) {
    if (!A || !B) throw new UserError(`module "${module}" has lora_${A ? "B" : "A"} missing`, { file });
    if (A.shape.length !== 2 || B.shape.length !== 2 || A.shape[0] !== r || B.shape[1] !== r)
      throw new UserError(
        `module "${module}": lora_A [${A.shape}] and lora_B [${B.shape}] do not fit rank ${r}`,
        { file },
      );
    pairs.set(module, { A, B });
  }
  return pairs;
}

/**
 * The folder of the adapter's base model: `base_model_name_or_path` relative to the adapter folder, or
 * as given (relative to the working directory, or absolute). A Hub id is not fetched.
 */
export function resolveAdapterBase(adapter: Pick<AdapterFolder, "dir" | "base">): string {
  const candidates = [path.resolve(adapter.dir, adapter.base), path.resolve(adapter.base)];
  const found = candidates.find((c) => existsSync(path.join(c, "config.json")));
  if (!found)
    throw new UserError(
      `base model "${adapter.base}" not found: no config.json in ${[...new Set(candidates)].join(" or ")}` +
        " (edit base_model_name_or_path to the base model's folder)",
      { file: path.join(adapter.dir, adapterConfigFile) },
    );
  return found;
}

/** A copy of `model` with every adapter merged in: W + scale · B · A. The base's arrays are not touched. */
export function mergeAdapters(model: Model, adapter: Pick<AdapterFolder, "pairs" | "scale" | "dir">): Model {
  const params = new Map(model.params);
  for (const [module, { A, B }] of adapter.pairs) {
    const name = `${module}.weight`;
    const w = model.params.get(name);
    const [out, r] = B.shape as [number, number];
    const inF = A.shape[1]!;
    if (!w || w.shape[0] !== out || w.shape[1] !== inF)
      throw new UserError(
        `adapter for "${module}" [${out}, ${inF}] has no matching weight in the base model${w ? ` ([${w.shape}])` : ""}`,
        { file: path.join(adapter.dir, adapterWeightsFile) },
      );
    const merged = new Float32Array(w.data);
    const row = new Float64Array(inF);
    for (let o = 0; o < out; o++) {
      row.fill(0);
      for (let k = 0; k < r; k++) {
        const b = B.data[o * r + k]!;
        if (b === 0) continue;
        for (let i = 0; i < inF; i++) row[i]! += b * A.data[k * inF + i]!;
      }
      for (let i = 0; i < inF; i++) merged[o * inF + i]! += adapter.scale * row[i]!;
    }
    params.set(name, { shape: w.shape.slice(), data: merged });
  }
  return { config: model.config, params };
}

/**
 * A model folder, or an adapter folder merged onto its base: what eval, serve and export load.
 * `modelDir` holds config.json and generation_config.json (the base's for an adapter); the tokenizer
 * comes from the adapter folder when it has one, else from the base.
 */
export function loadModelOrAdapter(dir: string): {
  model: Model;
  modelDir: string;
  tokenizerDir: string;
  adapter?: AdapterFolder;
} {
  if (!isAdapterFolder(dir)) return { model: loadModelFolder(dir), modelDir: dir, tokenizerDir: dir };
  const adapter = readAdapterFolder(dir);
  const base = resolveAdapterBase(adapter);
  const model = mergeAdapters(loadModelFolder(base), adapter);
  const tokenizerDir = existsSync(path.join(dir, "tokenizer.json")) ? dir : base;
  return { model, modelDir: base, tokenizerDir, adapter };
}

/**
 * Writes base + adapter merged (W + scale · B · A) as a plain HF folder at `out`: the base's config and
 * generation settings, the tokenizer files of the adapter folder or else the base. Returns `out`.
 */
export function writeMergedFolder(adapterDir: string, out: string, opts: { dtype?: SaveDtype } = {}): string {
  const { model, tokenizerDir, adapter } = loadModelOrAdapter(adapterDir);
  if (!adapter)
    throw new UserError("not a LoRA adapter folder (no adapter_config.json)", { file: adapterDir });
  const genPath = path.join(resolveAdapterBase(adapter), "generation_config.json");
  let generationConfig: Record<string, unknown> | undefined;
  if (existsSync(genPath)) {
    const { transformers_version: _, ...rest } = readJsonFile(genPath) as Record<string, unknown>;
    generationConfig = rest;
  }
  saveModelFolder(out, model, { tokenizerFrom: tokenizerDir, generationConfig, dtype: opts.dtype });
  return out;
}
