import { writeFileSync } from "node:fs";
import path from "node:path";
import type { AdamW } from "../engine/optim.ts";
import { trainStep } from "../engine/step.ts";
import { tokenRef } from "../generate/logprobsFile.ts";
import { Decoder } from "../model/forward.ts";
import { generateBatch } from "../model/generate.ts";
import { saveModelFolder } from "../model/hfFolder.ts";
import { parameterCount } from "../model/model.ts";
import { readPromptRecord, writePromptRecord } from "../model/promptRecord.ts";
import { loadStopTokens } from "../model/stopTokens.ts";
import { TrainableDecoder } from "../model/trainable.ts";
import { loadPrompts, type PromptRecord } from "../tasks/sources.ts";
import { createTeacher } from "../teachers/registry.ts";
import type { ScoredToken, Teacher } from "../teachers/types.ts";
import { type ChatMessage, renderTeacherMessages } from "../template/render.ts";
import type { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import { JsonlAppender } from "../util/jsonl.ts";
import { createProgress } from "../util/progress.ts";
import { hashSeed, seededRandom, shuffle } from "../util/random.ts";
import { saveCheckpoint } from "./checkpoint.ts";
import { type Example, loadExamples } from "./data.ts";
import { keepMetricsUpTo, round } from "./metrics.ts";
import type { ResolvedTrainOptions } from "./options.ts";
import { batchOf, type PackedRows, packExamples } from "./pack.ts";
import { learningRate } from "./schedule.ts";
import { type Student, studentOptimizer } from "./student.ts";
import { type ExampleTeacher, fillAlternatives, StudentVocabulary } from "./teacherLogprobs.ts";

/** What on-policy training adds to the summary: how much the teacher was asked, and how it rated the student. */
export interface OnPolicySummary {
  teacherCalls: number;
  /** Student tokens the teacher scored. */
  teacherTokens: number;
  /** The teacher's mean log-probability of the student's tokens, in the first and the last on-policy step. */
  teacherLogprobFirst: number | null;
  teacherLogprobLast: number | null;
}

/** The run's fixed parts: the student and its tokenizer, the teacher, the prompts and how they are written. */
interface OnPolicyRun {
  o: ResolvedTrainOptions;
  student: Student;
  tokenizer: TextTokenizer;
  teacher: Teacher;
  prompts: PromptRecord[];
  /** Each prompt as the student's token ids, chat template and generation prompt included. */
  promptIds: number[][];
  stopTokens: number[];
  vocab: StudentVocabulary;
  context: number;
  padId: number;
  /** The supervised steps' rows, packed once (only when onPolicyShare < 1). */
  supervised?: PackedRows;
  totalSteps: number;
}

/**
 * `distill train --on-policy`: on-policy distillation (GKD, Agarwal et al. 2024, with the reverse KL).
 * Each step the student answers `promptsPerStep` prompts with its current weights, the teacher scores
 * every one of those tokens (`Teacher.score` on the student's own token ids, top-`kdTopK`), and the
 * student minimises the reverse KL to the teacher's top-K (and tail) at each of its tokens — its own
 * mistakes are where it learns. With `onPolicyShare` λ < 1, a share 1 − λ of the steps are supervised steps
 * on `data` instead. `epochs` passes over the prompts make the schedule; `maxSteps` stops early. Resumable
 * exactly: the prompts and sampling seeds of step s depend only on the seed and s.
 */
export async function trainOnPolicy(
  o: ResolvedTrainOptions,
  setup: { student: Student; tokenizer: TextTokenizer; context: number; padId: number; resuming: boolean },
  hooks: { shouldStop?: () => boolean } = {},
): Promise<{
  params: number;
  steps: number;
  tokens: number;
  lastLoss: number;
  runSeconds: number;
  onPolicy: OnPolicySummary;
}> {
  const run = await openRun(o, setup);
  try {
    const decoder = new TrainableDecoder(setup.student.model);
    decoder.distill = { alpha: 0, temperature: o.kdTemperature, divergence: "reverse" };
    const opt = studentOptimizer(decoder.params, o, o.lr ?? 5e-5);
    setup.student.restore?.(opt);
    const result = await runSteps(run, decoder, opt, setup.resuming, hooks);
    saveModelFolder(o.out, setup.student.model, { tokenizerFrom: setup.student.tokenizerDir });
    writePromptRecord(o.out, readPromptRecord(o.init) ?? { instruction: "none" });
    return { params: parameterCount(setup.student.model), ...result };
  } finally {
    await run.teacher.close?.();
  }
}

async function openRun(
  o: ResolvedTrainOptions,
  setup: { student: Student; tokenizer: TextTokenizer; context: number; padId: number },
): Promise<OnPolicyRun> {
  const { student, tokenizer, context, padId } = setup;
  const prompts = await loadPrompts(o.prompts!, o);
  if (prompts.length === 0) throw new UserError("holds no prompts", { field: "prompts" });
  const instruction = readPromptRecord(o.init)?.instruction ?? "none";
  const promptIds = prompts.map((p) => {
    const messages: ChatMessage[] =
      instruction === "template"
        ? renderTeacherMessages(p.prompt)
        : [{ role: "user", content: p.prompt.trim() }];
    const chat = messages.map((m) => ({ ...m }));
    return tokenizer.encode(tokenizer.applyChatTemplate(chat, { addGenerationPrompt: true }));
  });
  const teacher = createTeacher(o.teacher!, { sequences: o.promptsPerStep });
  if (!teacher.score) {
    await teacher.close?.();
    throw new UserError(
      `the teacher ${teacher.id} cannot score the student's tokens: give a model folder, or openai:<model>@<url> of a server that scores (/v1/completions with echo: vLLM, SGLang, distill serve)`,
      { field: "teacher" },
    );
  }
  const supervised = o.onPolicyShare < 1 ? await packSupervised(o, tokenizer, context, padId) : undefined;
  return {
    o,
    student,
    tokenizer,
    teacher,
    prompts,
    promptIds,
    stopTokens: loadStopTokens(student.tokenizerDir, student.model.config, tokenizer),
    vocab: new StudentVocabulary(tokenizer),
    context,
    padId,
    ...(supervised ? { supervised } : {}),
    totalSteps: o.epochs * Math.ceil(prompts.length / o.promptsPerStep),
  };
}

async function packSupervised(
  o: ResolvedTrainOptions,
  tokenizer: TextTokenizer,
  context: number,
  padId: number,
) {
  const { examples } = await loadExamples(o.data!, tokenizer);
  const order = shuffle(
    seededRandom(hashSeed("on-policy-supervised", o.seed)),
    examples.map((_, i) => i),
  );
  return packExamples(examples, order, context, padId);
}

/** Whether step s is a supervised one: a share 1 − λ of the steps, spread evenly. */
function isSupervised(step: number, share: number): boolean {
  const supervised = 1 - share;
  return Math.floor((step + 1) * supervised) > Math.floor(step * supervised);
}

async function runSteps(
  run: OnPolicyRun,
  decoder: TrainableDecoder,
  opt: AdamW,
  resuming: boolean,
  hooks: { shouldStop?: () => boolean },
) {
  const { o, student } = run;
  const metricsFile = path.join(o.out, "metrics.jsonl");
  let state = student.state;
  if (resuming) keepMetricsUpTo(metricsFile, state.step);
  else writeFileSync(metricsFile, "");
  const metrics = new JsonlAppender(metricsFile);
  const lastStep = Math.min(run.totalSteps, o.maxSteps ?? run.totalSteps);
  const progress = createProgress("train", lastStep - state.step, { quiet: o.quiet });
  const totals: OnPolicySummary = {
    teacherCalls: 0,
    teacherTokens: 0,
    teacherLogprobFirst: null,
    teacherLogprobLast: null,
  };
  const elapsedBefore = state.elapsedSeconds;
  const runStart = Date.now();
  let tokens = 0;
  let lastLoss = Number.NaN;
  try {
    while (state.step < lastStep && !hooks.shouldStop?.()) {
      const step = state.step;
      opt.lr = learningRate(step, run.totalSteps, o.lr ?? 5e-5, warmupSteps(o, run.totalSteps), o.minLrRatio);
      const row = isSupervised(step, o.onPolicyShare)
        ? supervisedStep(run, decoder, opt, step)
        : await onPolicyStep(run, decoder, opt, step, totals);
      tokens += row.tokens;
      lastLoss = row.loss;
      const elapsed = elapsedBefore + (Date.now() - runStart) / 1000;
      state = { step: step + 1, epoch: 0, stepInEpoch: step + 1, elapsedSeconds: elapsed };
      metrics.write({ step: step + 1, ...row, lr: opt.lr, elapsed_s: Math.round(elapsed * 10) / 10 });
      progress.tick(1, { loss: row.loss.toFixed(3) });
      if (o.checkpointEvery > 0 && state.step % o.checkpointEvery === 0)
        saveCheckpoint(path.join(o.out, "checkpoint"), student.model, opt, state, student.tokenizerDir);
    }
    if (state.step > 0)
      saveCheckpoint(path.join(o.out, "checkpoint"), student.model, opt, state, student.tokenizerDir);
  } finally {
    progress.stop();
    metrics.close();
  }
  return {
    steps: state.step,
    tokens,
    lastLoss,
    runSeconds: (Date.now() - runStart) / 1000,
    onPolicy: totals,
  };
}

function warmupSteps(o: ResolvedTrainOptions, total: number): number {
  return o.warmup < 1 ? Math.round(o.warmup * total) : Math.round(o.warmup);
}

/** One supervised step: `batchTokens` worth of the packed rows, taken in turn. */
function supervisedStep(run: OnPolicyRun, decoder: TrainableDecoder, opt: AdamW, step: number) {
  const packed = run.supervised!;
  const rows = Math.max(1, Math.min(packed.rows, Math.round(run.o.batchTokens / run.context)));
  const from = (step * rows) % packed.rows;
  const to = Math.min(packed.rows, from + rows);
  const result = trainStep(decoder, opt, [batchOf(packed, from, to)], run.o.maxGradNorm);
  return {
    kind: "supervised",
    loss: round(result.loss),
    grad_norm: round(result.gradNorm),
    tokens: result.targets,
  };
}

/** The prompts of step s: `promptsPerStep` in a shuffled order of the whole set, a new order each pass. */
function promptsOf(run: OnPolicyRun, step: number): number[] {
  const n = run.prompts.length;
  const chosen: number[] = [];
  for (let i = 0; i < run.o.promptsPerStep; i++) {
    const at = step * run.o.promptsPerStep + i;
    const order = shuffle(
      seededRandom(hashSeed("on-policy-order", run.o.seed, Math.floor(at / n))),
      run.prompts.map((_, j) => j),
    );
    chosen.push(order[at % n]!);
  }
  return chosen;
}

/** One on-policy step: the student writes, the teacher scores, the reverse KL on the student's tokens. */
async function onPolicyStep(
  run: OnPolicyRun,
  decoder: TrainableDecoder,
  opt: AdamW,
  step: number,
  totals: OnPolicySummary,
) {
  const { o } = run;
  const chosen = promptsOf(run, step);
  const t0 = performance.now();
  const prompts = chosen.map((i) => run.promptIds[i]!);
  const samples = generateBatch(new Decoder(run.student.model), prompts, {
    maxTokens: Math.max(1, Math.min(o.maxTokens, run.context - Math.max(...prompts.map((p) => p.length)))),
    temperature: o.temperature,
    seeds: chosen.map((_, i) => hashSeed("on-policy-sample", o.seed, step, i)),
    stopTokens: run.stopTokens,
    batchSize: prompts.length,
  });
  const t1 = performance.now();
  const sequences = samples.map((s, i) => [...prompts[i]!, ...s.tokens]);
  const scored = await Promise.all(sequences.map((ids) => run.teacher.score!(ids, o.kdTopK)));
  const t2 = performance.now();
  const examples = sequences.map((ids, i) => taughtExample(ids, prompts[i]!.length, scored[i]!, run));
  const written = samples.reduce((sum, s) => sum + s.tokens.length, 0);
  const teacherLogprob = meanLogprob(scored, prompts);
  totals.teacherCalls += sequences.length;
  totals.teacherTokens += written;
  totals.teacherLogprobFirst ??= teacherLogprob;
  totals.teacherLogprobLast = teacherLogprob;
  const packed = packExamples(
    examples,
    examples.map((_, i) => i),
    run.context,
    run.padId,
    Math.max(1, o.kdTopK),
  );
  const result = trainStep(decoder, opt, [batchOf(packed, 0, packed.rows)], o.maxGradNorm);
  const t3 = performance.now();
  return {
    kind: "on-policy",
    loss: round(result.loss),
    grad_norm: round(result.gradNorm),
    // what the student's forward took, prompts included, as a supervised step counts its tokens
    tokens: packed.realTokens,
    teacher_calls: sequences.length,
    teacher_tokens: written,
    teacher_logprob: round(teacherLogprob),
    sample_s: round((t1 - t0) / 1000),
    score_s: round((t2 - t1) / 1000),
    train_s: round((t3 - t2) / 1000),
  };
}

/**
 * A sampled sequence as a training example whose loss is on the student's own tokens only, each with
 * the teacher's distribution at it: position j holds what the teacher gave token j, given tokens < j.
 */
function taughtExample(
  ids: number[],
  promptLength: number,
  scored: ScoredToken[],
  run: OnPolicyRun,
): Example {
  if (scored.length !== ids.length)
    throw new UserError(
      `the teacher ${run.teacher.id} scored ${scored.length} tokens of a ${ids.length}-token sequence: teacher and student must share a tokenizer`,
      { field: "teacher" },
    );
  const k = Math.max(1, run.o.kdTopK);
  const teacher: ExampleTeacher = {
    ids: new Int32Array(ids.length * k).fill(-1),
    probs: new Float32Array(ids.length * k),
    has: new Uint8Array(ids.length),
  };
  const mask = new Uint8Array(ids.length);
  for (let j = promptLength; j < ids.length; j++) {
    const entry = scored[j]!;
    if (!("top_logprobs" in entry)) continue;
    const alternatives = entry.top_logprobs;
    fillAlternatives(
      teacher,
      j,
      k,
      alternatives.map(tokenRef),
      alternatives.map((a) => a.logprob),
      run.vocab,
    );
    mask[j] = 1;
  }
  return { ids: Int32Array.from(ids), mask, teacher };
}

/** The teacher's mean log-probability of the tokens the student wrote. */
function meanLogprob(scored: ScoredToken[][], prompts: number[][]): number {
  let sum = 0;
  let n = 0;
  for (const [i, entries] of scored.entries()) {
    for (let j = prompts[i]!.length; j < entries.length; j++) {
      const lp = entries[j]!.logprob;
      if (lp === null || !Number.isFinite(lp)) continue;
      sum += lp;
      n++;
    }
  }
  return n > 0 ? sum / n : Number.NaN;
}
