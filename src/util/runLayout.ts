import { existsSync, readdirSync } from "node:fs";
import path from "node:path";

/**
 * The folders of a run folder: where `distill demo` writes each stage, where the README's
 * stage-by-stage commands write theirs, and where `distill report --run` looks. One place decides:
 *
 *   <run>/generate/<set>/generations.jsonl        the teacher's candidates, a folder per prompt set
 *   <run>/filter/<set>/kept.jsonl, funnel.json     what the filters kept; the counts after each check
 *   <run>/mix/[<set>/]train.jsonl, validation.jsonl a training set (the demo draws one per student)
 *   <run>/tokenizer/                               the demo's tokenizer, shared by its students
 *   <run>/models/<name>/                           a trained student (config.json, weights, metrics.jsonl)
 *   <run>/eval/<name>/summary.json, results.jsonl  a model's scores and every answer
 *   <run>/summary.json, report.html
 */
export interface RunLayout {
  run: string;
  generate(set: string): string;
  generations(set: string): string;
  filter(set: string): string;
  kept(set: string): string;
  /** `<run>/mix`, or `<run>/mix/<set>` where a run draws several training sets. */
  mix(set?: string): string;
  tokenizer: string;
  model(name: string): string;
  metrics(name: string): string;
  eval(name: string): string;
  evalSummary(name: string): string;
  evalResults(name: string): string;
  summary: string;
  report: string;
}

/** The prompt set holding the general (non-reasoning) data: its funnel is not the run's headline. */
export const generalSet = "general";

export function runLayout(run: string): RunLayout {
  const at = (...parts: string[]) => path.join(run, ...parts);
  return {
    run,
    generate: (set) => at("generate", set),
    generations: (set) => at("generate", set, "generations.jsonl"),
    filter: (set) => at("filter", set),
    kept: (set) => at("filter", set, "kept.jsonl"),
    mix: (set) => (set ? at("mix", set) : at("mix")),
    tokenizer: at("tokenizer"),
    model: (name) => at("models", name),
    metrics: (name) => at("models", name, "metrics.jsonl"),
    eval: (name) => at("eval", name),
    evalSummary: (name) => at("eval", name, "summary.json"),
    evalResults: (name) => at("eval", name, "results.jsonl"),
    summary: at("summary.json"),
    report: at("report.html"),
  };
}

/** Names of the models trained in a run: `models/<name>/` folders holding `metrics.jsonl`. */
export function trainedModels(run: string): string[] {
  return subfolders(path.join(run, "models")).filter((name) => existsSync(runLayout(run).metrics(name)));
}

/** Names of the models evaluated in a run: `eval/<name>/` folders. */
export function evaluatedModels(run: string): string[] {
  return subfolders(path.join(run, "eval"));
}

/**
 * The `funnel.json` a run's report shows, or null: `filter/funnel.json` (one filtered set), else the
 * first `filter/<set>/funnel.json` A–Z that is not the general data, else the general data's.
 */
export function headlineFunnel(run: string): string | null {
  const sets = subfolders(path.join(run, "filter"));
  const ordered = [...sets.filter((s) => s !== generalSet), ...sets.filter((s) => s === generalSet)];
  const files = [
    path.join(run, "filter", "funnel.json"),
    ...ordered.map((s) => path.join(run, "filter", s, "funnel.json")),
  ];
  return files.find((file) => existsSync(file)) ?? null;
}

function subfolders(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}
