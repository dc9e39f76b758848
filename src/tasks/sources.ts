import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { UserError } from "../util/errors.ts";
import { readJsonl } from "../util/jsonl.ts";
import { parseSpecQuery } from "../util/query.ts";
import { type EquationBand, equationBands, equationPrompt, generateEquations } from "./equations/generate.ts";
import { generateGeneral } from "./general.ts";

/** One prompt of a prompt set, with its gold answer when the set has one. */
export interface PromptRecord {
  id: string;
  prompt: string;
  gold?: string;
  /** The source spec it came from, e.g. `gsm8k:train`. */
  source: string;
  /** Difficulty band or subject, where the source has one. */
  band?: string;
}

export interface SourceOptions {
  /** For `jsonl:` files: field holding the prompt (default: the first of prompt, question, problem, input). */
  promptField?: string;
  /** For `jsonl:` files: field holding the gold answer (default: the first of answer, gold, target). */
  answerField?: string;
  /** For `jsonl:` files: field holding a stable id (default: id, unique_id, or the line number). */
  idField?: string;
}

/**
 * Prompt sources, by spec:
 * - `builtin:equations?count=1000&seed=1&difficulty=one-step,two-step&split=train&fraction-rate=0.15`
 *   (`difficulty=one-step,two-step:3` draws three two-step equations for each one-step one)
 * - `builtin:general?count=1000&seed=1`
 * - `jsonl:<path>` (fields chosen by options)
 * - `gsm8k:<train|test|path>`, `math500:<test|path>`, `aime:<test|path>`, `mawps:<path>`: the reference
 *   sets under ../shared/data (or $DISTILLERY_DATA), gold answers extracted.
 */
export async function loadPrompts(spec: string, options: SourceOptions = {}): Promise<PromptRecord[]> {
  const colon = spec.indexOf(":");
  if (colon < 0)
    throw new UserError(`prompt source "${spec}" needs a kind, e.g. builtin:equations or jsonl:path`);
  const kind = spec.slice(0, colon);
  const rest = spec.slice(colon + 1);
  switch (kind) {
    case "builtin":
      return builtinPrompts(spec, rest);
    case "jsonl":
      return readPromptFile(spec, rest, (row) => pickFields(row, options));
    case "gsm8k":
      return readPromptFile(spec, datasetFile(spec, "gsm8k", rest, "train"), (row) => ({
        prompt: asString(row.question),
        gold: gsm8kGold(asString(row.answer)),
        field: "question",
      }));
    case "math500":
      return readPromptFile(spec, datasetFile(spec, "math500", rest, "test"), (row) => ({
        prompt: asString(row.problem),
        gold: asString(row.answer),
        id: asString(row.unique_id),
        band: row.level === undefined ? undefined : `level-${row.level}`,
        field: "problem",
      }));
    case "aime":
      return readPromptFile(spec, datasetFile(spec, "aime24", rest, "test"), (row) => ({
        prompt: asString(row.problem),
        gold: row.answer === undefined ? undefined : String(row.answer),
        field: "problem",
      }));
    case "mawps":
      return readPromptFile(spec, datasetFile(spec, "mawps", rest, "singleeq"), (row) => ({
        prompt: asString(row.input),
        gold: row.target === undefined ? undefined : String(row.target),
        field: "input",
      }));
    default:
      throw new UserError(
        `unknown prompt source kind "${kind}" in "${spec}" (builtin, jsonl, gsm8k, math500, aime, mawps)`,
      );
  }
}

/** The shared data folder: $DISTILLERY_DATA, else ../shared/data from the working directory or the package. */
export function sharedDataDir(): string | null {
  const candidates = [
    process.env.DISTILLERY_DATA,
    path.resolve("../shared/data"),
    path.resolve(import.meta.dirname, "../../../shared/data"),
  ];
  return candidates.find((dir) => dir && existsSync(dir)) ?? null;
}

function datasetFile(spec: string, folder: string, rest: string, defaultSplit: string): string {
  if (rest.includes("/") || rest.endsWith(".jsonl")) return rest;
  const dir = sharedDataDir();
  if (!dir)
    throw new UserError(`reference data not found: set DISTILLERY_DATA or place it at ../shared/data`);
  const split = rest || defaultSplit;
  const file = path.join(dir, folder, `${split}.jsonl`);
  if (!existsSync(file)) {
    const splits = existsSync(path.join(dir, folder))
      ? readdirSync(path.join(dir, folder))
          .filter((f) => f.endsWith(".jsonl"))
          .map((f) => f.slice(0, -".jsonl".length))
      : [];
    throw new UserError(
      `unknown split "${split}" in "${spec}" (${splits.length ? `here: ${splits.join(", ")}` : `no ${folder} data in ${dir}`}; or a path to a .jsonl file)`,
    );
  }
  return file;
}

/** GSM8K solutions end in `#### 72`; the gold is what follows, without thousands separators. */
export function gsm8kGold(answer: string | undefined): string | undefined {
  const match = answer?.match(/####\s*(.+?)\s*$/);
  return match ? match[1].replace(/,/g, "") : undefined;
}

interface Row {
  prompt?: string;
  gold?: string;
  id?: string;
  band?: string;
  field: string;
}

async function readPromptFile(
  spec: string,
  file: string,
  map: (row: Record<string, unknown>) => Row,
): Promise<PromptRecord[]> {
  const records: PromptRecord[] = [];
  const base = spec.startsWith("jsonl:")
    ? path.basename(file, ".jsonl")
    : spec.replace(/[:/]+/g, "-").replace(/\.jsonl$/, "");
  for await (const { value, line } of readJsonl(file)) {
    const row = map(value);
    if (!row.prompt?.trim()) throw new UserError("missing or empty prompt", { file, line, field: row.field });
    records.push({
      id: row.id ?? `${base}-${line}`,
      prompt: row.prompt,
      gold: row.gold,
      source: spec,
      band: row.band,
    });
  }
  if (records.length === 0) throw new UserError("no prompts in file", { file });
  return records;
}

function pickFields(row: Record<string, unknown>, options: SourceOptions): Row {
  const first = (names: string[]) => names.find((name) => row[name] !== undefined);
  const field = options.promptField ?? first(["prompt", "question", "problem", "input"]) ?? "prompt";
  const answerField = options.answerField ?? first(["answer", "gold", "target"]);
  const idField = options.idField ?? first(["id", "unique_id"]);
  const gold =
    answerField === undefined || row[answerField] === undefined ? undefined : String(row[answerField]);
  return {
    prompt: asString(row[field]),
    gold: answerField === "answer" && gold?.includes("####") ? gsm8kGold(gold) : gold,
    id: idField === undefined || row[idField] === undefined ? undefined : String(row[idField]),
    field,
  };
}

function asString(value: unknown): string | undefined {
  return typeof value === "string" ? value : typeof value === "number" ? String(value) : undefined;
}

/** The settings each built-in prompt source takes after `?`. */
const builtinSettings: Record<string, readonly string[]> = {
  equations: ["count", "seed", "difficulty", "split", "fraction-rate"],
  general: ["count", "seed"],
};

function builtinPrompts(spec: string, rest: string): PromptRecord[] {
  const name = rest.split("?")[0];
  if (!(name in builtinSettings))
    throw new UserError(
      `unknown built-in prompt source "${name}" in "${spec}" (${Object.keys(builtinSettings).join(", ")})`,
    );
  const { params } = parseSpecQuery(spec, rest, builtinSettings[name]);
  const int = (key: string, fallback: number) => {
    const raw = params.get(key);
    if (raw === null) return fallback;
    const n = raw.trim() === "" ? Number.NaN : Number(raw);
    if (!Number.isInteger(n) || n < 0)
      throw new UserError(`"${key}" must be a non-negative integer in "${spec}"`);
    return n;
  };
  if (name === "equations") {
    const difficulty = params.get("difficulty");
    // `two-step:3` weighs a band: it comes up three times in the round-robin for each other band's one
    const bands: string[] = [];
    for (const item of difficulty && difficulty !== "mixed" ? difficulty.split(",") : [...equationBands]) {
      const [band = "", weight = "1"] = item.split(":");
      if (!(equationBands as readonly string[]).includes(band)) {
        throw new UserError(
          `unknown difficulty "${band}" in "${spec}" (one of ${equationBands.join(", ")}, or mixed)`,
        );
      }
      if (!/^[1-9]\d?$/.test(weight))
        throw new UserError(`the weight of "${band}" must be an integer from 1 to 99 in "${spec}"`);
      bands.push(...Array<string>(Number(weight)).fill(band));
    }
    const split = params.get("split") ?? "train";
    if (!["train", "test", "all"].includes(split))
      throw new UserError(`split must be train, test or all in "${spec}"`);
    const fractionRate = Number(params.get("fraction-rate") ?? 0.15);
    if (!(fractionRate >= 0 && fractionRate <= 1))
      throw new UserError(`"fraction-rate" must be a number from 0 to 1 in "${spec}"`);
    return generateEquations({
      count: int("count", 1000),
      seed: int("seed", 1),
      bands: bands as EquationBand[],
      split: split as "train" | "test" | "all",
      fractionRate,
    }).map((p) => ({
      id: p.id,
      prompt: equationPrompt(p.equation),
      gold: p.solution,
      source: spec,
      band: p.band,
    }));
  }
  return generateGeneral({ count: int("count", 1000), seed: int("seed", 1) }).map((p) => ({
    id: p.id,
    prompt: p.prompt,
    gold: p.answer,
    source: spec,
    band: p.kind,
  }));
}
