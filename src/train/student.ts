import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { AdamW } from "../engine/optim.ts";
import { loadModelFolder } from "../model/hfFolder.ts";
import type { Model } from "../model/model.ts";
import { initParams } from "../model/trainable.ts";
import { chatmlTemplate, trainBpeTokenizer } from "../tokenizer/bpeTrainer.ts";
import { loadTokenizer, writeTokenizerFiles } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import { readJsonl } from "../util/jsonl.ts";
import { loadCheckpoint, type TrainerState } from "./checkpoint.ts";
import { checkChatRow } from "./data.ts";
import { type LoraRun, loraRun } from "./lora.ts";
import type { ResolvedTrainOptions } from "./options.ts";
import { newModelConfig, parseNewModelSpec, presets } from "./presets.ts";

/**
 * The student a training run starts from: a checkpoint it resumes, a Hugging Face folder, or a new
 * model of a preset over a tokenizer given or trained on the data.
 */
/** The student, its tokenizer's folder, where training stands and how to restore the optimizer. */
export interface Student {
  model: Model;
  tokenizerDir: string;
  state: TrainerState;
  restore?: (opt: AdamW) => void;
  /** With --lora: the adapters trained on the frozen `model`. */
  lora?: LoraRun;
}

export const freshState: TrainerState = { step: 0, epoch: 0, stepInEpoch: 0, elapsedSeconds: 0 };

export function resumeStudent(checkpointDir: string, o: ResolvedTrainOptions): Student {
  const { model, state, restore, adapter } = loadCheckpoint(checkpointDir);
  const resumed = { adapter, dir: checkpointDir };
  const lora = loraRun({ spec: o.lora, init: o.init, model, seed: o.seed, checkpoint: resumed });
  return { model, state, restore, lora, tokenizerDir: checkpointDir };
}

/** The student's decoder layers as its preset or config.json declares them, when they can be read. */
export function declaredLayers(init: string): number | undefined {
  if (init.startsWith("new:")) {
    const spec = parseNewModelSpec(init);
    return spec.overrides.layers ?? presets[spec.preset]?.layers;
  }
  try {
    const layers = JSON.parse(readFileSync(path.join(init, "config.json"), "utf8")).num_hidden_layers;
    return Number.isInteger(layers) ? layers : undefined;
  } catch {
    return undefined; // loading the folder says what is wrong with it
  }
}

/** `new:<preset>`: random weights over a tokenizer given or trained on the data; else an HF folder. */
export async function initStudent(o: ResolvedTrainOptions): Promise<Student> {
  if (!o.init.startsWith("new:")) {
    if (!existsSync(path.join(o.init, "config.json")))
      throw new UserError("not a model folder (no config.json)", { file: o.init });
    const model = loadModelFolder(o.init);
    const lora = loraRun({ spec: o.lora, init: o.init, model, seed: o.seed });
    return { model, lora, tokenizerDir: o.init, state: freshState };
  }
  if (o.lora !== undefined)
    throw new UserError("--lora adapts a pretrained model; a new:<preset> student trains all its weights", {
      field: "lora",
    });
  const spec = parseNewModelSpec(o.init);
  const tokenizerDir = o.tokenizer ?? (await trainTokenizerFor(o, spec.vocab));
  const tokenizer = loadTokenizer(tokenizerDir);
  const id = (t: string) => {
    const found = tokenizer.tokenToId(t);
    if (found === undefined) throw new UserError(`the tokenizer has no "${t}" token`, { file: tokenizerDir });
    return found;
  };
  const config = newModelConfig(
    { ...spec, context: Math.max(spec.context, o.context) },
    {
      vocabSize: tokenizer.vocabSize,
      bos: id("<|endoftext|>"),
      eos: id("<|im_end|>"),
      pad: id("<|endoftext|>"),
    },
  );
  return { model: initParams(config, o.seed), tokenizerDir, state: freshState };
}

/** A new student's tokenizer: byte-level BPE trained on the conversations it will learn from. */
async function trainTokenizerFor(o: ResolvedTrainOptions, vocabSize: number): Promise<string> {
  const texts: string[] = [];
  for (const file of [o.data!, ...o.tokenizerCorpus]) {
    for await (const { value, line } of readJsonl(file)) {
      const row = checkChatRow(value, file, line);
      for (const m of row.messages) texts.push(m.content);
    }
  }
  const trained = trainBpeTokenizer(texts, { vocabSize });
  const dir = path.join(o.out, "tokenizer");
  writeTokenizerFiles(dir, trained);
  // sanity: the chat template every new student uses is ChatML, like Qwen's
  if (loadTokenizer(dir).chatTemplate !== chatmlTemplate)
    throw new Error("trained tokenizer lacks the ChatML template");
  return dir;
}

/**
 * The optimizer every way of training a student uses: AdamW with no decay on norms and biases (as HF
 * Trainer and TRL), its moments stored as --optimizer-state says.
 */
export function studentOptimizer(
  params: AdamW["params"],
  o: Pick<ResolvedTrainOptions, "weightDecay" | "optimizerState">,
  lr: number,
): AdamW {
  return new AdamW(params, {
    lr,
    weightDecay: o.weightDecay,
    decay: (name) => !name.endsWith("norm.weight") && !name.endsWith(".bias"),
    stateDtype: o.optimizerState,
  });
}
