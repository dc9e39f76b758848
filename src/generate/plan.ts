import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { loadPrompts, type PromptRecord } from "../tasks/sources.ts";
import { teacherNameOf } from "../teachers/spec.ts";
import { resolveMarkers, type TemplateMarkers } from "../template/markers.ts";
import { UserError } from "../util/errors.ts";
import { readJsonl, repairTornTail } from "../util/jsonl.ts";
import { priceFor } from "./budget.ts";
import type { GenerationRecord } from "./generate.ts";
import {
  fingerprintPrompts,
  inShard,
  type RunConfig,
  type RunIdentity,
  type RunInfo,
  resolveConfig,
  teacherModelOf,
  writeRunInfo,
} from "./identity.ts";
import { alignLogprobsFile, logprobsFileFor } from "./logprobsFile.ts";
import type { Price, ResolvedGenerateOptions } from "./options.ts";

/** One candidate to sample: a prompt and which of its `samplesPerPrompt` samples. */
export interface Job {
  prompt: PromptRecord;
  index: number;
}

/** What a run does, settled before any request: its configuration, files, and the candidates left. */
export interface RunPlan {
  markers: TemplateMarkers;
  config: RunConfig;
  info: RunInfo;
  /** The configuration's generations file and failures file. */
  file: string;
  failedFile: string;
  /** With `--logprobs`: the side file of the teacher's log-probabilities, aligned with `file`. */
  logprobsFile?: string;
  /** Candidates not yet in the file, in prompt order. */
  jobs: Job[];
  /** Candidates already in the file from earlier runs. */
  resumed: number;
  /** Tokens and requests of everything already in the file (what a budget counts from). */
  onDisk: { promptTokens: number; completionTokens: number; requests: number };
  price?: Price;
}

/**
 * Load the prompts, settle the run's configuration (refusing changed settings, naming them, with
 * `changedSettings` as the remedy the message offers), record it in generate.json, and list the
 * candidates the folder still lacks. A refused run writes nothing.
 */
export async function planRun(options: ResolvedGenerateOptions, changedSettings?: string): Promise<RunPlan> {
  const markers = resolveMarkers(options.markers);
  mkdirSync(options.out, { recursive: true });
  let prompts: PromptRecord[] = await loadPrompts(options.prompts, options);
  if (options.limit !== undefined) prompts = prompts.slice(0, options.limit);
  const teacherModel = teacherModelOf(options.teacher);
  const price = priceFor(options.prices, teacherModel);
  if (options.maxCost !== undefined && !price) {
    throw new UserError(
      `--max-cost needs a price for "${teacherNameOf(teacherModel)}": add prices: { <model>: { input, output } } (USD per million tokens) to the recipe`,
    );
  }
  const identity: RunIdentity = {
    prompts: options.prompts,
    promptsFingerprint: fingerprintPrompts(prompts),
    teacher: teacherModel,
    temperature: options.temperature,
    topP: options.topP,
    maxTokens: options.maxTokens,
    seed: options.seed,
    markers,
    ...(options.shard ? { shard: options.shard } : {}),
    ...(options.logprobs === undefined ? {} : { logprobs: options.logprobs }),
  };
  if (options.shard) prompts = prompts.filter((p) => inShard(p.id, options.shard!));
  const { config, info } = resolveConfig(options.out, identity, options.newParams, changedSettings);
  info.run = {
    samplesPerPrompt: options.samplesPerPrompt,
    ...(options.limit === undefined ? {} : { limit: options.limit }),
    promptCount: prompts.length,
    promptOptions: {
      promptField: options.promptField,
      answerField: options.answerField,
      idField: options.idField,
    },
  };
  writeRunInfo(options.out, info);
  const file = path.join(options.out, config.generations);
  const failedFile = path.join(options.out, config.failed);
  const { done, onDisk } = await readDone(file, options.quiet);
  repairTornTail(failedFile);
  const logprobsFile = options.logprobs === undefined ? undefined : logprobsFileFor(file);
  if (logprobsFile) await alignSideFile(logprobsFile, done, options.quiet);
  const jobs = pendingJobs(prompts, options.samplesPerPrompt, done);
  const resumed = prompts.length * options.samplesPerPrompt - jobs.length;
  return {
    markers,
    config,
    info,
    file,
    failedFile,
    ...(logprobsFile ? { logprobsFile } : {}),
    jobs,
    resumed,
    onDisk,
    ...(price ? { price } : {}),
  };
}

/** The side file as its generations file left it; generations without a line are named, not resampled. */
async function alignSideFile(file: string, done: Set<string>, quiet: boolean): Promise<void> {
  const { dropped, missing } = await alignLogprobsFile(file, done);
  if (quiet) return;
  if (dropped > 0)
    process.stderr.write(
      `generate: dropped ${dropped} lines of ${file} whose candidates a kill left unwritten\n`,
    );
  if (missing > 0)
    process.stderr.write(`generate: ${missing} candidates already generated have no line in ${file}\n`);
}

/** The candidates already in a generations file (after cutting a line torn by a kill) and what they cost. */
async function readDone(
  file: string,
  quiet: boolean,
): Promise<{ done: Set<string>; onDisk: RunPlan["onDisk"] }> {
  const torn = repairTornTail(file);
  if (torn > 0 && !quiet)
    process.stderr.write(`generate: removed a torn last line (${torn} bytes) left by a kill\n`);
  const done = new Set<string>();
  const onDisk = { promptTokens: 0, completionTokens: 0, requests: 0 };
  if (!existsSync(file)) return { done, onDisk };
  for await (const { value } of readJsonl<GenerationRecord>(file)) {
    done.add(candidateKey(value.prompt_id, value.sample_index));
    onDisk.promptTokens += value.usage?.prompt_tokens ?? 0;
    onDisk.completionTokens += value.usage?.completion_tokens ?? 0;
    onDisk.requests++;
  }
  return { done, onDisk };
}

function pendingJobs(prompts: PromptRecord[], samplesPerPrompt: number, done: Set<string>): Job[] {
  const jobs: Job[] = [];
  for (const prompt of prompts) {
    for (let index = 0; index < samplesPerPrompt; index++) {
      if (!done.has(candidateKey(prompt.id, index))) jobs.push({ prompt, index });
    }
  }
  return jobs;
}

/** One candidate's key in a run: its prompt and sample index. */
export function candidateKey(promptId: string, index: number): string {
  return `${promptId}\u0000${index}`;
}
