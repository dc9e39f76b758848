import { createReadStream } from "node:fs";
import type { TemplateMarkers } from "../template/markers.ts";
import { parseCompletion } from "../template/parse.ts";
import { UserError } from "../util/errors.ts";
import { readJsonl } from "../util/jsonl.ts";
import type { CandidateRecord } from "./checks/types.ts";

/**
 * Stream the candidates of a generations.jsonl with their line numbers and byte sizes.
 * Fields the stage reads are validated here, so a bad line fails with its file, line and field before
 * anything is judged: `prompt_id` (string), `sample_index` (integer ≥ 0), `prompt` and `completion`
 * (strings). Parsed fields (`reasoning`, `answer`, `conforms`, `problems`) are filled from `completion`
 * when a line lacks them, so files written by other tools can be filtered too.
 */
export async function* readCandidates(
  file: string,
  markers: TemplateMarkers,
): AsyncGenerator<{ record: CandidateRecord; line: number; bytes: number }> {
  for await (const { value, line, bytes } of readJsonl(file)) {
    yield { record: validate(value, file, line, markers), line, bytes };
  }
}

function validate(value: unknown, file: string, line: number, markers: TemplateMarkers): CandidateRecord {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new UserError("expected a JSON object (one candidate a line)", { file, line });
  const row = value as Record<string, unknown>;
  const need = (field: string, ok: boolean, what: string) => {
    if (!ok)
      throw new UserError(row[field] === undefined ? `missing (${what})` : `must be ${what}`, {
        file,
        line,
        field,
      });
  };
  need("prompt_id", typeof row.prompt_id === "string" && row.prompt_id !== "", "a non-empty string");
  need(
    "sample_index",
    Number.isInteger(row.sample_index) && (row.sample_index as number) >= 0,
    "an integer ≥ 0",
  );
  need("prompt", typeof row.prompt === "string", "a string");
  need("completion", typeof row.completion === "string", "a string");
  if (row.gold !== undefined && row.gold !== null && typeof row.gold !== "string")
    row.gold = String(row.gold);
  if (!Array.isArray(row.problems) || typeof row.conforms !== "boolean") {
    const parsed = parseCompletion(
      row.completion as string,
      markers,
      typeof row.completion_reasoning === "string" ? row.completion_reasoning : undefined,
    );
    Object.assign(row, parsed);
  }
  return row as CandidateRecord;
}

/**
 * How many candidates a generations.jsonl holds (its non-blank lines), for progress in candidates.
 * One pass over the bytes, no parsing: a fraction of what judging them costs.
 */
export async function countCandidates(file: string): Promise<number> {
  let count = 0;
  let blank = true;
  try {
    for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
      for (let i = 0; i < chunk.length; i++) {
        const byte = chunk[i];
        if (byte === 0x0a) {
          if (!blank) count++;
          blank = true;
        } else if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0d) blank = false;
      }
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new UserError("file not found", { file });
    throw err;
  }
  return blank ? count : count + 1;
}
