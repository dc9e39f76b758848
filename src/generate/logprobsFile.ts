import { existsSync, renameSync } from "node:fs";
import path from "node:path";
import type { TokenLogprobs } from "../teachers/types.ts";
import { JsonlAppender, readJsonl, repairTornTail } from "../util/jsonl.ts";
import { candidateKey } from "./plan.ts";

/**
 * The teacher's log-probabilities beside `generations.jsonl` (`distill generate --logprobs K`): one line
 * per candidate, keyed like its generation line, columnar to stay small (80 KB per 1,000 tokens at K = 5, 279 KB
 * at K = 20: README). A token is its text as the endpoint sent it; `{ "bytes": [...] }` where that text is not the
 * token (a piece of a UTF-8 character); `{ "id": N }` where the endpoint sent only an id (vLLM's
 * `return_tokens_as_token_ids`, `token_id:N`). Log-probabilities are rounded to 4 decimals (1e-4 nats:
 * 0.01% of a probability); null stands for −∞.
 */
export interface LogprobsRecord {
  prompt_id: string;
  sample_index: number;
  /** The completion's tokens, in order (stop tokens left out, as endpoints leave them out). */
  tokens: TokenRef[];
  /** Each token's log-probability under the teacher. */
  logprobs: (number | null)[];
  /** Each position's top-K alternatives, most likely first, and their log-probabilities. */
  top_tokens: TokenRef[][];
  top_logprobs: (number | null)[][];
}

export type TokenRef = string | { bytes: number[] } | { id: number };

/** The side file of a generations file: `generations.jsonl` → `logprobs.jsonl`, `generations-<id>.jsonl` → `logprobs-<id>.jsonl`. */
export function logprobsFileFor(generationsFile: string): string {
  const dir = path.dirname(generationsFile);
  return path.join(dir, path.basename(generationsFile).replace(/^generations/, "logprobs"));
}

/** A candidate's line from the tokens its teacher returned. */
export function toLogprobsRecord(
  promptId: string,
  sampleIndex: number,
  tokens: TokenLogprobs[],
): LogprobsRecord {
  return {
    prompt_id: promptId,
    sample_index: sampleIndex,
    tokens: tokens.map(tokenRef),
    logprobs: tokens.map((t) => rounded(t.logprob)),
    top_tokens: tokens.map((t) => t.top_logprobs.map(tokenRef)),
    top_logprobs: tokens.map((t) => t.top_logprobs.map((a) => rounded(a.logprob))),
  };
}

const tokenIdPattern = /^token_id:(\d+)$/;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** A token as the side file keeps it (see LogprobsRecord). */
export function tokenRef(entry: { token: string; bytes: number[] }): TokenRef {
  const id = tokenIdPattern.exec(entry.token);
  if (id) return { id: Number(id[1]) };
  if (entry.bytes.length === 0) return entry.token;
  let decoded: string | undefined;
  try {
    decoded = strictUtf8.decode(Uint8Array.from(entry.bytes));
  } catch {
    decoded = undefined; // a split character: only its bytes say which token it was
  }
  return decoded === entry.token ? entry.token : { bytes: entry.bytes };
}

function rounded(logprob: number): number | null {
  return Number.isFinite(logprob) ? Math.round(logprob * 1e4) / 1e4 : null;
}

/**
 * Bring a side file back in line with its generations file after a kill: a candidate's side line is
 * written before its generation line, so a kill can leave side lines (and a torn last one) whose
 * generation never reached the disk. Those are dropped — the candidates are sampled again — as is any
 * second line of one key. Returns how many lines were dropped and how many generations have none.
 */
export async function alignLogprobsFile(
  file: string,
  generated: ReadonlySet<string>,
): Promise<{ dropped: number; missing: number }> {
  repairTornTail(file);
  if (!existsSync(file)) return { dropped: 0, missing: generated.size };
  const seen = new Set<string>();
  let dropped = 0;
  for await (const { value } of readJsonl<LogprobsRecord>(file)) {
    const key = candidateKey(value.prompt_id, value.sample_index);
    if (generated.has(key) && !seen.has(key)) seen.add(key);
    else dropped++;
  }
  if (dropped > 0) await rewriteKeeping(file, generated);
  return { dropped, missing: generated.size - seen.size };
}

/** Rewrite `file` with the first line of each key in `keep`, through a temporary file renamed over it. */
async function rewriteKeeping(file: string, keep: ReadonlySet<string>): Promise<void> {
  const tmp = `${file}.aligning`;
  const out = new JsonlAppender(tmp);
  const written = new Set<string>();
  try {
    for await (const { value } of readJsonl<LogprobsRecord>(file)) {
      const key = candidateKey(value.prompt_id, value.sample_index);
      if (!keep.has(key) || written.has(key)) continue;
      written.add(key);
      out.write(value);
    }
  } finally {
    out.close();
  }
  renameSync(tmp, file);
}
