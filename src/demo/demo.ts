import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type EvaluateSummary, evaluate, type ModelScore } from "../evaluate/evaluate.ts";
import { filter } from "../filter/filter.ts";
import { type GenerationRecord, generate } from "../generate/generate.ts";
import { mix } from "../mix/mix.ts";
import { report } from "../report/report.ts";
import { formatCompletion } from "../template/render.ts";
import { trainBpeTokenizer } from "../tokenizer/bpeTrainer.ts";
import { writeTokenizerFiles } from "../tokenizer/tokenizer.ts";
import { trainIsolated } from "../train/isolated.ts";
import { hashSeed, seededRandom, shuffle } from "../util/random.ts";
import { type DemoSize, type DemoSizeName, demoSizes } from "./sizes.ts";

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

type ModelName = "teacher" | "base" | "distilled" | "distilled_unfiltered";

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

/**
 * `distill demo`: the whole distillation, offline, on the built-in equation task —
 * generate (several candidates a prompt at temperature > 0) → filter + rejection sampling, with the
 * held-out set decontaminated → mix reasoning and general data → train the student: first `base` on
 * answers only (the "before"), then `distilled` on the filtered traces and `distilled_unfiltered` on
 * raw candidates, both from `base` → evaluate all of them and the teacher on held-out equations.
 */
export async function demo(options: DemoOptions): Promise<DemoSummary> {
  const name: DemoSizeName = options.size ?? (options.quick ? "quick" : "full");
  const size = demoSizes[name];
  const seed = options.seed ?? 1;
  const dir = (...parts: string[]) => path.join(options.out, ...parts);
  const started = Date.now();
  const seconds: Record<string, number> = {};
  const stage = async <T>(label: string, detail: string, work: () => Promise<T>): Promise<T> => {
    options.onStage?.(label, detail);
    const t0 = Date.now();
    const result = await work();
    seconds[label] = Math.round((Date.now() - t0) / 100) / 10;
    return result;
  };
  mkdirSync(options.out, { recursive: true });
  const bands = size.bands.join(",");
  const weighted = size.bands.map((b, i) => (size.bandWeights[i] === 1 ? b : `${b}:${size.bandWeights[i]}`));
  const trainSpec = `builtin:equations?count=${size.prompts}&seed=${seed}&difficulty=${weighted.join(",")}&split=train&fraction-rate=0`;
  const heldOut = `builtin:equations?count=${size.heldOutPerBand * size.bands.length}&seed=${seed + 1000}&difficulty=${bands}&split=test&fraction-rate=0`;
  const generalSpec = `builtin:general?count=${size.generalPrompts}&seed=${seed}`;
  const quiet = options.quiet ?? true;

  // 1. the teacher answers every training prompt several times, faults and all
  await stage(
    "generate",
    `${size.prompts} equations × ${size.samplesPerPrompt} + ${size.generalPrompts} general, T=${size.temperature}`,
    async () => {
      const common = {
        teacher: "builtin:equations",
        temperature: size.temperature,
        seed,
        concurrency: 64,
        quiet,
      };
      await generate({
        ...common,
        prompts: trainSpec,
        samplesPerPrompt: size.samplesPerPrompt,
        out: dir("generate", "equations"),
      });
      await generate({
        ...common,
        teacher: "builtin:general",
        prompts: generalSpec,
        samplesPerPrompt: 2,
        out: dir("generate", "general"),
      });
    },
  );

  // 2. filters and rejection sampling; no held-out equation may reach training
  const funnel = await stage(
    "filter",
    "template, correctness, readability, rejection sampling, dedup, decontamination",
    async () => {
      const f = await filter({
        in: dir("generate", "equations", "generations.jsonl"),
        out: dir("filter", "equations"),
        policy: "first-correct",
        decontaminate: [heldOut],
        quiet,
      });
      await filter({
        in: dir("generate", "general", "generations.jsonl"),
        out: dir("filter", "general"),
        policy: "first-correct",
        quiet,
      });
      return f;
    },
  );

  // 3. the training sets, each drawn by the mix stage: distilled (filtered traces + general data by
  // ratio), distilled_unfiltered (as many raw candidates, no check at all, + the same general share),
  // base (the same prompts with the exact answer and no reasoning: the student before distillation)
  const sets = await stage(
    "mix",
    `reasoning + general at ${1 - size.generalShare}/${size.generalShare}`,
    async () => {
      const random = seededRandom(hashSeed("demo-mix", seed));
      const keptFile = dir("filter", "equations", "kept.jsonl");
      const kept = countLines(keptFile);
      const raw = readRecords(dir("generate", "equations", "generations.jsonl"));
      writeRows(dir("data", "raw-candidates.jsonl"), shuffle(random, raw.map(rawRow)));
      const prompts = new Map(raw.map((r) => [r.prompt_id, r]));
      writeRows(dir("data", "answer-only.jsonl"), [...prompts.values()].map(answerOnlyRow));
      const general = `general=${dir("filter", "general", "kept.jsonl")}`;
      const generalCount = Math.min(
        countLines(dir("filter", "general", "kept.jsonl")),
        Math.round((kept * size.generalShare) / (1 - size.generalShare)),
      );
      const common = { seed, validation: 0.05, quiet };
      const distilled = await mix({
        ...common,
        source: [`reasoning=${keptFile}:${kept}`, `${general}:${generalCount}`],
        out: dir("data", "distilled"),
      });
      const unfiltered = await mix({
        ...common,
        source: [`raw=${dir("data", "raw-candidates.jsonl")}:${kept}`, `${general}:${generalCount}`],
        out: dir("data", "distilled_unfiltered"),
        parquet: false,
      });
      const base = await mix({
        ...common,
        source: [`answers=${dir("data", "answer-only.jsonl")}:${prompts.size}`, `${general}:${generalCount}`],
        out: dir("data", "base"),
        parquet: false,
      });
      return { distilled: distilled.train, distilled_unfiltered: unfiltered.train, base: base.train };
    },
  );

  // 4. one tokenizer for every student, learned from all the text they will see
  const tokenizerDir = dir("tokenizer");
  const texts = ["distilled", "distilled_unfiltered", "base"].flatMap((set) =>
    readRecords<Row>(dir("data", set, "train.jsonl")).flatMap((r) => r.messages.map((m) => m.content)),
  );
  writeTokenizerFiles(tokenizerDir, trainBpeTokenizer(texts, { vocabSize: size.vocab }));

  const trainCommon = {
    context: size.context,
    batchTokens: size.batchTokens,
    seed,
    quiet,
    checkpointEvery: 0,
    tokenizer: tokenizerDir,
  };
  await stage(
    "train_base",
    `new:${size.student} on ${sets.base} answer-only rows, ${size.baseEpochs} epochs`,
    () =>
      trainIsolated({
        ...trainCommon,
        data: dir("data", "base", "train.jsonl"),
        init: `new:${size.student}?vocab=${size.vocab}&context=${size.context}`,
        out: dir("models", "base"),
        epochs: size.baseEpochs,
        lr: size.baseLr,
      }),
  );
  // one after the other: each training already uses every core (the native kernels run OpenMP
  // threads), and side by side on these two cores each went at half speed (4.5–5k tokens/s)
  for (const set of ["distilled", "distilled_unfiltered"] as const) {
    await stage(`train_${set}`, `base + ${sets[set]} rows, ${size.distillEpochs} epochs`, () =>
      trainIsolated({
        ...trainCommon,
        data: dir("data", set, "train.jsonl"),
        init: dir("models", "base"),
        out: dir("models", set),
        epochs: size.distillEpochs,
        lr: size.distillLr,
        warmup: 0.02,
      }),
    );
  }

  // 5. the same held-out equations for everyone, greedy
  const models: Partial<Record<ModelName, EvaluateSummary>> = {};
  await stage("eval", `${size.heldOutPerBand} held-out equations per band, greedy`, async () => {
    for (const model of ["teacher", "base", "distilled", "distilled_unfiltered"] as const) {
      models[model] = await evaluate({
        model: model === "teacher" ? "builtin:equations" : dir("models", model),
        benchmark: heldOut,
        out: dir("eval", model),
        temperature: 0,
        // the students' budget is what they need for a trace; the teacher's own traces are counted differently
        maxTokens: model === "teacher" ? 1024 : size.maxTokens,
        concurrency: 64,
        quiet,
      });
    }
  });

  const summary: DemoSummary = {
    models: Object.fromEntries(
      Object.entries(models).map(([k, s]) => {
        const { model: _m, benchmark: _b, seconds: _s, ...score } = s!;
        return [k, score];
      }),
    ) as DemoSummary["models"],
    funnel: Object.fromEntries([
      ["candidates", funnel.candidates],
      ...funnel.steps.map((s) => [s.step, s.remaining]),
    ]),
    seconds,
    size: { ...size, name },
    example: pickExample(options.out),
  };
  writeFileSync(dir("summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  await stage("report", "report.html", () => report({ run: options.out }));
  // the whole run's wall time (the report sums its stages itself)
  seconds.total = Math.round((Date.now() - started) / 100) / 10;
  writeFileSync(dir("summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
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
function pickExample(out: string): DemoSummary["example"] {
  const load = (m: ModelName) =>
    readRecords<GenerationRecord & { correct: boolean | null }>(path.join(out, "eval", m, "results.jsonl"));
  const byModel = Object.fromEntries(
    (["teacher", "base", "distilled", "distilled_unfiltered"] as const).map((m) => [
      m,
      new Map(load(m).map((r) => [r.prompt_id, r])),
    ]),
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
