import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { initParams, TrainableDecoder } from "../model/trainable.ts";
import { AdamW } from "../engine/optim.ts";
import { trainStep } from "../engine/step.ts";
import { loadModelFolder, saveModelFolder } from "../model/hfFolder.ts";
import { type Model, parameterCount } from "../model/model.ts";
import { chatmlTemplate, trainBpeTokenizer } from "../tokenizer/bpeTrainer.ts";
import { loadTokenizer, writeTokenizerFiles } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import { JsonlAppender, readJsonl } from "../util/jsonl.ts";
import { createProgress } from "../util/progress.ts";
import { hashSeed, seededRandom, shuffle } from "../util/random.ts";
import { hasCheckpoint, loadCheckpoint, saveCheckpoint, type TrainerState } from "./checkpoint.ts";
import { checkChatRow, type Example, loadExamples } from "./data.ts";
import { type ResolvedTrainOptions, type TrainOptions, trainOptionsSchema } from "./options.ts";
import { batchOf, packExamples, planRows } from "./pack.ts";
import { newModelConfig, parseNewModelSpec } from "./presets.ts";
import { learningRate } from "./schedule.ts";

export interface TrainSummary {
  out: string;
  params: number;
  steps: number;
  epochs: number;
  trainExamples: number;
  trainTokens: number;
  finalLoss: number;
  validationLoss: number | null;
  tokensPerSecond: number;
  seconds: number;
  truncated: number;
}

/**
 * `distill train`: supervised fine-tuning of a student on chat rows — loss on the assistant's tokens
 * only, packed sequences that cannot attend across examples, AdamW with warmup + cosine, global-norm
 * clipping, validation loss each epoch, checkpoints that resume exactly after a kill, `metrics.jsonl`.
 * `init` is a Hugging Face model folder (Qwen2/Qwen3/Llama) or `new:<preset>` (a small student with a
 * BPE tokenizer trained on the data). The trained model is written to `out` as an HF folder.
 */
export async function train(
  input: TrainOptions,
  hooks: { shouldStop?: () => boolean } = {},
): Promise<TrainSummary> {
  const o: ResolvedTrainOptions = trainOptionsSchema.parse(input);
  const started = Date.now();
  mkdirSync(o.out, { recursive: true });
  const checkpointDir = path.join(o.out, "checkpoint");
  const resuming = o.resume && hasCheckpoint(checkpointDir);

  // 1. the student and its tokenizer
  let model: Model;
  let tokenizerDir: string;
  let state: TrainerState = { step: 0, epoch: 0, stepInEpoch: 0, elapsedSeconds: 0 };
  let restore: ((opt: AdamW) => void) | undefined;
  const isNew = o.init.startsWith("new:");
  if (resuming) {
    const checkpoint = loadCheckpoint(checkpointDir);
    ({ model, state, restore } = checkpoint);
    tokenizerDir = checkpointDir;
  } else if (isNew) {
    tokenizerDir = o.tokenizer ?? (await trainTokenizerFor(o, parseNewModelSpec(o.init).vocab));
    const tokenizer = loadTokenizer(tokenizerDir);
    const spec = parseNewModelSpec(o.init);
    const id = (t: string) => {
      const found = tokenizer.tokenToId(t);
      if (found === undefined)
        throw new UserError(`the tokenizer has no "${t}" token`, { file: tokenizerDir });
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
    model = initParams(config, o.seed);
  } else {
    if (!existsSync(path.join(o.init, "config.json")))
      throw new UserError("not a model folder (no config.json)", { file: o.init });
    model = loadModelFolder(o.init);
    tokenizerDir = o.init;
  }
  const tokenizer = loadTokenizer(tokenizerDir);
  const context = Math.min(o.context, model.config.max_position_embeddings);
  const padId = tokenizer.padTokenId ?? tokenizer.tokenToId("<|endoftext|>") ?? 0;

  // 2. data
  const { examples } = await loadExamples(o.data, tokenizer);
  const validationFile = o.validation ?? siblingValidation(o.data);
  const validation = validationFile ? (await loadExamples(validationFile, tokenizer)).examples : [];
  checkVocabulary([...examples, ...validation], model.config.vocab_size, o.data);

  // 3. the plan: rows per step, steps per epoch (packing is deterministic per seed and epoch)
  const orderOf = (epoch: number) =>
    shuffle(
      seededRandom(hashSeed("train-order", o.seed, epoch)),
      examples.map((_, i) => i),
    );
  const rowsPerStep = Math.max(1, Math.round(o.batchTokens / context));
  const rowsPerMicro = Math.max(
    1,
    Math.min(rowsPerStep, Math.round((o.microBatchTokens ?? o.batchTokens) / context)),
  );
  const stepsPerEpoch = Array.from({ length: o.epochs }, (_, e) =>
    Math.ceil(planRows(examples, orderOf(e), context).rows.length / rowsPerStep),
  );
  const totalSteps = stepsPerEpoch.reduce((a, b) => a + b, 0);
  const lastStep = Math.min(totalSteps, o.maxSteps ?? totalSteps);
  const peak = o.lr ?? (isNew ? 1e-3 : 5e-5);
  const warmupSteps = o.warmup < 1 ? Math.round(o.warmup * totalSteps) : Math.round(o.warmup);

  const decoder = new TrainableDecoder(model);
  const opt = new AdamW(decoder.params, {
    lr: peak,
    weightDecay: o.weightDecay,
    // no decay on norms and biases, as HF Trainer and TRL do
    decay: (name) => !name.endsWith("norm.weight") && !name.endsWith(".bias"),
  });
  restore?.(opt);
  const metricsFile = path.join(o.out, "metrics.jsonl");
  if (resuming) keepMetricsUpTo(metricsFile, state.step);
  else writeFileSync(metricsFile, "");
  const metrics = new JsonlAppender(metricsFile);
  const progress = createProgress("train", lastStep - state.step, { quiet: o.quiet });

  let lastLoss = Number.NaN;
  let validationLoss: number | null = null;
  let trainTokens = 0;
  let truncated = 0;
  const elapsedBefore = state.elapsedSeconds;
  const runStart = Date.now();
  const elapsed = () => elapsedBefore + (Date.now() - runStart) / 1000;
  let stopped = false;
  try {
    for (let epoch = state.epoch; epoch < o.epochs && !stopped; epoch++) {
      const packed = packExamples(examples, orderOf(epoch), context, padId);
      truncated = Math.max(truncated, packed.truncated);
      for (let s = epoch === state.epoch ? state.stepInEpoch : 0; s < stepsPerEpoch[epoch]; s++) {
        if (state.step >= lastStep || hooks.shouldStop?.()) {
          stopped = true;
          break;
        }
        opt.lr = learningRate(state.step, totalSteps, peak, warmupSteps, o.minLrRatio);
        const from = s * rowsPerStep;
        const to = Math.min(packed.rows, from + rowsPerStep);
        const micro = [];
        for (let r = from; r < to; r += rowsPerMicro)
          micro.push(batchOf(packed, r, Math.min(to, r + rowsPerMicro)));
        const t0 = performance.now();
        const result = trainStep(decoder, opt, micro, o.maxGradNorm);
        const seconds = (performance.now() - t0) / 1000;
        let tokens = 0;
        for (const b of micro)
          for (let i = 0; i < b.segments!.length; i++) if (b.tokens[i] !== padId) tokens++;
        trainTokens += tokens;
        lastLoss = result.loss;
        state = { step: state.step + 1, epoch, stepInEpoch: s + 1, elapsedSeconds: elapsed() };
        metrics.write({
          step: state.step,
          epoch: epoch + (s + 1) / stepsPerEpoch[epoch],
          loss: round(result.loss),
          lr: opt.lr,
          grad_norm: round(result.gradNorm),
          tokens,
          tokens_per_s: Math.round(tokens / seconds),
          elapsed_s: Math.round(state.elapsedSeconds * 10) / 10,
        });
        progress.tick(1, { loss: result.loss.toFixed(3), "tok/s": Math.round(tokens / seconds) });
        if (o.checkpointEvery > 0 && state.step % o.checkpointEvery === 0)
          saveCheckpoint(checkpointDir, model, opt, state, tokenizerDir);
      }
      if (!stopped) {
        if (validation.length > 0) {
          validationLoss = evaluateLoss(decoder, validation, context, padId, rowsPerMicro);
          metrics.write({ step: state.step, epoch: epoch + 1, val_loss: round(validationLoss) });
        }
        state = { ...state, epoch: epoch + 1, stepInEpoch: 0, elapsedSeconds: elapsed() };
        saveCheckpoint(checkpointDir, model, opt, state, tokenizerDir);
      }
    }
    if (stopped && state.step > 0) saveCheckpoint(checkpointDir, model, opt, state, tokenizerDir);
  } finally {
    progress.stop();
    metrics.close();
  }
  saveModelFolder(o.out, model, { tokenizerFrom: tokenizerDir });
  const seconds = (Date.now() - started) / 1000;
  const summary: TrainSummary = {
    out: o.out,
    params: parameterCount(model),
    steps: state.step,
    epochs: o.epochs,
    trainExamples: examples.length,
    trainTokens,
    finalLoss: lastLoss,
    validationLoss,
    tokensPerSecond: Math.round(trainTokens / Math.max(1e-3, (Date.now() - runStart) / 1000)),
    seconds,
    truncated,
  };
  writeFileSync(path.join(o.out, "train.json"), `${JSON.stringify({ options: o, summary }, null, 2)}\n`);
  return summary;
}

/** Mean masked cross-entropy over a set of examples, packed in file order, no gradients. */
export function evaluateLoss(
  decoder: TrainableDecoder,
  examples: Example[],
  context: number,
  padId: number,
  rowsPerBatch: number,
): number {
  const packed = packExamples(
    examples,
    examples.map((_, i) => i),
    context,
    padId,
  );
  let sum = 0;
  let weight = 0;
  for (let r = 0; r < packed.rows; r += rowsPerBatch) {
    const batch = batchOf(packed, r, Math.min(packed.rows, r + rowsPerBatch));
    let w = 0;
    for (const x of batch.weights!) w += x;
    if (w === 0) continue;
    sum += decoder.loss(batch) * w;
    weight += w;
  }
  return weight > 0 ? sum / weight : Number.NaN;
}

/** A new student's tokenizer: byte-level BPE trained on the conversations it will learn from. */
async function trainTokenizerFor(o: ResolvedTrainOptions, vocabSize: number): Promise<string> {
  const texts: string[] = [];
  for (const file of [o.data, ...o.tokenizerCorpus]) {
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

function siblingValidation(data: string): string | undefined {
  const candidate = path.join(path.dirname(data), "validation.jsonl");
  // mix writes an empty one when the validation share rounds to no rows: nothing to validate on
  return candidate !== data && existsSync(candidate) && statSync(candidate).size > 0 ? candidate : undefined;
}

function checkVocabulary(examples: Example[], vocab: number, file: string): void {
  for (const e of examples) {
    for (const id of e.ids) {
      if (id >= vocab)
        throw new UserError(`token id ${id} is outside the model's vocabulary (${vocab}); wrong tokenizer?`, {
          file,
        });
    }
  }
}

/** After a resume, forget metrics of steps the checkpoint does not hold, so the curve has no repeats. */
function keepMetricsUpTo(file: string, step: number): void {
  if (!existsSync(file)) return;
  const kept = readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => {
      if (!line.trim()) return false;
      try {
        return JSON.parse(line).step <= step;
      } catch {
        return false; // a torn last line
      }
    });
  writeFileSync(file, kept.map((l) => `${l}\n`).join(""));
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
