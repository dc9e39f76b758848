import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type EvaluateSummary, evaluate, type ModelScore } from "../evaluate/evaluate.ts";
import { filter } from "../filter/filter.ts";
import { type GenerationRecord, generate } from "../generate/generate.ts";
import { mix } from "../mix/mix.ts";
import { report } from "../report/report.ts";
import { trainBpeTokenizer } from "../tokenizer/bpeTrainer.ts";
import { loadTokenizer, writeTokenizerFiles } from "../tokenizer/tokenizer.ts";
import { tokenizeConversation } from "../train/data.ts";
import { trainIsolated } from "../train/isolated.ts";
import { type TrainOptions, trainOptionsSchema } from "../train/options.ts";
import type { TrainSummary } from "../train/train.ts";
import { type RunLayout, runLayout } from "../util/runLayout.ts";
import { type KdSize, type KdSizeName, kdSizes, withSettings } from "./kdSizes.ts";
import { heldOutEquations, type StageRunner, stageTimer, trainEquations } from "./stages.ts";

/**
 * `distill demo --kd`: the teacher's probabilities against its samples alone, offline. A neural teacher
 * (`new:` preset) learns the built-in task from the built-in teacher's filtered traces; it then answers the
 * training prompts, its probabilities recorded (`generate --logprobs`), and its correct answers are kept.
 * A smaller student on the teacher's tokenizer learns from them three ways, at several budgets of
 * student tokens: (a) SFT on the samples, (b) top-K KD on the same samples (`--kd topk`), (c) on-policy,
 * SFT for half the budget, then on-policy distillation from the teacher for the other half. Everyone is
 * evaluated greedily on the same held-out equations; `kd.json` holds the table, `report.html` the charts.
 */
export interface KdOptions {
  out: string;
  size?: KdSizeName;
  seed?: number;
  quiet?: boolean;
  onStage?: (stage: string, detail: string) => void;
}

export type KdMethod = "sft" | "kd" | "on-policy";

export interface KdRow {
  method: KdMethod;
  model: string;
  /** The budget asked for, and the student tokens its training actually took (prompts included). */
  budget: number;
  tokens: number;
  accuracy: number;
  byBand: Record<string, number>;
  seconds: number;
}

export interface KdSummary {
  size: KdSize & { name: KdSizeName };
  teacher: { accuracy: number; byBand: Record<string, number>; kept: number; samples: number };
  rows: KdRow[];
  seconds: Record<string, number>;
}

interface KdRun {
  size: KdSize;
  seed: number;
  quiet: boolean;
  layout: RunLayout;
  trainSpec: string;
  heldOut: string;
  seconds: Record<string, number>;
  stage: StageRunner;
}

const budgetName = (tokens: number) => `${Math.round(tokens / 1000)}k`;

export async function kdExperiment(options: KdOptions): Promise<KdSummary> {
  const run = startRun(options);
  const started = Date.now();
  const { size, layout } = run;
  await run.stage("teacher data", `${size.prompts} equations × ${size.samplesPerPrompt}, filtered`, () =>
    teacherTraces(run),
  );
  await run.stage("train teacher", `new:${size.teacher}, ${size.teacherEpochs} epochs`, () =>
    trainTeacher(run),
  );
  const samples = await run.stage(
    "teacher samples",
    `top-${size.topK} log-probabilities, kept if correct`,
    () => teacherSamples(run),
  );
  const rows: KdRow[] = [];
  for (const budget of size.budgets) {
    for (const method of ["sft", "kd"] as const) {
      rows.push(
        await run.stage(`${method} ${budgetName(budget)}`, `student tokens ${budget}`, () =>
          trainByBudget(run, method, budget, samples.tokens),
        ),
      );
    }
  }
  for (const budget of size.onPolicyBudgets) {
    rows.push(
      await run.stage(
        `on-policy ${budgetName(budget)}`,
        `SFT ${budget / 2}, then on-policy ${budget / 2}`,
        () => trainOnPolicyByBudget(run, budget, samples.meanTokens),
      ),
    );
  }
  const teacher = await run.stage(
    "eval",
    `${size.heldOutPerBand} held-out equations per band, greedy`,
    async () => {
      const t = await evaluateModel(run, "teacher");
      for (const row of rows) Object.assign(row, scoreOf(await evaluateModel(run, row.model)));
      return t;
    },
  );
  const summary: KdSummary = {
    size: { ...size, name: options.size ?? "full" },
    teacher: { ...scoreOf(teacher), kept: samples.kept, samples: samples.total },
    rows,
    seconds: run.seconds,
  };
  writeScores(layout, teacher, rows);
  await run.stage("report", "report.html", () => report({ run: layout.run }));
  run.seconds.total = Math.round((Date.now() - started) / 100) / 10;
  writeFileSync(path.join(layout.run, "kd.json"), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

function startRun(options: KdOptions): KdRun {
  const size = kdSizes[options.size ?? "full"];
  const seed = options.seed ?? 1;
  const seconds: Record<string, number> = {};
  mkdirSync(options.out, { recursive: true });
  const bands = size.bands.join(",");
  return {
    size,
    seed,
    quiet: options.quiet ?? true,
    layout: runLayout(options.out),
    trainSpec: trainEquations(size.prompts, seed, bands),
    heldOut: heldOutEquations(size.heldOutPerBand, seed, size.bands),
    seconds,
    stage: stageTimer(seconds, options.onStage),
  };
}

/** The built-in teacher's traces, filtered and decontaminated: what the neural teacher learns from. */
async function teacherTraces(run: KdRun): Promise<void> {
  const { layout, size, seed, quiet } = run;
  await generate({
    prompts: run.trainSpec,
    teacher: "builtin:equations",
    samplesPerPrompt: size.samplesPerPrompt,
    temperature: 0.8,
    seed,
    concurrency: 64,
    out: layout.generate("traces"),
    quiet,
  });
  await filter({
    in: layout.generations("traces"),
    out: layout.filter("traces"),
    policy: "first-correct",
    decontaminate: [run.heldOut],
    quiet,
  });
  await mix({
    seed,
    validation: 0.05,
    quiet,
    source: [`traces=${layout.kept("traces")}`],
    out: layout.mix("teacher"),
  });
  const texts = readRecords<Row>(path.join(layout.mix("teacher"), "train.jsonl")).flatMap((r) =>
    r.messages.map((m) => m.content),
  );
  writeTokenizerFiles(layout.tokenizer, trainBpeTokenizer(texts, { vocabSize: size.vocab }));
}

/** The neural teacher; when it is (re)trained, samples of an earlier teacher are thrown away. */
async function trainTeacher(run: KdRun): Promise<void> {
  const { layout, size } = run;
  const { trained } = await trainOnce({
    ...common(run),
    data: path.join(layout.mix("teacher"), "train.jsonl"),
    init: withSettings(size.teacher, { vocab: size.vocab, context: size.context }),
    out: layout.model("teacher"),
    epochs: size.teacherEpochs,
    lr: size.teacherLr,
  });
  if (trained)
    for (const dir of [layout.generate("samples"), layout.filter("samples")])
      rmSync(dir, { recursive: true, force: true });
}

/**
 * `trainIsolated`, unless `out` already holds a model trained with exactly these options from inputs of
 * the same content (a re-run of the experiment continues where it stopped); anything else is trained
 * again, replacing what `out` held.
 */
async function trainOnce(options: TrainOptions): Promise<{ summary: TrainSummary; trained: boolean }> {
  const record = path.join(options.out, "train.json");
  const inputsFile = path.join(options.out, "kd-inputs.json");
  const inputs = inputsFingerprint(options);
  if (existsSync(record) && existsSync(inputsFile) && readJson(inputsFile) === inputs) {
    const done = readJson(record) as { options: unknown; summary: TrainSummary };
    const asked = { ...trainOptionsSchema.parse(options), overwrite: undefined };
    if (JSON.stringify({ ...(done.options as object), overwrite: undefined }) === JSON.stringify(asked))
      return { summary: done.summary, trained: false };
  }
  const summary = await trainIsolated({ ...options, overwrite: true });
  writeFileSync(inputsFile, `${JSON.stringify(inputs)}\n`);
  return { summary, trained: true };
}

/** A hash of what a training learns from: its rows, tokenizer, starting model, teacher and log-probabilities. */
export function inputsFingerprint(o: TrainOptions): string {
  const hash = createHash("sha256");
  for (const f of [o.data, o.tokenizer, o.init, o.teacher, ...(o.teacherLogprobs ?? [])]) {
    if (typeof f !== "string" || !existsSync(f)) continue;
    const files = statSync(f).isDirectory()
      ? ["train.json", "tokenizer.json", "logprobs.jsonl"]
          .map((n) => path.join(f, n))
          .filter((n) => existsSync(n))
      : [f];
    for (const file of files) hash.update(file).update(readFileSync(file));
  }
  return hash.digest("hex");
}

function common(run: KdRun): Partial<TrainOptions> {
  const { size, seed, quiet, layout } = run;
  return {
    context: size.context,
    batchTokens: size.batchTokens,
    seed,
    quiet,
    checkpointEvery: 0,
    tokenizer: layout.tokenizer,
  };
}

/**
 * The neural teacher answers every training prompt once at temperature 1 (its own distribution), with
 * its top-K; its correct answers (or, with `keep: "all"`, every answer) as they were written are the
 * students' rows. Returns how many, and their tokens.
 */
async function teacherSamples(
  run: KdRun,
): Promise<{ kept: number; total: number; tokens: number; meanTokens: number }> {
  const { layout, size, seed, quiet } = run;
  const generated = await generate({
    prompts: run.trainSpec,
    teacher: layout.model("teacher"),
    samplesPerPrompt: 1,
    temperature: 1,
    maxTokens: size.maxTokens,
    logprobs: size.topK,
    seed,
    concurrency: 32,
    out: layout.generate("samples"),
    quiet,
  });
  await filter({
    in: layout.generations("samples"),
    out: layout.filter("samples"),
    policy: "all-correct",
    decontaminate: [run.heldOut],
    quiet,
  });
  const source = size.keep === "all" ? layout.generations("samples") : layout.kept("samples");
  const rows = readRecords<GenerationRecord>(source).map((r) => ({
    messages: [
      { role: "user", content: r.prompt },
      { role: "assistant", content: r.completion },
    ],
    prompt_id: r.prompt_id,
  }));
  mkdirSync(layout.mix("students"), { recursive: true });
  writeFileSync(studentRows(layout), rows.map((r) => `${JSON.stringify(r)}\n`).join(""));
  const tokenizer = loadTokenizer(layout.tokenizer);
  const tokens = rows.reduce((sum, r) => sum + tokenizeConversation(r.messages, tokenizer).ids.length, 0);
  return {
    kept: rows.length,
    total: generated.candidates,
    tokens,
    meanTokens: tokens / Math.max(1, rows.length),
  };
}

/** The students' rows: the teacher's samples, as it wrote them (the side file's text exactly). */
function studentRows(layout: RunLayout): string {
  return path.join(layout.mix("students"), "train.jsonl");
}

/** SFT or top-K KD on the teacher's kept samples, for as many epochs as `budget` tokens of them make. */
async function trainByBudget(
  run: KdRun,
  method: "sft" | "kd",
  budget: number,
  datasetTokens: number,
): Promise<KdRow> {
  const { layout, size } = run;
  const model = `${method}_${budgetName(budget)}`;
  const { summary: s } = await trainOnce({
    ...common(run),
    data: studentRows(layout),
    init: studentInit(size),
    out: layout.model(model),
    epochs: Math.max(1, Math.round(budget / datasetTokens)),
    lr: size.studentLr,
    ...(method === "kd" ? { kd: "topk" as const, teacherLogprobs: [layout.generate("samples")] } : {}),
  });
  return {
    method,
    model,
    budget,
    tokens: s.trainTokens,
    accuracy: 0,
    byBand: {},
    seconds: s.seconds,
  };
}

/** On-policy at `budget`: the SFT student of half the budget, then on-policy for the other half. */
async function trainOnPolicyByBudget(run: KdRun, budget: number, meanTokens: number): Promise<KdRow> {
  const { layout, size } = run;
  const warm = `sft_${budgetName(budget / 2)}`;
  const warmTokens = (
    readJson(path.join(layout.model(warm), "train.json")) as { summary: { trainTokens: number } }
  ).summary.trainTokens;
  const model = `on-policy_${budgetName(budget)}`;
  const steps = Math.max(1, Math.round((budget - warmTokens) / (size.promptsPerStep * meanTokens)));
  const { summary: s } = await trainOnce({
    ...common(run),
    init: layout.model(warm),
    out: layout.model(model),
    onPolicy: true,
    teacher: layout.model("teacher"),
    prompts: run.trainSpec,
    promptsPerStep: size.promptsPerStep,
    maxTokens: size.maxTokens,
    kdTopK: size.topK,
    epochs: Math.max(1, Math.ceil(steps / Math.ceil(size.prompts / size.promptsPerStep))),
    maxSteps: steps,
    lr: size.onPolicyLr,
  });
  return {
    method: "on-policy",
    model,
    budget,
    tokens: warmTokens + s.trainTokens,
    accuracy: 0,
    byBand: {},
    seconds: s.seconds,
  };
}

function studentInit(size: KdSize): string {
  return withSettings(size.student, { vocab: size.vocab, context: size.context });
}

/** A model's answers on the held-out set, afresh: a re-run's model may have been retrained. */
async function evaluateModel(run: KdRun, model: string): Promise<EvaluateSummary> {
  rmSync(run.layout.eval(model), { recursive: true, force: true });
  return evaluate({
    model: run.layout.model(model),
    benchmark: run.heldOut,
    out: run.layout.eval(model),
    temperature: 0,
    maxTokens: run.size.maxTokens,
    concurrency: 64,
    quiet: run.quiet,
  });
}

function scoreOf(s: EvaluateSummary): { accuracy: number; byBand: Record<string, number> } {
  const byBand = Object.fromEntries(
    Object.entries(s.by_band ?? {}).map(([b, m]) => [b, (m as ModelScore).accuracy]),
  );
  return { accuracy: s.accuracy, byBand };
}

/** summary.json's `models`, so `distill report` tabulates and charts every student beside the teacher. */
function writeScores(layout: RunLayout, teacher: EvaluateSummary, rows: KdRow[]): void {
  const strip = ({ model: _m, benchmark: _b, seconds: _s, ...score }: EvaluateSummary) => score;
  const models: Record<string, unknown> = { teacher: strip(teacher) };
  for (const row of rows) models[row.model] = readJson(layout.evalSummary(row.model));
  writeFileSync(layout.summary, `${JSON.stringify({ models }, null, 2)}\n`);
}

type Row = { messages: { role: string; content: string }[] };

function readRecords<T>(file: string): T[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line));
}

function readJson(file: string): unknown {
  return JSON.parse(readFileSync(file, "utf8"));
}
