import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { AdamW } from "../engine/optim.ts";
import { f32ToBf16 } from "../model/dtype.ts";
import { loadModelFolder, saveModelFolder } from "../model/hfFolder.ts";
import {
  type AdapterFolder,
  isAdapterFolder,
  readAdapterFolder,
  resolveAdapterBase,
} from "../model/loraFolder.ts";
import type { Model } from "../model/model.ts";
import { readSafetensors, type WritableTensor, writeSafetensors } from "../model/safetensors.ts";
import { type LoraRun, saveAdapters } from "./lora.ts";

/** Where a run stands: enough, with the data order derived from the seed, to resume exactly. */
export interface TrainerState {
  step: number;
  epoch: number;
  /** Optimizer steps already taken within `epoch`. */
  stepInEpoch: number;
  elapsedSeconds: number;
}

/**
 * A checkpoint is an HF model folder (with LoRA: the adapter folder, which names the frozen base)
 * plus `optimizer.safetensors` (AdamW moments) and `trainer_state.json`. It is written beside the old one and renamed over it, so a kill at any moment
 * leaves one whole checkpoint.
 */
export function saveCheckpoint(
  dir: string,
  model: Model,
  opt: AdamW,
  state: TrainerState,
  tokenizerFrom: string,
  lora?: LoraRun,
): void {
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  if (lora) saveAdapters(tmp, lora, tokenizerFrom);
  else saveModelFolder(tmp, model, { tokenizerFrom });
  const moments = new Map<string, WritableTensor>();
  for (const [name, m] of opt.state.m) moments.set(`m.${name}`, { shape: [m.length], data: m });
  for (const [name, v] of opt.state.v) moments.set(`v.${name}`, { shape: [v.length], data: v });
  writeSafetensors(path.join(tmp, "optimizer.safetensors"), moments, {
    metadata: { step: String(opt.state.step) },
  });
  writeFileSync(path.join(tmp, "trainer_state.json"), `${JSON.stringify(state, null, 2)}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
}

export function hasCheckpoint(dir: string): boolean {
  return existsSync(path.join(dir, "trainer_state.json"));
}

export function loadCheckpoint(dir: string): {
  model: Model;
  /** The checkpoint's LoRA adapters (model is then their frozen base), or null for a full fine-tune. */
  adapter: AdapterFolder | null;
  state: TrainerState;
  restore(opt: AdamW): void;
} {
  const adapter = isAdapterFolder(dir) ? readAdapterFolder(dir) : null;
  const model = loadModelFolder(adapter ? resolveAdapterBase(adapter) : dir);
  const state: TrainerState = JSON.parse(readFileSync(path.join(dir, "trainer_state.json"), "utf8"));
  return {
    model,
    adapter,
    state,
    restore(opt: AdamW) {
      const { tensors, metadata } = readSafetensors(path.join(dir, "optimizer.safetensors"));
      opt.state.step = Number(metadata?.step ?? state.step);
      // the moments come back widened to float32 (exactly, from bf16) and are stored as the run asks
      const asRun = opt.stateDtype === "bfloat16" ? f32ToBf16 : (x: Float32Array) => x;
      for (const [key, t] of tensors) {
        const [kind, ...rest] = key.split(".");
        (kind === "m" ? opt.state.m : opt.state.v).set(rest.join("."), asRun(t.data));
        tensors.delete(key);
      }
    },
  };
}
