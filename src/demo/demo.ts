import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type EvaluateSummary, evaluate, type ModelScore } from "../evaluate/evaluate.ts";
import { type Funnel, filter } from "../filter/filter.ts";
import { type GenerationRecord, generate } from "../generate/generate.ts";
import { mix } from "../mix/mix.ts";
import { report } from "../report/report.ts";
import { formatCompletion } from "../template/render.ts";
import { trainBpeTokenizer } from "../tokenizer/bpeTrainer.ts";
import { writeTokenizerFiles } from "../tokenizer/tokenizer.ts";
import { trainIsolated } from "../train/isolated.ts";
import { hashSeed, seededRandom, shuffle } from "../util/random.ts";
import { generalSet, type RunLayout, runLayout } from "../util/runLayout.ts";
import { type DemoSize, type DemoSizeName, demoSizes } from "./sizes.ts";
import { heldOutEquations, type StageRunner, stageTimer, trainEquations } from "./stages.ts";

export interface DemoOptions {
  out: string;
  quick?: boolean;
  /** Overrides `quick`: `smoke` runs every stage on tiny sizes, for tests. */
  size?: DemoSizeName;
  seed?: number;
  quiet?: boolean;
  /** Called when a stage starts, for the terminal. */
  onStage?: (stage: string, detail: string) => void;
}

const modelNames = ["teacher", "base", "distilled", "distilled_unfiltered"] as const;
type ModelName = (typeof modelNames)[number];

export interface DemoSummary {
  models: Record<ModelName, ModelScore & { by_band: Record<string, ModelScore> }>;
  funnel: Record<string, number>;
  seconds: Record<string, number>;
  size: DemoSize & { name: DemoSizeName };
  example: {
    prompt: string;
    answers: Record<ModelName, { completion: string; correct: boolean | null }>;
  } | null;
}

type Row = { messages: { role: string; content: string }[]; source: string; prompt_id: string };

/** What every step of one demo run shares: its size, seed, folders, prompt sets and stage timer. */
interface DemoRun {
  name: DemoSizeName;
  size: DemoSize;
  seed: number;
  quiet: boolean;
  layout: RunLayout;
  /** Prompt sources: training equations, held-out equations (never trained on), general prompts. */
  trainSpec: string;
  heldOut: string;
  generalSpec: string;
  started: number;
  seconds: Record<string, number>;
  /** Runs one stage, telling `onStage` when it starts and recording its seconds. */
  stage: StageRunner;
}

/** The demo's reasoning data; the general data is `generalSet`. */
const equationSet = "equations";
const students = ["base", "distilled", "distilled_unfiltered"] as const;

/**
 * `distill demo`: the whole distillation, offline, on the built-in equation task —
 * generate (several candidates a prompt at temperature > 0) → filter + rejection sampling, with the
 * held-out set decontaminated → mix reasoning and general data → train the student: first `base` on
 * answers only (the "before"), then `distilled` on the filtered traces and `distilled_unfiltered` on
 * raw candidates, both from `base` → evaluate all of them and the teacher on held-out equations.
 * The run folder has the layout of src/util/runLayout.ts.
 */
export async function demo(options: DemoOptions): Promise<DemoSummary> {
  const run = startRun(options);
  const { size } = run;
  await run.stage(
    "generate",
    `${size.prompts} equations × ${size.samplesPerPrompt} + ${size.generalPrompts} general, T=${size.temperature}`,
    () => generateCandidates(run),
  );
  const funnel = await run.stage(
    "filter",
    "template, correctness, readability, rejection sampling, dedup, decontamination",
    () => filterCandidates(run),
  );
  const rows = await run.stage(
    "mix",
    `reasoning + general at ${1 - size.generalShare}/${size.generalShare}`,
    () => mixTrainingSets(run),
  );
  writeSharedTokenizer(run);
  await trainStudents(run, rows);
  const models = await run.stage("eval", `${size.heldOutPerBand} held-out equations per band, greedy`, () =>
    evaluateModels(run),
  );
  return writeSummary(run, models, funnel);
}

function startRun(options: DemoOptions): DemoRun {
  const name: DemoSizeName = options.size ?? (options.quick ? "quick" : "full");
  const size = demoSizes[name];
  const seed = options.seed ?? 1;
  const seconds: Record<string, number> = {};
  mkdirSync(options.out, { recursive: true });
  const _bands = size.bands.join(",");
  const weighted = size.bands.map((b, i) => (size.bandWeights[i] === 1 ? b : `${b}:${size.bandWeights[i]}`));
  return {
    name,
    size,
    seed,
    quiet: options.quiet ?? true,
    layout: runLayout(options.out),
    trainSpec: trainEquations(size.prompts, seed, weighted.join(",")),
    heldOut: heldOutEquations(size.heldOutPerBand, seed, size.bands),
    generalSpec: `builtin:general?count=${size.generalPrompts}&seed=${seed}`,
    started: Date.now(),
    seconds,
    stage: stageTimer(seconds, options.onStage),
  };
}

/** 1. The teacher answers every training prompt several times, faults and all. */
async function generateCandidates(run: DemoRun): Promise<void> {
  const { size, seed, quiet, layout } = run;
  const common = {
    teacher: "builtin:equations",
    temperature: size.temperature,
    seed,
    concurrency: 64,
    quiet,
  };
  await generate({
    ...common,
    prompts: run.trainSpec,
    samplesPerPrompt: size.samplesPerPrompt,
    out: layout.generate(equationSet),
  });
  await generate({
    ...common,
    teacher: "builtin:general",
    prompts: run.generalSpec,
    samplesPerPrompt: 2,
    out: layout.generate(generalSet),
  });
}

/** 2. Filters and rejection sampling; no held-out equation may reach training. */
async function filterCandidates(run: DemoRun): Promise<Funnel> {
  const { layout, quiet } = run;
  const funnel = await filter({
    in: layout.generations(equationSet),
    out: layout.filter(equationSet),
    policy: "first-correct",
    decontaminate: [run.heldOut],
    quiet,
  });
  await filter({
    in: layout.generations(generalSet),
    out: layout.filter(generalSet),
    policy: "first-correct",
    quiet,
  });
  return funnel;
}

/**
 * 3. The training sets, each drawn by the mix stage: distilled (filtered traces + general data by
 * ratio), distilled_unfiltered (as many raw candidates, no check at all, + the same general share),
 * base (the same prompts with the exact answer and no reasoning: the student before distillation).
 * Returns each set's training rows.
 */
async function mixTrainingSets(run: DemoRun): Promise<Record<(typeof students)[number], number>> {
  const { layout, size, seed, quiet } = run;
  const random = seededRandom(hashSeed("demo-mix", seed));
  const kept = countLines(layout.kept(equationSet));
  const raw = readRecords(layout.generations(equationSet));
  const rawFile = path.join(layout.mix("sources"), "raw-candidates.jsonl");
  const answersFile = path.join(layout.mix("sources"), "answer-only.jsonl");
  writeRows(rawFile, shuffle(random, raw.map(rawRow)));
  const prompts = new Map(raw.map((r) => [r.prompt_id, r]));
  writeRows(answersFile, [...prompts.values()].map(answerOnlyRow));
  const generalCount = Math.min(
    countLines(layout.kept(generalSet)),
    Math.round((kept * size.generalShare) / (1 - size.generalShare)),
  );
  const general = `general=${layout.kept(generalSet)}:${generalCount}`;
  const draw = async (set: string, source: string, parquet: boolean) =>
    (await mix({ seed, validation: 0.05, quiet, source: [source, general], out: layout.mix(set), parquet }))
      .train;
  return {
    distilled: await draw("distilled", `reasoning=${layout.kept(equationSet)}:${kept}`, true),
    distilled_unfiltered: await draw("distilled_unfiltered", `raw=${rawFile}:${kept}`, false),
    base: await draw("base", `answers=${answersFile}:${prompts.size}`, false),
  };
}

/** 4. One tokenizer for every student, learned from all the text they will see. */
function writeSharedTokenizer(run: DemoRun): void {
  const texts = students.flatMap((set) =>
    readRecords<Row>(path.join(run.layout.mix(set), "train.jsonl")).flatMap((r) =>
      r.messages.map((m) => m.content),
    ),
  );
  writeTokenizerFiles(run.layout.tokenizer, trainBpeTokenizer(texts, { vocabSize: run.size.vocab }));
}

/** 5. `base` from scratch on answers only, then both distillations on top of it. */
async function trainStudents(run: DemoRun, rows: Record<(typeof students)[number], number>): Promise<void> {
  const { layout, size } = run;
  const common = {
    context: size.context,
    batchTokens: size.batchTokens,
    seed: run.seed,
    quiet: run.quiet,
    checkpointEvery: 0,
    tokenizer: layout.tokenizer,
  };
  await run.stage(
    "train_base",
    `new:${size.student} on ${rows.base} answer-only rows, ${size.baseEpochs} epochs`,
    () =>
      trainIsolated({
        ...common,
        data: path.join(layout.mix("base"), "train.jsonl"),
        init: `new:${size.student}?vocab=${size.vocab}&context=${size.context}`,
        out: layout.model("base"),
        epochs: size.baseEpochs,
        lr: size.baseLr,
      }),
  );
  // one after the other: each training already uses every core (the native kernels run OpenMP
  // threads), and side by side on these two cores each went at half speed (4.5–5k tokens/s)
  for (const set of ["distilled", "distilled_unfiltered"] as const) {
    await run.stage(`train_${set}`, `base + ${rows[set]} rows, ${size.distillEpochs} epochs`, () =>
      trainIsolated({
        ...common,
        data: path.join(layout.mix(set), "train.jsonl"),
        init: layout.model("base"),
        out: layout.model(set),
        epochs: size.distillEpochs,
        lr: size.distillLr,
        warmup: 0.02,
      }),
    );
  }
}

/** 6. The same held-out equations for everyone, greedy. */
async function evaluateModels(run: DemoRun): Promise<Record<ModelName, EvaluateSummary>> {
  const models: Partial<Record<ModelName, EvaluateSummary>> = {};
  for (const model of modelNames) {
    models[model] = await evaluate({
      model: model === "teacher" ? "builtin:equations" : run.layout.model(model),
      benchmark: run.heldOut,
      out: run.layout.eval(model),
      temperature: 0,
      // the students' budget is what they need for a trace; the teacher's own traces are counted differently
      maxTokens: model === "teacher" ? 1024 : run.size.maxTokens,
      concurrency: 64,
      quiet: run.quiet,
    });
  }
  return models as Record<ModelName, EvaluateSummary>;
}

/** 7. summary.json and report.html; summary.json again with the whole run's wall time at the end. */
async function writeSummary(
  run: DemoRun,
  models: Record<ModelName, EvaluateSummary>,
  funnel: Funnel,
): Promise<DemoSummary> {
  const summary: DemoSummary = {
    models: Object.fromEntries(
      Object.entries(models).map(([k, s]) => {
        const { model: _m, benchmark: _b, seconds: _s, ...score } = s;
        return [k, score];
      }),
    ) as DemoSummary["models"],
    funnel: Object.fromEntries([
      ["candidates", funnel.candidates],
      ...funnel.steps.map((s) => [s.step, s.remaining]),
    ]),
    seconds: run.seconds,
    size: { ...run.size, name: run.name },
    example: pickExample(run.layout),
  };
  writeFileSync(run.layout.summary, `${JSON.stringify(summary, null, 2)}\n`);
  await run.stage("report", "report.html", () => report({ run: run.layout.run }));
  // the whole run's wall time (the report sums its stages itself)
  run.seconds.total = Math.round((Date.now() - run.started) / 100) / 10;
  writeFileSync(run.layout.summary, `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

function readRecords<T = GenerationRecord>(file: string): T[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line));
}

function writeRows(file: string, rows: Row[]): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, rows.map((r) => `${JSON.stringify(r)}\n`).join(""));
}

function countLines(file: string): number {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim()).length;
}

/** A raw candidate as the teacher wrote it, broken markers, slips and all. */
function rawRow(r: GenerationRecord): Row {
  return {
    messages: [
      { role: "user", content: r.prompt },
      { role: "assistant", content: r.completion },
    ],
    source: r.source,
    prompt_id: r.prompt_id,
  };
}

function answerOnlyRow(r: GenerationRecord): Row {
  return {
    messages: [
      { role: "user", content: r.prompt },
      { role: "assistant", content: formatCompletion("", `x = ${r.gold}`) },
    ],
    source: r.source,
    prompt_id: r.prompt_id,
  };
}

/** A held-out equation the distilled student solves and the base student does not (else the first). */
function pickExample(layout: RunLayout): DemoSummary["example"] {
  const load = (m: ModelName) =>
    readRecords<GenerationRecord & { correct: boolean | null }>(layout.evalResults(m));
  const byModel = Object.fromEntries(
    modelNames.map((m) => [m, new Map(load(m).map((r) => [r.prompt_id, r]))]),
  );
  const ids = [...byModel.distilled.keys()];
  const id =
    ids.find(
      (i) =>
        byModel.distilled.get(i)?.correct &&
        !byModel.base.get(i)?.correct &&
        byModel.base.get(i) !== undefined,
    ) ?? ids[0];
  if (id === undefined) return null;
  const answers = Object.fromEntries(
    Object.entries(byModel).map(([m, records]) => {
      const r = records.get(id);
      return [m, { completion: r?.completion ?? "", correct: r?.correct ?? null }];
    }),
  ) as Record<ModelName, { completion: string; correct: boolean | null }>;
  return { prompt: byModel.distilled.get(id)!.prompt, answers };
}
