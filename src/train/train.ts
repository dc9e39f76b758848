import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { AdamW } from "../engine/optim.ts";
import { trainStep } from "../engine/step.ts";
import { modelDims } from "../model/config.ts";
import { saveModelFolder } from "../model/hfFolder.ts";
import { type Model, parameterCount } from "../model/model.ts";
import { type PromptRecord, promptRecordOf, writePromptRecord } from "../model/promptRecord.ts";
import { TrainableDecoder } from "../model/trainable.ts";
import { loadTokenizer, type TextTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import { JsonlAppender } from "../util/jsonl.ts";
import { createProgress } from "../util/progress.ts";
import { hashSeed, seededRandom, shuffle } from "../util/random.ts";
import { hasCheckpoint, saveCheckpoint, type TrainerState } from "./checkpoint.ts";
import { type Example, loadExamples } from "./data.ts";
import { saveAdapters } from "./lora.ts";
import { fittingMicroBatchTokens } from "./memory.ts";
import { keepMetricsUpTo, round } from "./metrics.ts";
import { type OnPolicySummary, trainOnPolicy } from "./onPolicy.ts";
import {
  checkpointedLayers,
  type ResolvedTrainOptions,
  type TrainOptions,
  trainOptionsSchema,
} from "./options.ts";
import { batchOf, packExamples, planRows } from "./pack.ts";
import { learningRate } from "./schedule.ts";
import { declaredLayers, initStudent, resumeStudent, type Student, studentOptimizer } from "./student.ts";
import { attachTeacherLogprobs, percent, type TeacherCoverage } from "./teacherLogprobs.ts";

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
  /** With `--kd topk`: how much of the data the teacher's distributions covered. */
  teacher?: TeacherCoverage;
  /** With `--on-policy`: the teacher's calls and how it rated the student's tokens. */
  onPolicy?: OnPolicySummary;
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
  // a layer count beyond the model's is refused before anything is written
  const declared = typeof o.checkpointActivations === "number" ? declaredLayers(o.init) : undefined;
  if (declared !== undefined) checkpointedLayers(o, declared);
  mkdirSync(o.out, { recursive: true });
  const checkpointDir = path.join(o.out, "checkpoint");
  const resuming = o.resume && hasCheckpoint(checkpointDir);
  const student = resuming ? resumeStudent(checkpointDir, o) : await initStudent(o);
  const tokenizer = loadTokenizer(student.tokenizerDir);
  const context = Math.min(o.context, student.model.config.max_position_embeddings);
  const padId = tokenizer.padTokenId ?? tokenizer.tokenToId("<|endoftext|>") ?? 0;
  if (o.onPolicy) {
    const r = await trainOnPolicy(o, { student, tokenizer, context, padId, resuming }, hooks);
    const summary: TrainSummary = {
      out: o.out,
      params: r.params,
      steps: r.steps,
      epochs: o.epochs,
      trainExamples: r.onPolicy.teacherCalls,
      trainTokens: r.tokens,
      finalLoss: r.lastLoss,
      validationLoss: null,
      tokensPerSecond: Math.round(r.tokens / Math.max(1e-3, r.runSeconds)),
      seconds: (Date.now() - started) / 1000,
      truncated: 0,
      onPolicy: r.onPolicy,
    };
    writeFileSync(path.join(o.out, "train.json"), `${JSON.stringify({ options: o, summary }, null, 2)}\n`);
    return summary;
  }
  const { examples, validation, prompting, teacher } = await loadTrainingData(o, tokenizer, student.model);
  const recomputed = checkpointedLayers(o, student.model.config.num_hidden_layers);
  const plan = planSteps(o, examples, context, fittingTokens(o, student, context, recomputed));
  const decoder = new TrainableDecoder(student.model, student.lora?.adapters);
  decoder.checkpointedLayers = recomputed;
  if (teacher) decoder.distill = { alpha: o.kdAlpha, temperature: o.kdTemperature, divergence: "forward" };
  const opt = studentOptimizer(decoder.params, o, plan.peak);
  student.restore?.(opt);
  const loop: TrainLoop = {
    o,
    plan,
    decoder,
    opt,
    examples,
    validation,
    context,
    padId,
    teacherK: teacher?.k ?? 0,
    checkpointDir,
    ...student,
  };
  const result = await runEpochs(loop, resuming, hooks);
  if (student.lora) saveAdapters(o.out, student.lora, student.tokenizerDir);
  else saveModelFolder(o.out, student.model, { tokenizerFrom: student.tokenizerDir });
  // eval, serve and export prompt the student as its training rows did
  writePromptRecord(o.out, prompting);
  const summary: TrainSummary = {
    out: o.out,
    params: parameterCount(student.model),
    steps: result.state.step,
    epochs: o.epochs,
    trainExamples: examples.length,
    trainTokens: result.trainTokens,
    finalLoss: result.lastLoss,
    validationLoss: result.validationLoss,
    tokensPerSecond: Math.round(result.trainTokens / Math.max(1e-3, result.runSeconds)),
    seconds: (Date.now() - started) / 1000,
    truncated: result.truncated,
    ...(teacher ? { teacher } : {}),
  };
  writeFileSync(path.join(o.out, "train.json"), `${JSON.stringify({ options: o, summary }, null, 2)}\n`);
  return summary;
}

async function loadTrainingData(
  o: ResolvedTrainOptions,
  tokenizer: TextTokenizer,
  model: Model,
): Promise<{
  examples: Example[];
  validation: Example[];
  prompting: PromptRecord;
  teacher?: TeacherCoverage;
}> {
  const data = o.data!; // the options require it unless --on-policy, which loads its own
  const { examples, rows } = await loadExamples(data, tokenizer);
  const validationFile = o.validation ?? siblingValidation(data);
  const validation = validationFile ? (await loadExamples(validationFile, tokenizer)).examples : [];
  checkVocabulary([...examples, ...validation], model.config.vocab_size, data);
  const prompting = promptRecordOf(rows);
  if (!o.kd) return { examples, validation, prompting };
  const files = o.teacherLogprobs.map((f) =>
    existsSync(f) && statSync(f).isDirectory() ? path.join(f, "logprobs.jsonl") : f,
  );
  const teacher = await attachTeacherLogprobs(files, rows, examples, tokenizer);
  if (!o.quiet)
    process.stderr.write(
      `train: the teacher's top-${teacher.k} for ${percent(teacher.tokens, teacher.totalTokens)} of ${teacher.totalTokens.toLocaleString("en-US")} assistant tokens (${teacher.rows} of ${teacher.totalRows} rows matched); the rest learn from the cross-entropy alone\n`,
    );
  return { examples, validation, prompting, teacher };
}

/** Rows per step, steps per epoch (packing is deterministic per seed and epoch), the schedule's figures. */
interface StepPlan {
  orderOf(epoch: number): number[];
  rowsPerStep: number;
  rowsPerMicro: number;
  stepsPerEpoch: number[];
  totalSteps: number;
  lastStep: number;
  peak: number;
  warmupSteps: number;
}

/**
 * With --micro-batch-tokens unset, the tokens a forward/backward pass may take on this machine
 * (memory.ts); said on stderr when that splits the step.
 */
function fittingTokens(
  o: ResolvedTrainOptions,
  student: Student,
  context: number,
  checkpointedLayers: number,
): number | undefined {
  if (o.microBatchTokens !== undefined) return undefined;
  const parameters = parameterCount(student.model);
  let trainable = parameters;
  if (student.lora) {
    trainable = 0;
    for (const { A, B } of student.lora.adapters.pairs.values()) trainable += A.size + B.size;
  }
  const fit = fittingMicroBatchTokens(modelDims(student.model.config), {
    parameters,
    trainable,
    momentBytes: o.optimizerState === "bfloat16" ? 2 : 4,
    checkpointedLayers,
    context,
  });
  if (fit < o.batchTokens && !o.quiet)
    process.stderr.write(
      `train: ${Math.round(o.batchTokens / context) * context}-token steps in micro-batches of ${fit} tokens, so the activations fit in memory (--micro-batch-tokens sets them)\n`,
    );
  return fit;
}

function planSteps(
  o: ResolvedTrainOptions,
  examples: Example[],
  context: number,
  fitting?: number,
): StepPlan {
  const orderOf = (epoch: number) =>
    shuffle(
      seededRandom(hashSeed("train-order", o.seed, epoch)),
      examples.map((_, i) => i),
    );
  const rowsPerStep = Math.max(1, Math.round(o.batchTokens / context));
  const rowsPerMicro = Math.max(
    1,
    Math.min(rowsPerStep, Math.round((o.microBatchTokens ?? fitting ?? o.batchTokens) / context)),
  );
  const stepsPerEpoch = Array.from({ length: o.epochs }, (_, e) =>
    Math.ceil(planRows(examples, orderOf(e), context).rows.length / rowsPerStep),
  );
  const totalSteps = stepsPerEpoch.reduce((a, b) => a + b, 0);
  return {
    orderOf,
    rowsPerStep,
    rowsPerMicro,
    stepsPerEpoch,
    totalSteps,
    lastStep: Math.min(totalSteps, o.maxSteps ?? totalSteps),
    peak: o.lr ?? (o.init.startsWith("new:") ? 1e-3 : 5e-5),
    warmupSteps: o.warmup < 1 ? Math.round(o.warmup * totalSteps) : Math.round(o.warmup),
  };
}

/** Everything the training loop reads; `state` is where it stands and moves on with each step. */
interface TrainLoop extends Student {
  o: ResolvedTrainOptions;
  plan: StepPlan;
  decoder: TrainableDecoder;
  opt: AdamW;
  examples: Example[];
  validation: Example[];
  context: number;
  padId: number;
  /** Alternatives a position of the teacher's distributions (0 without --kd). */
  teacherK: number;
  checkpointDir: string;
}

interface LoopResult {
  state: TrainerState;
  lastLoss: number;
  validationLoss: number | null;
  trainTokens: number;
  truncated: number;
  /** Seconds this process trained (not counting earlier runs resumed from). */
  runSeconds: number;
}

/**
 * The training loop: each epoch packs the shuffled examples, takes its steps (learning rate, forward,
 * backward, clip, update, log), then the validation loss and a checkpoint. Stops early at `maxSteps`
 * or when `shouldStop` says so, leaving a checkpoint to resume from.
 */
async function runEpochs(
  loop: TrainLoop,
  resuming: boolean,
  hooks: { shouldStop?: () => boolean },
): Promise<LoopResult> {
  const { o, plan, model, opt, checkpointDir, tokenizerDir } = loop;
  const metricsFile = path.join(o.out, "metrics.jsonl");
  if (resuming) keepMetricsUpTo(metricsFile, loop.state.step);
  else writeFileSync(metricsFile, "");
  const metrics = new JsonlAppender(metricsFile);
  const progress = createProgress("train", plan.lastStep - loop.state.step, { quiet: o.quiet });
  const result: LoopResult = {
    state: loop.state,
    lastLoss: Number.NaN,
    validationLoss: null,
    trainTokens: 0,
    truncated: 0,
    runSeconds: 0,
  };
  const elapsedBefore = loop.state.elapsedSeconds;
  const runStart = Date.now();
  const elapsed = () => elapsedBefore + (Date.now() - runStart) / 1000;
  let stopped = false;
  try {
    for (let epoch = loop.state.epoch; epoch < o.epochs && !stopped; epoch++) {
      const packed = packExamples(
        loop.examples,
        plan.orderOf(epoch),
        loop.context,
        loop.padId,
        loop.teacherK,
      );
      result.truncated = Math.max(result.truncated, packed.truncated);
      const firstStep = epoch === result.state.epoch ? result.state.stepInEpoch : 0;
      for (let s = firstStep; s < plan.stepsPerEpoch[epoch]; s++) {
        if (result.state.step >= plan.lastStep || hooks.shouldStop?.()) {
          stopped = true;
          break;
        }
        const { loss, tokens, metricRow } = takeStep(loop, packed, s, result.state.step);
        result.trainTokens += tokens;
        result.lastLoss = loss;
        result.state = { step: result.state.step + 1, epoch, stepInEpoch: s + 1, elapsedSeconds: elapsed() };
        metrics.write({
          step: result.state.step,
          epoch: epoch + (s + 1) / plan.stepsPerEpoch[epoch],
          ...metricRow,
          elapsed_s: Math.round(result.state.elapsedSeconds * 10) / 10,
        });
        progress.tick(1, { loss: loss.toFixed(3), "tok/s": metricRow.tokens_per_s });
        if (o.checkpointEvery > 0 && result.state.step % o.checkpointEvery === 0)
          saveCheckpoint(checkpointDir, model, opt, result.state, tokenizerDir, loop.lora);
      }
      if (stopped) break;
      if (loop.validation.length > 0) {
        result.validationLoss = evaluateLoss(
          loop.decoder,
          loop.validation,
          loop.context,
          loop.padId,
          plan.rowsPerMicro,
        );
        metrics.write({ step: result.state.step, epoch: epoch + 1, val_loss: round(result.validationLoss) });
      }
      result.state = { ...result.state, epoch: epoch + 1, stepInEpoch: 0, elapsedSeconds: elapsed() };
      saveCheckpoint(checkpointDir, model, opt, result.state, tokenizerDir, loop.lora);
    }
    if (stopped && result.state.step > 0)
      saveCheckpoint(checkpointDir, model, opt, result.state, tokenizerDir, loop.lora);
  } finally {
    progress.stop();
    metrics.close();
  }
  result.runSeconds = (Date.now() - runStart) / 1000;
  return result;
}

/** One optimizer step on rows [s·rowsPerStep, (s+1)·rowsPerStep) of the packed epoch, in micro-batches. */
function takeStep(
  loop: TrainLoop,
  packed: ReturnType<typeof packExamples>,
  s: number,
  step: number,
): { loss: number; tokens: number; metricRow: Record<string, number> } {
  const { o, plan, opt, padId } = loop;
  opt.lr = learningRate(step, plan.totalSteps, plan.peak, plan.warmupSteps, o.minLrRatio);
  const from = s * plan.rowsPerStep;
  const to = Math.min(packed.rows, from + plan.rowsPerStep);
  const micro = [];
  for (let r = from; r < to; r += plan.rowsPerMicro)
    micro.push(batchOf(packed, r, Math.min(to, r + plan.rowsPerMicro)));
  const t0 = performance.now();
  loop.lora?.adapters.reseed(step); // the dropout masks a resumed run draws alike
  const result = trainStep(loop.decoder, opt, micro, o.maxGradNorm);
  const seconds = (performance.now() - t0) / 1000;
  let tokens = 0;
  for (const b of micro) for (let i = 0; i < b.segments!.length; i++) if (b.tokens[i] !== padId) tokens++;
  const metricRow = {
    loss: round(result.loss),
    lr: opt.lr,
    grad_norm: round(result.gradNorm),
    tokens,
    tokens_per_s: Math.round(tokens / seconds),
  };
  return { loss: result.loss, tokens, metricRow };
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
