import { existsSync, mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { candidateKey, type FailureRecord, type GenerationRecord } from "../generate/generate.ts";
import {
  configId,
  currentConfigOf,
  describeChanges,
  fingerprintPrompts,
  inShard,
  type RunConfig,
  type RunIdentity,
  type RunInfo,
  readRunInfo,
  writeRunInfo,
} from "../generate/identity.ts";
import { type LogprobsRecord, logprobsFileFor } from "../generate/logprobsFile.ts";
import { loadPrompts } from "../tasks/sources.ts";
import { UserError } from "../util/errors.ts";
import { JsonlAppender, readJsonl } from "../util/jsonl.ts";

export const mergeOptionsSchema = z
  .object({
    in: z.array(z.string().min(1)).min(1, "needs at least one shard folder"),
    out: z.string({ error: "is required: the merged run folder" }).min(1),
    quiet: z.coerce.boolean().default(false),
  })
  .strict();
export type MergeOptions = z.input<typeof mergeOptionsSchema>;

/** Candidates a prompt still lacks after the merge: missing, and of those the ones recorded as failed. */
export interface Gap {
  prompt_id: string;
  missing: number[];
  failed: number[];
}

export interface MergeSummary {
  out: string;
  /** `i/n` of each input, in the order given. */
  shards: string[];
  /** Shards of the split that were not given (the merge is incomplete without them). */
  missingShards: string[];
  candidates: number;
  /** Candidates that failed in their shard and were not generated since (in failed.jsonl). */
  failed: number;
  /** Expected candidates, when the prompt list could be rebuilt here. */
  expected?: number;
  /** Prompts with missing candidates (each listed in gaps.jsonl). */
  gaps: number;
  /** Why completeness could only be counted, not listed by prompt (e.g. a prompt file not on this machine). */
  note?: string;
}

/**
 * `distill merge`: combine the folders of `distill generate --shard i/n` runs into one run folder.
 * Refuses folders made with different settings (prompts, teacher model, sampling, template, split) and
 * overlapping shards; writes `generations.jsonl`, `failed.jsonl` (failures still unresolved), `gaps.jsonl`
 * (prompts with missing candidates) and a `generate.json` without the shard, so re-running
 * `distill generate` with the same settings on the merged folder fills the gaps.
 */
export async function merge(input: MergeOptions): Promise<MergeSummary> {
  const options = mergeOptionsSchema.parse(input);
  const inputs: Shard[] = options.in.map((dir) => ({ dir, ...currentConfig(dir) }));
  const out = path.resolve(options.out);
  checkOutFolder(inputs, out, options.out);
  checkSameSettings(inputs);
  const { shards, missingShards } = checkShards(inputs);
  mkdirSync(out, { recursive: true });
  // a merge refused part-way (overlapping shards) takes back what it wrote, so nothing half-merged stays
  const outputs = ["generations.jsonl", "failed.jsonl", "gaps.jsonl", "logprobs.jsonl"]
    .map((name) => path.join(out, name))
    .filter((file) => !existsSync(file));
  try {
    const { written, failures } = await copyCandidates(inputs, out);
    if (inputs[0].config.identity.logprobs !== undefined) await copyLogprobs(inputs, written, out);
    const failed = writeUnresolvedFailures(failures, written, out);
    const identity: RunIdentity = { ...inputs[0].config.identity };
    delete identity.shard;
    const summary: MergeSummary = {
      out: options.out,
      shards,
      missingShards,
      candidates: written.size,
      failed,
      gaps: 0,
    };
    const promptCount = await writeGaps(inputs, identity, written, failures, summary, out);
    writeMergedInfo(inputs, identity, promptCount, summary, out);
    return summary;
  } catch (err) {
    for (const file of outputs) rmSync(file, { force: true });
    throw err;
  }
}

/** A shard folder given to `merge`, with its generate.json and the configuration it was last run with. */
interface Shard {
  dir: string;
  info: RunInfo;
  config: RunConfig;
}

function checkOutFolder(inputs: Shard[], out: string, given: string): void {
  if (inputs.some((i) => path.resolve(i.dir) === out))
    throw new UserError("--out must be a new folder, not one of the shards", { file: given });
  if (existsSync(path.join(out, "generations.jsonl")) || existsSync(path.join(out, "generate.json")))
    throw new UserError("already holds a run; merge into a new folder", { file: given });
}

/** Same settings everywhere but the shard. */
function checkSameSettings(inputs: Shard[]): void {
  const [first] = inputs;
  for (const other of inputs.slice(1)) {
    const changes = describeChanges(first.config.identity, other.config.identity, ["shard"]);
    if (changes)
      throw new UserError(
        `was generated with other settings than ${first.dir} (${changes}); shards must match`,
        {
          file: other.dir,
        },
      );
    if (other.info.run?.samplesPerPrompt !== first.info.run?.samplesPerPrompt)
      throw new UserError(
        `samples per prompt ${other.info.run?.samplesPerPrompt} differs from ${first.dir}'s ${first.info.run?.samplesPerPrompt}`,
        { file: other.dir },
      );
  }
}

/** One split, no shard given twice. Returns each input's `i/n` and the shards of the split not given. */
function checkShards(inputs: Shard[]): { shards: string[]; missingShards: string[] } {
  const shards = inputs.map((i) => i.config.identity.shard ?? "1/1");
  const n = Number(shards[0].split("/")[1]);
  for (const [k, shard] of shards.entries()) {
    if (Number(shard.split("/")[1]) !== n)
      throw new UserError(
        `is shard ${shard}, but ${inputs[0].dir} is ${shards[0]}: shards of different splits`,
        {
          file: inputs[k].dir,
        },
      );
    const twin = shards.indexOf(shard);
    if (twin !== k)
      throw new UserError(`shard ${shard} given twice: ${inputs[twin].dir} and ${inputs[k].dir}`);
  }
  const missingShards = Array.from({ length: n }, (_, i) => `${i + 1}/${n}`).filter(
    (s) => !shards.includes(s),
  );
  return { shards, missingShards };
}

/**
 * Every shard's candidates into `<out>/generations.jsonl`, refusing a prompt outside its shard and a
 * candidate in two shards. Returns the candidates written (by `candidateKey`) and every recorded failure.
 */
async function copyCandidates(
  inputs: Shard[],
  out: string,
): Promise<{ written: Set<string>; failures: Map<string, FailureRecord> }> {
  const written = new Set<string>();
  const generations = new JsonlAppender(path.join(out, "generations.jsonl"));
  const failures = new Map<string, FailureRecord>();
  try {
    for (const { dir, config } of inputs) {
      const file = path.join(dir, config.generations);
      if (!existsSync(file)) continue;
      const shard = config.identity.shard;
      for await (const { value, line } of readJsonl<GenerationRecord>(file)) {
        const k = candidateKey(value.prompt_id, value.sample_index);
        if (shard && !inShard(value.prompt_id, shard))
          throw new UserError(`prompt "${value.prompt_id}" does not belong to shard ${shard}`, {
            file,
            line,
          });
        if (written.has(k))
          throw new UserError(
            `candidate ${value.prompt_id} #${value.sample_index} is in two shards: shards must not overlap`,
            { file, line },
          );
        written.add(k);
        generations.write(value);
      }
      const failedFile = path.join(dir, config.failed);
      if (!existsSync(failedFile)) continue;
      for await (const { value } of readJsonl<FailureRecord>(failedFile))
        failures.set(candidateKey(value.prompt_id, value.sample_index), value);
    }
  } finally {
    generations.close();
  }
  return { written, failures };
}

/** `<out>/failed.jsonl`: failures no later run resolved. Returns how many. */
/**
 * With `--logprobs` shards: their side files into `<out>/logprobs.jsonl`, one line per merged candidate
 * (a shard killed and never resumed may hold lines of candidates it did not write: those are left out).
 */
async function copyLogprobs(inputs: Shard[], written: ReadonlySet<string>, out: string): Promise<void> {
  const side = new JsonlAppender(path.join(out, "logprobs.jsonl"));
  const copied = new Set<string>();
  try {
    for (const { dir, config } of inputs) {
      const file = logprobsFileFor(path.join(dir, config.generations));
      if (!existsSync(file)) continue;
      for await (const { value } of readJsonl<LogprobsRecord>(file)) {
        const k = candidateKey(value.prompt_id, value.sample_index);
        if (!written.has(k) || copied.has(k)) continue;
        copied.add(k);
        side.write(value);
      }
    }
  } finally {
    side.close();
  }
}

function writeUnresolvedFailures(
  failures: Map<string, FailureRecord>,
  written: Set<string>,
  out: string,
): number {
  const failedOut = new JsonlAppender(path.join(out, "failed.jsonl"));
  let failed = 0;
  for (const [k, f] of failures) {
    if (written.has(k)) continue; // failed once, generated on a later run
    failedOut.write(f);
    failed++;
  }
  failedOut.close();
  return failed;
}

/**
 * `<out>/gaps.jsonl`: the full prompt list rebuilt from the recorded source, if it is readable here,
 * and each prompt's missing candidates. Fills `summary.expected`, `gaps` and `note`; returns the prompt count.
 */
async function writeGaps(
  inputs: Shard[],
  identity: RunIdentity,
  written: Set<string>,
  failures: Map<string, FailureRecord>,
  summary: MergeSummary,
  out: string,
): Promise<number> {
  const run = inputs[0].info.run;
  const samplesPerPrompt = run?.samplesPerPrompt ?? 1;
  const gapsOut = new JsonlAppender(path.join(out, "gaps.jsonl"));
  let promptCount = inputs.reduce((sum, i) => sum + (i.info.run?.promptCount ?? 0), 0);
  try {
    let prompts = await loadPrompts(identity.prompts, run?.promptOptions ?? {});
    if (run?.limit !== undefined) prompts = prompts.slice(0, run.limit);
    if (identity.promptsFingerprint && fingerprintPrompts(prompts) !== identity.promptsFingerprint)
      throw new UserError(
        `the prompts of "${identity.prompts}" have changed since the shards were generated`,
      );
    promptCount = prompts.length;
    summary.expected = prompts.length * samplesPerPrompt;
    for (const p of prompts) {
      const missing: number[] = [];
      for (let i = 0; i < samplesPerPrompt; i++) if (!written.has(candidateKey(p.id, i))) missing.push(i);
      if (missing.length === 0) continue;
      const failedHere = missing.filter((i) => failures.has(candidateKey(p.id, i)));
      gapsOut.write({ prompt_id: p.id, missing, failed: failedHere } satisfies Gap);
      summary.gaps++;
    }
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    summary.note = `gaps not listed by prompt: ${err.message}`;
    summary.expected = promptCount * samplesPerPrompt;
  } finally {
    gapsOut.close();
  }
  return promptCount;
}

/** `<out>/generate.json` without the shard, so `distill generate` with the same settings fills the gaps. */
function writeMergedInfo(
  inputs: Shard[],
  identity: RunIdentity,
  promptCount: number,
  summary: MergeSummary,
  out: string,
): void {
  const first = inputs[0];
  const samplesPerPrompt = first.info.run?.samplesPerPrompt ?? 1;
  const id = configId(identity);
  const config: RunConfig = { id, identity, generations: "generations.jsonl", failed: "failed.jsonl" };
  const info: RunInfo = {
    identity,
    config: id,
    configs: [config],
    run: { ...(first.info.run ?? { promptOptions: {}, samplesPerPrompt }), promptCount },
    mergedFrom: inputs.map((i, k) => ({
      dir: path.resolve(i.dir),
      shard: summary.shards[k],
      config: i.config.id,
    })),
    merge: summary,
  };
  writeRunInfo(out, info);
}

function currentConfig(dir: string): { info: RunInfo; config: RunConfig } {
  const info = readRunInfo(dir);
  if (!info) throw new UserError("not a generate run folder (no generate.json)", { file: dir });
  return { info, config: currentConfigOf(info) };
}
