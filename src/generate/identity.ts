import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { PromptRecord } from "../tasks/sources.ts";
import { teacherModelOf } from "../teachers/spec.ts";
import type { TemplateMarkers } from "../template/markers.ts";
import { UserError } from "../util/errors.ts";
import { hashSeed } from "../util/random.ts";

export { teacherModelOf };

/**
 * What a run folder's candidates were made with. Resuming with any of it changed would mix two
 * configurations in one file, so it is refused — or, with `--new-params`, continued as a new
 * configuration in files of its own. Endpoint URLs are left out on purpose: a fleet serving the
 * same model may grow or shrink between resumes, and shards made on different machines still merge.
 */
export interface RunIdentity {
  prompts: string;
  /** Hash of the prompts used (after `--limit`, before `--shard`): ids, texts and gold answers. */
  promptsFingerprint: string;
  /** The teacher spec without its endpoint URLs, e.g. `openai:deepseek-reasoner`. */
  teacher: string;
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number;
  markers: TemplateMarkers;
  /** `i/n` when the run generates one shard of the prompts. */
  shard?: string;
  /** `--logprobs K`: the teacher's top-K log-probabilities are recorded beside each candidate. */
  logprobs?: number;
}

/** One configuration of a run folder and the files holding its candidates. */
export interface RunConfig {
  id: string;
  identity: RunIdentity;
  generations: string;
  failed: string;
}

/** The run-folder file `generate.json`; camelCase like the library's options it records. */
export interface RunInfo {
  /** The identity of the configuration the latest run used (kept at the top for `jq` and older readers). */
  identity: RunIdentity;
  config: string;
  configs: RunConfig[];
  /** How the prompt list was read and sized, so `distill merge` can rebuild it and find gaps. */
  run?: {
    samplesPerPrompt: number;
    limit?: number;
    promptCount: number;
    promptOptions: { promptField?: string; answerField?: string; idField?: string };
  };
  [more: string]: unknown;
}

/** A short stable id of an identity (8 hex digits). */
export function configId(identity: RunIdentity): string {
  return createHash("sha256").update(stableJson(identity)).digest("hex").slice(0, 8);
}

export function fingerprintPrompts(prompts: PromptRecord[]): string {
  const hash = createHash("sha256");
  for (const p of prompts) hash.update(`${p.id}\u0000${p.prompt}\u0000${p.gold ?? ""}\n`);
  return hash.digest("hex").slice(0, 16);
}

/** Whether a prompt belongs to shard `i/n` (1-based). By hash of its id, so adding prompts moves none. */
export function inShard(promptId: string, shard: string): boolean {
  const [i, n] = shard.split("/").map(Number);
  return hashSeed("shard", promptId) % n === i - 1;
}

export function readRunInfo(out: string): RunInfo | undefined {
  const file = path.join(out, "generate.json");
  if (!existsSync(file)) return undefined;
  let info: RunInfo;
  try {
    info = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    throw new UserError("cannot read the run's settings; remove it to start afresh", { file });
  }
  if (!info?.identity) throw new UserError("no identity recorded; remove it to start afresh", { file });
  if (!Array.isArray(info.configs)) {
    // written before configurations had ids: one configuration in the plain files
    const identity = { ...info.identity, teacher: teacherModelOf(info.identity.teacher) };
    info.configs = [
      { id: configId(identity), identity, generations: "generations.jsonl", failed: "failed.jsonl" },
    ];
    info.config = info.configs[0].id;
  }
  return info;
}

/** The configuration the folder's latest run used. */
export function currentConfigOf(info: RunInfo): RunConfig {
  return info.configs.find((c) => c.id === info.config) ?? info.configs.at(-1)!;
}

export function writeRunInfo(out: string, info: RunInfo): void {
  writeFileSync(path.join(out, "generate.json"), `${JSON.stringify(info, null, 2)}\n`);
}

/**
 * The configuration a run continues: a recorded one with this identity, or — only with `newParams` — a
 * new one with files of its own (`generations-<id>.jsonl`). Otherwise refuse, naming what changed and
 * offering `remedy` (a stage built on generate offers what its own options allow).
 */
export function resolveConfig(
  out: string,
  identity: RunIdentity,
  newParams: boolean,
  remedy = "use another --out, or add --new-params to continue here as a new configuration in files of its own",
): { config: RunConfig; info: RunInfo } {
  const info = readRunInfo(out);
  const id = configId(identity);
  if (!info) {
    const config = { id, identity, generations: "generations.jsonl", failed: "failed.jsonl" };
    return { config, info: { identity, config: id, configs: [config] } };
  }
  const known = info.configs.find((c) => sameIdentity(c.identity, identity));
  if (known) {
    // fields an older version did not record are filled in
    const config = { ...known, identity };
    info.configs = info.configs.map((c) => (c === known ? config : c));
    return { config, info: { ...info, identity, config: config.id } };
  }
  const latest = currentConfigOf(info);
  if (!newParams) {
    throw new UserError(
      `this run folder was generated with other settings (${describeChanges(latest.identity, identity)}); ${remedy}`,
      { file: path.join(out, "generate.json") },
    );
  }
  const config = { id, identity, generations: `generations-${id}.jsonl`, failed: `failed-${id}.jsonl` };
  info.configs.push(config);
  return { config, info: { ...info, identity, config: id } };
}

/** `temperature 0.6 → 0.9, shard "1/2" → "2/2"`; fields an older run did not record are not compared. */
export function describeChanges(
  before: Partial<RunIdentity>,
  after: RunIdentity,
  skip: string[] = [],
): string {
  return changedKeys(before, after, skip)
    .map((k) => `${k} ${JSON.stringify(before[k]) ?? "(none)"} → ${JSON.stringify(after[k]) ?? "(none)"}`)
    .join(", ");
}

export function changedKeys(
  before: Partial<RunIdentity>,
  after: RunIdentity,
  skip: string[] = [],
): (keyof RunIdentity)[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)] as (keyof RunIdentity)[]);
  return [...keys].filter((k) => {
    if (skip.includes(k)) return false;
    if (k === "promptsFingerprint" && before[k] === undefined) return false; // not recorded then
    const a = k === "teacher" && before[k] ? teacherModelOf(before[k]) : before[k];
    return stableJson(a) !== stableJson(after[k]);
  });
}

function sameIdentity(a: Partial<RunIdentity>, b: RunIdentity): boolean {
  return changedKeys(a, b).length === 0;
}

/** JSON with object keys sorted, so equal identities hash equally whatever order they were built in. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => x.localeCompare(y)))
      : v,
  );
}
