import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { resolveMarkers } from "../template/markers.ts";
import { UserError } from "../util/errors.ts";
import { JsonlAppender } from "../util/jsonl.ts";
import { createProgress } from "../util/progress.ts";
import { hashSeed, seededRandom, shuffle } from "../util/random.ts";
import {
  type MixOptions,
  mixOptionsSchema,
  parseSourceSpec,
  type ResolvedMixOptions,
  type SourceSpec,
} from "./options.ts";
import { jsonlToParquet } from "./parquet.ts";
import { planCounts } from "./plan.ts";
import { type ChatRow, readChatRows } from "./rows.ts";
import { mixStats } from "./stats.ts";

export interface MixSummary {
  out: string;
  /** Rows drawn from each source (train + validation). */
  drawn: Record<string, { available: number; drawn: number }>;
  train: number;
  validation: number;
  files: string[];
}

/**
 * `distill mix`: draw rows from each source by count or share without replacement (seeded), shuffle
 * them together, hold out a validation split by prompt (every response of a prompt lands in one split,
 * so validation measures unseen prompts), and write `train.jsonl` / `validation.jsonl` in Hugging Face
 * chat format, the same as Parquet, and `stats.json`.
 *
 * Each source is read twice (count and validate, then draw); the drawn rows are held in memory to be
 * shuffled, so memory grows with the output, not the inputs. Outputs are written under temporary names
 * and renamed at the end: a failed run leaves earlier outputs as they were.
 */
export async function mix(input: MixOptions): Promise<MixSummary> {
  const options: ResolvedMixOptions = mixOptionsSchema.parse(input);
  const markers = resolveMarkers(options.markers);
  const specs: SourceSpec[] = options.source.map((spec) => {
    try {
      return parseSourceSpec(spec);
    } catch (err) {
      throw new UserError(`--source ${(err as Error).message}`);
    }
  });
  const names = new Set<string>();
  for (const s of specs) {
    if (names.has(s.name)) throw new UserError(`source name "${s.name}" is given twice`);
    names.add(s.name);
  }

  // pass 1: count and validate every row, so a bad line fails before anything is drawn
  const available: number[] = [];
  for (const s of specs) {
    let n = 0;
    for await (const _ of readChatRows(s.file, s.name, markers)) n++;
    if (n === 0) throw new UserError(`empty file: source "${s.name}" has no rows`, { file: s.file });
    available.push(n);
  }
  const counts = planCounts(
    specs.map((s, i) => ({ ...s, available: available[i] })),
    options.total,
  );

  // pass 2: draw each source's rows, a seeded subset of line positions
  const rows: ChatRow[] = [];
  const progress = createProgress(
    "mix",
    counts.reduce((a, b) => a + b, 0),
    { quiet: options.quiet },
  );
  for (const [i, s] of specs.entries()) {
    const chosen = chooseSubset(available[i], counts[i], seededRandom(hashSeed(options.seed, "mix", s.name)));
    let position = 0;
    for await (const { row } of readChatRows(s.file, s.name, markers)) {
      if (chosen[position++]) {
        rows.push(row);
        progress.tick();
      }
    }
  }
  progress.stop();
  shuffle(seededRandom(hashSeed(options.seed, "shuffle")), rows);
  const { train, validation } = splitByPrompt(rows, options.validation);

  mkdirSync(options.out, { recursive: true });
  const work = path.join(options.out, `.mix-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work);
  const files = ["train.jsonl", "validation.jsonl"];
  try {
    for (const [name, split] of [
      ["train", train],
      ["validation", validation],
    ] as const) {
      const out = new JsonlAppender(path.join(work, `${name}.jsonl`));
      try {
        for (const row of split) out.write(row);
      } finally {
        out.close();
      }
      if (options.parquet) {
        await jsonlToParquet(path.join(work, `${name}.jsonl`), path.join(work, `${name}.parquet`));
        files.push(`${name}.parquet`);
      }
    }
    const stats = mixStats({ train, validation });
    const drawn = Object.fromEntries(
      specs.map((s, i) => [s.name, { available: available[i], drawn: counts[i] }]),
    );
    writeFileSync(
      path.join(work, "stats.json"),
      `${JSON.stringify({ seed: options.seed, sources: drawn, ...stats }, null, 2)}\n`,
    );
    files.push("stats.json");
    for (const name of files) renameSync(path.join(work, name), path.join(options.out, name));
    return { out: options.out, drawn, train: train.length, validation: validation.length, files };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A uniform random subset of `k` of `n` positions (partial Fisher–Yates), as a mask. */
export function chooseSubset(n: number, k: number, random: () => number): Uint8Array {
  const positions = new Uint32Array(n);
  for (let i = 0; i < n; i++) positions[i] = i;
  const mask = new Uint8Array(n);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (n - i));
    const t = positions[i];
    positions[i] = positions[j];
    positions[j] = t;
    mask[positions[i]] = 1;
  }
  return mask;
}

/**
 * Validation rows: whole prompts, taken in shuffled order until `share` of the rows is reached (it may
 * overshoot by less than one prompt's rows). Rows without a shared prompt id are their own prompt.
 */
export function splitByPrompt(rows: ChatRow[], share: number): { train: ChatRow[]; validation: ChatRow[] } {
  const target = Math.round(rows.length * share);
  const size = new Map<string, number>();
  for (const r of rows) size.set(key(r), (size.get(key(r)) ?? 0) + 1);
  const held = new Set<string>();
  let count = 0;
  for (const r of rows) {
    if (count >= target) break;
    if (held.has(key(r))) continue;
    held.add(key(r));
    count += size.get(key(r))!;
  }
  return {
    train: rows.filter((r) => !held.has(key(r))),
    validation: rows.filter((r) => held.has(key(r))),
  };
}

function key(row: ChatRow): string {
  return `${row.source}\u0000${row.prompt_id}`;
}
