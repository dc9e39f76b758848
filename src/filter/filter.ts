import { mkdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { resolveMarkers } from "../template/markers.ts";
import { UserError } from "../util/errors.ts";
import { JsonlAppender, readJsonl } from "../util/jsonl.ts";
import { createProgress } from "../util/progress.ts";
import {
  type CandidateRecord,
  type CheckConfig,
  type CheckVerdict,
  checks,
  runChecks,
} from "./checks/index.ts";
import { buildDecontaminationIndex, type DecontaminationIndex } from "./decontaminate.ts";
import { Deduplicator } from "./dedup.ts";
import { type FilterOptions, filterOptionsSchema, type ResolvedFilterOptions } from "./options.ts";
import { selectCandidates } from "./policy.ts";
import { countCandidates, readCandidates } from "./read.ts";
import { NumberTable } from "./table.ts";
import { hash53, responseText } from "./text.ts";

/** One step of the funnel: how many candidates remain after it, and how many it removed. */
export interface FunnelStep {
  step: string;
  removed: number;
  remaining: number;
}

/** `funnel.json`: what a user looks at first. Deterministic for the same input and options. */
export interface Funnel {
  input: string;
  candidates: number;
  prompts: number;
  policy: string;
  steps: FunnelStep[];
  kept: number;
  kept_prompts: number;
  hard_prompts: number;
  contaminated_prompts: number;
  /** How many candidates fail each check, wherever it stands in the funnel (a row can fail several). */
  failures: Record<string, number>;
}

/** A line of the partition files between the passes: a passing candidate in full, a failing one as a stub. */
interface Entry {
  line: number;
  prompt_id: string;
  /** Names of the failed checks; empty when it passed every one. */
  failed: string[];
  contaminated?: string;
  record?: CandidateRecord & { checks: Record<string, CheckVerdict> };
  stub?: { prompt: string; gold?: unknown; source?: unknown; band?: unknown; reasons: string[] };
}

const outputs = ["kept.jsonl", "rejected.jsonl", "hard_prompts.jsonl", "funnel.json"] as const;

/**
 * `distill filter`: judge every candidate of a generations.jsonl with the checks, decontaminate,
 * rejection-sample a prompt's candidates by policy, and deduplicate prompts and responses. Writes
 * `kept.jsonl`, `rejected.jsonl` (every candidate not kept, raw output and all reasons),
 * `hard_prompts.jsonl` (prompts with no candidate passing the checks) and `funnel.json`.
 *
 * Streams in two passes so memory does not grow with the input: pass 1 judges candidates one at a time
 * and writes each to one of P partition files chosen by a hash of its prompt id (a failing candidate as
 * a small stub), P = input bytes / `partitionBytes`; pass 2 reads one partition at a time, where all
 * candidates of a prompt are together, and applies the policy and deduplication. What stays in memory
 * across the whole run is the deduplication state (a hash a distinct prompt/response, and a MinHash
 * signature for long ones) and the decontamination n-grams.
 * Measured with `npm run bench:filter` (2 cores, V8 heap capped at 300 MiB): 16 MiB → 1 GiB of input
 * (846k candidates) keeps the live heap at 150 MiB; peak RSS 531 → 557 MiB with `dedup: "none"`, and
 * 533 → 881 MiB with deduplication, whose typed arrays hold ~530 bytes per distinct kept text.
 *
 * Idempotent: outputs are written under temporary names and renamed at the end, so a re-run gives the
 * same files and a failed run (bad line, kill) leaves earlier outputs as they were.
 */
export async function filter(input: FilterOptions): Promise<Funnel> {
  const options: ResolvedFilterOptions = filterOptionsSchema.parse(input);
  const markers = resolveMarkers(options.markers);
  const config: CheckConfig = { ...options, markers };
  let size: number;
  try {
    const stat = statSync(options.in);
    if (!stat.isFile()) throw new UserError("is not a file", { file: options.in });
    size = stat.size;
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError("file not found", { file: options.in });
  }
  if (size === 0) throw new UserError("empty file: no candidates to filter", { file: options.in });
  const decontamination =
    options.decontaminate.length > 0
      ? await buildDecontaminationIndex(options.decontaminate, options.decontaminateNgram)
      : null;

  mkdirSync(options.out, { recursive: true });
  const work = path.join(options.out, `.filter-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work);
  const tmp = (name: string) => path.join(work, name);
  const rejected = new JsonlAppender(tmp("rejected.jsonl"));
  const kept = new JsonlAppender(tmp("kept.jsonl"));
  const hard = new JsonlAppender(tmp("hard_prompts.jsonl"));
  const partitions = Math.min(256, Math.max(1, Math.ceil(size / options.partitionBytes)));
  const parts = Array.from({ length: partitions }, (_, i) => new JsonlAppender(tmp(`part-${i}.jsonl`)));
  // each file closed exactly once: closing a number twice could close a descriptor reused meanwhile
  const open = new Set([rejected, kept, hard, ...parts]);
  const close = (files: JsonlAppender[]) => {
    for (const file of files) if (open.delete(file)) file.close();
  };
  try {
    const stats = await judgeAll(options, config, decontamination, parts, rejected);
    close(parts);
    const second = await selectAndDedup(options, config, parts, rejected, kept, hard);
    const funnel = funnelOf(options, stats, second);
    close([rejected, kept, hard]);
    writeFileSync(tmp("funnel.json"), `${JSON.stringify(funnel, null, 2)}\n`);
    for (const name of outputs) renameSync(tmp(name), path.join(options.out, name));
    return funnel;
  } finally {
    close([...open]);
    rmSync(work, { recursive: true, force: true });
  }
}

interface FirstPass {
  candidates: number;
  prompts: number;
  /** Candidates removed at each check, counted at the first check they fail. */
  removedAt: Record<string, number>;
  failures: Record<string, number>;
  contaminatedPrompts: number;
}

/** Pass 1: run every check on every candidate; failing ones go to rejected.jsonl at once. */
async function judgeAll(
  options: ResolvedFilterOptions,
  config: CheckConfig,
  decontamination: DecontaminationIndex | null,
  parts: JsonlAppender[],
  rejected: JsonlAppender,
): Promise<FirstPass> {
  const names = [...checks.map((c) => c.name), ...(decontamination ? ["decontamination"] : [])];
  const stats: FirstPass = {
    candidates: 0,
    prompts: 0,
    removedAt: Object.fromEntries(names.map((n) => [n, 0])),
    failures: Object.fromEntries(names.map((n) => [n, 0])),
    contaminatedPrompts: 0,
  };
  // prompts are counted by their ids' 53-bit hashes in a typed-array table, not by their text
  const promptIds = new NumberTable();
  const progress = createProgress("filter", await countCandidates(options.in), {
    quiet: options.quiet,
    unit: "candidates",
  });
  let lastPrompt = { id: "", contaminated: null as string | null };
  for await (const { record, line } of readCandidates(options.in, config.markers)) {
    stats.candidates++;
    const promptHash = hash53(record.prompt_id);
    const newPrompt = !promptIds.has(promptHash);
    if (newPrompt) promptIds.set(promptHash, 1);
    const verdicts = runChecks(record, config);
    if (decontamination) {
      // candidates of a prompt come in runs: match the prompt once a run
      if (lastPrompt.id !== record.prompt_id) {
        const hit = decontamination.match(record.prompt);
        lastPrompt = { id: record.prompt_id, contaminated: hit ? `${hit.spec} (${hit.how})` : null };
        if (hit && newPrompt) stats.contaminatedPrompts++;
      }
      verdicts.decontamination = lastPrompt.contaminated
        ? { pass: false, reason: `contaminated: overlaps ${lastPrompt.contaminated}` }
        : { pass: true };
    }
    const failed = names.filter((n) => verdicts[n].pass === false);
    for (const n of failed) stats.failures[n]++;
    // range partitions of the id hash, each read back in hash order (selectAndDedup): the second pass
    // meets prompts in one order however many partitions there are, so "earlier" duplicates are the same
    const part = parts[Math.floor((promptHash / 2 ** 53) * parts.length)];
    const entry: Entry = { line, prompt_id: record.prompt_id, failed };
    if (failed.length === 0) {
      entry.record = { ...record, checks: verdicts };
    } else {
      stats.removedAt[failed[0]]++;
      const reasons = failed.map((n) => verdicts[n].reason ?? n);
      rejected.write({ ...record, checks: verdicts, rejected_at: failed[0], reasons });
      entry.stub = {
        prompt: record.prompt,
        gold: record.gold,
        source: record.source,
        band: record.band,
        reasons,
      };
      if (verdicts.decontamination?.pass === false) entry.contaminated = verdicts.decontamination.reason;
    }
    part.write(entry);
    progress.tick();
  }
  progress.stop();
  if (stats.candidates === 0)
    throw new UserError("no candidates in file (only blank lines)", { file: options.in });
  stats.prompts = promptIds.size;
  return stats;
}

interface SecondPass {
  notSelected: number;
  promptExact: number;
  promptNear: number;
  responseExact: number;
  responseNear: number;
  kept: number;
  keptPrompts: number;
  hardPrompts: number;
}

/** Pass 2, a partition at a time: rejection sampling by policy, then deduplication. */
async function selectAndDedup(
  options: ResolvedFilterOptions,
  config: CheckConfig,
  parts: JsonlAppender[],
  rejected: JsonlAppender,
  kept: JsonlAppender,
  hard: JsonlAppender,
): Promise<SecondPass> {
  const stats: SecondPass = {
    notSelected: 0,
    promptExact: 0,
    promptNear: 0,
    responseExact: 0,
    responseNear: 0,
    kept: 0,
    keptPrompts: 0,
    hardPrompts: 0,
  };
  const dedupOptions = {
    threshold: options.nearDupThreshold,
    numPerm: options.nearDupPermutations,
    shingle: options.nearDupShingle,
    minWords: options.nearDupMinWords,
  };
  const prompts =
    options.dedup === "all" || options.dedup === "prompts" ? new Deduplicator(dedupOptions) : null;
  const responses =
    options.dedup === "all" || options.dedup === "responses" ? new Deduplicator(dedupOptions) : null;
  const reject = (record: Entry["record"] & object, step: string, reason: string) =>
    rejected.write({ ...record, rejected_at: step, reasons: [reason] });
  for (const part of parts) {
    const groups = new Map<string, Entry[]>();
    for await (const { value } of readJsonl<Entry>(part.file)) {
      const group = groups.get(value.prompt_id);
      if (group) group.push(value);
      else groups.set(value.prompt_id, [value]);
    }
    const ordered = [...groups].map(([id, entries]) => ({ id, entries, h: hash53(id) }));
    ordered.sort((a, b) => a.h - b.h);
    for (const { id: promptId, entries } of ordered) {
      const passing = entries.filter((e) => e.record).map((e) => e.record!);
      if (passing.length === 0) {
        if (!entries.some((e) => e.contaminated)) {
          stats.hardPrompts++;
          hard.write(hardPrompt(promptId, entries));
        }
        continue;
      }
      const texts = passing.map((r) => responseText(r, config.markers));
      const chosen = new Set(
        selectCandidates(
          passing.map((r, i) => ({ sampleIndex: r.sample_index, text: texts[i] })),
          options.policy,
          options.maxPerPrompt,
        ),
      );
      const selected: number[] = [];
      for (let i = 0; i < passing.length; i++) {
        if (chosen.has(i)) selected.push(i);
        else {
          stats.notSelected++;
          reject(passing[i], "rejection-sampling", `not selected by ${options.policy}`);
        }
      }
      const duplicate = prompts?.check(passing[0].prompt, promptId);
      if (duplicate) {
        for (const i of selected) {
          if (duplicate.kind === "exact") stats.promptExact++;
          else stats.promptNear++;
          reject(
            passing[i],
            `dedup-prompt-${duplicate.kind}`,
            `${duplicate.kind} duplicate of an earlier prompt`,
          );
        }
        continue;
      }
      let keptHere = 0;
      for (const i of selected) {
        const record = passing[i];
        const owner = `${promptId}#${record.sample_index}`;
        const dup = responses?.check(texts[i], owner);
        if (dup) {
          if (dup.kind === "exact") stats.responseExact++;
          else stats.responseNear++;
          reject(record, `dedup-response-${dup.kind}`, `${dup.kind} duplicate of an earlier response`);
          continue;
        }
        kept.write(record);
        stats.kept++;
        keptHere++;
      }
      if (keptHere > 0) stats.keptPrompts++;
    }
  }
  return stats;
}

function hardPrompt(promptId: string, entries: Entry[]) {
  const stub = entries[0].stub!;
  const reasons: Record<string, number> = {};
  for (const e of entries) for (const name of e.failed) reasons[name] = (reasons[name] ?? 0) + 1;
  return {
    prompt_id: promptId,
    prompt: stub.prompt,
    ...(stub.gold === undefined ? {} : { gold: stub.gold }),
    ...(stub.source === undefined ? {} : { source: stub.source }),
    ...(stub.band === undefined ? {} : { band: stub.band }),
    candidates: entries.length,
    failed_checks: reasons,
  };
}

function funnelOf(options: ResolvedFilterOptions, first: FirstPass, second: SecondPass): Funnel {
  const steps: FunnelStep[] = [];
  let remaining = first.candidates;
  const add = (step: string, removed: number) => {
    remaining -= removed;
    steps.push({ step, removed, remaining });
  };
  for (const [name, removed] of Object.entries(first.removedAt)) add(name, removed);
  add(`rejection-sampling (${options.policy})`, second.notSelected);
  if (options.dedup === "all" || options.dedup === "prompts") {
    add("dedup-prompt-exact", second.promptExact);
    add("dedup-prompt-near", second.promptNear);
  }
  if (options.dedup === "all" || options.dedup === "responses") {
    add("dedup-response-exact", second.responseExact);
    add("dedup-response-near", second.responseNear);
  }
  return {
    input: options.in,
    candidates: first.candidates,
    prompts: first.prompts,
    policy: options.policy,
    steps,
    kept: second.kept,
    kept_prompts: second.keptPrompts,
    hard_prompts: second.hardPrompts,
    contaminated_prompts: first.contaminatedPrompts,
    failures: first.failures,
  };
}
