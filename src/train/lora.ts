/**
 * `distill train --lora`: low-rank adapters on a frozen student (Hu et al. 2021), trained and saved the
 * way PEFT does. The base weights get no gradient and no optimizer state; each adapted linear layer
 * learns A (r, in), initialised kaiming-uniform(a=√5) like PEFT (uniform ±1/√in), and B (out, r),
 * initialised to zero so training starts from the base model exactly. Adapters are saved as a PEFT
 * folder (src/model/loraFolder.ts) that names the base model folder.
 */
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { Tensor } from "../engine/autograd.ts";
import { LoraAdapters, type LoraPair } from "../engine/lora.ts";
import { tokenizerFiles } from "../model/hfFolder.ts";
import {
  type AdapterFolder,
  type AdapterPair,
  type LoraSettings,
  loraScale,
  resolveAdapterBase,
  writeAdapterFolder,
} from "../model/loraFolder.ts";
import type { Model } from "../model/model.ts";
import { UserError } from "../util/errors.ts";
import { hashSeed, seededRandom } from "../util/random.ts";

/** The linear layers of a decoder layer an adapter can go on (PEFT's names for them). */
export const loraModules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

export const defaultLoraSettings: LoraSettings = { r: 16, alpha: 32, dropout: 0, targets: loraModules };

/**
 * `r=16,alpha=32,dropout=0.05,targets=q_proj,k_proj,v_proj` → settings; keys left out keep their
 * defaults (r 16, alpha 2·r, dropout 0, all seven linear layers). `targets=` takes the rest of the
 * comma list up to the next `key=`; `all` means the seven.
 */
export function parseLoraSpec(spec: string | true): LoraSettings {
  const bad = (what: string) =>
    new UserError(`${what} (expected e.g. r=16,alpha=32,dropout=0,targets=q_proj,v_proj)`, { field: "lora" });
  const values = new Map<string, string[]>();
  let key: string | undefined;
  for (const part of spec === true
    ? []
    : spec
        .split(",")
        .map((p) => p.trim())
        .filter(Boolean)) {
    const eq = part.indexOf("=");
    if (eq >= 0) {
      key = part.slice(0, eq).trim();
      if (!["r", "alpha", "dropout", "targets"].includes(key)) throw bad(`unknown LoRA setting "${key}"`);
      if (values.has(key)) throw bad(`LoRA setting "${key}" given twice`);
      values.set(key, [part.slice(eq + 1).trim()]);
    } else if (key === "targets") values.get(key)!.push(part);
    else throw bad(`"${part}" is not key=value`);
  }
  const number = (k: string, ok: (x: number) => boolean, what: string): number | undefined => {
    const v = values.get(k)?.[0];
    if (v === undefined) return undefined;
    const x = Number(v);
    if (v === "" || !Number.isFinite(x) || !ok(x)) throw bad(`LoRA ${k}=${v} must be ${what}`);
    return x;
  };
  const r = number("r", (x) => Number.isInteger(x) && x >= 1, "a positive integer") ?? defaultLoraSettings.r;
  const alpha = number("alpha", (x) => x > 0, "a positive number") ?? 2 * r;
  const dropout = number("dropout", (x) => x >= 0 && x < 1, "in [0, 1)") ?? 0;
  let targets = values.get("targets")?.filter(Boolean) ?? loraModules;
  if (targets.length === 1 && targets[0] === "all") targets = loraModules;
  if (targets.length === 0) throw bad("LoRA targets= names no module");
  for (const t of targets)
    if (!loraModules.includes(t)) throw bad(`LoRA target "${t}" is not one of ${loraModules.join(", ")}`);
  return { r, alpha, dropout, targets: [...new Set(targets)] };
}

/** The module paths (`model.layers.3.mlp.up_proj`) of a model that the settings adapt, with their shapes. */
function adaptedModules(model: Model, targets: readonly string[]): Map<string, [number, number]> {
  const modules = new Map<string, [number, number]>();
  for (const [name, t] of model.params) {
    const m = /^(model\.layers\.\d+\.(?:self_attn|mlp)\.([a-z_]+))\.weight$/.exec(name);
    if (m && targets.includes(m[2]!)) modules.set(m[1]!, [t.shape[0]!, t.shape[1]!]);
  }
  return modules;
}

/** Fresh adapters for `model`: A kaiming-uniform(a=√5) from the seed, B zero. */
export function createAdapters(model: Model, settings: LoraSettings, seed: number): LoraAdapters {
  const random = seededRandom(hashSeed("lora-init", seed));
  const pairs = new Map<string, LoraPair>();
  const scale = loraScale(settings);
  for (const [module, [out, inF]] of adaptedModules(model, settings.targets)) {
    // kaiming_uniform_(a=√5): gain √(2/(1+5)), bound = gain·√(3/fan_in) = 1/√fan_in
    const bound = 1 / Math.sqrt(inF);
    const A = new Float32Array(settings.r * inF);
    for (let i = 0; i < A.length; i++) A[i] = (2 * random() - 1) * bound;
    pairs.set(module, {
      A: new Tensor(A, [settings.r, inF], true),
      B: new Tensor(new Float32Array(out * settings.r), [out, settings.r], true),
      scale,
    });
  }
  if (pairs.size === 0) throw new UserError("LoRA targets match no layer of the model", { field: "lora" });
  return new LoraAdapters(pairs, settings.dropout, seed);
}

/** Adapters read back from a folder (a checkpoint), trainable again, for `model`. */
export function adaptersFromFolder(folder: AdapterFolder, model: Model, seed: number): LoraAdapters {
  const expected = adaptedModules(model, folder.settings.targets);
  const pairs = new Map<string, LoraPair>();
  for (const [module, { A, B }] of folder.pairs) {
    const shape = expected.get(module);
    if (!shape || B.shape[0] !== shape[0] || A.shape[1] !== shape[1])
      throw new UserError(`adapter for "${module}" does not fit the base model`, { file: folder.dir });
    pairs.set(module, {
      A: new Tensor(A.data, A.shape, true),
      B: new Tensor(B.data, B.shape, true),
      scale: folder.scale,
    });
  }
  return new LoraAdapters(pairs, folder.settings.dropout, seed);
}

/**
 * Writes a run's adapters as a PEFT folder naming its base (as an absolute path, so the folder reads
 * from anywhere on this machine), with the tokenizer files of `tokenizerFrom`.
 */
export function saveAdapters(dir: string, run: LoraRun, tokenizerFrom: string): string[] {
  mkdirSync(dir, { recursive: true });
  const pairs = new Map<string, AdapterPair>();
  for (const [module, { A, B }] of run.adapters.pairs)
    pairs.set(module, { A: { shape: [...A.shape], data: A.data }, B: { shape: [...B.shape], data: B.data } });
  const files = writeAdapterFolder(dir, run.settings, path.resolve(run.base), pairs);
  for (const f of tokenizerFiles) {
    const src = path.join(tokenizerFrom, f);
    if (existsSync(src) && path.resolve(src) !== path.resolve(dir, f)) {
      copyFileSync(src, path.join(dir, f));
      files.push(f);
    }
  }
  return files;
}

/** A LoRA run's adapters with what saving them needs. */
export interface LoraRun {
  adapters: LoraAdapters;
  settings: LoraSettings;
  /** The base model folder the adapters go on. */
  base: string;
}

/**
 * The adapters of a `distill train` run: undefined without `--lora`; when resuming, the checkpoint's
 * (whose settings a repeated `--lora` must match); else fresh ones on the `--init` folder.
 */
export function loraRun(opts: {
  spec: string | true | undefined;
  init: string;
  model: Model;
  seed: number;
  /** Set when resuming: the checkpoint's adapter folder, or null for a full fine-tune's checkpoint. */
  checkpoint?: { adapter: AdapterFolder | null; dir: string };
}): LoraRun | undefined {
  const { spec, model, seed, checkpoint } = opts;
  const asked = spec === undefined ? undefined : parseLoraSpec(spec);
  if (checkpoint?.adapter) {
    const saved = checkpoint.adapter.settings;
    if (asked && JSON.stringify(asked) !== JSON.stringify(saved))
      throw new UserError(
        `--lora ${describeLora(asked)} differs from the checkpoint's ${describeLora(saved)}`,
        { file: checkpoint.dir },
      );
    const base = resolveAdapterBase(checkpoint.adapter);
    return { adapters: adaptersFromFolder(checkpoint.adapter, model, seed), settings: saved, base };
  }
  if (!asked) return undefined;
  if (checkpoint)
    throw new UserError("the checkpoint is of a full fine-tune; resume it without --lora", {
      file: checkpoint.dir,
    });
  return { adapters: createAdapters(model, asked, seed), settings: asked, base: opts.init };
}

export function describeLora(s: LoraSettings): string {
  return `r=${s.r},alpha=${s.alpha},dropout=${s.dropout},targets=${s.targets.join(",")}`;
}

/** Number of values the adapters train. */
export function loraParameterCount(run: LoraRun): number {
  let n = 0;
  for (const { A, B } of run.adapters.pairs.values()) n += A.size + B.size;
  return n;
}
