import { countTokens } from "../util/tokens.ts";
import type { ChatRow } from "./rows.ts";

/** Summary of a length distribution. */
export interface Distribution {
  count: number;
  mean: number;
  min: number;
  p10: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function distribution(values: number[]): Distribution {
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) =>
    sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0;
  const mean = sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : 0;
  return {
    count: sorted.length,
    mean: Math.round(mean * 10) / 10,
    min: at(0),
    p10: at(0.1),
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: sorted.length ? sorted[sorted.length - 1] : 0,
  };
}

/**
 * Rows per source and split, and the length of the assistant turn in characters and in approximate
 * tokens (words and punctuation marks, util/tokens.ts: within ~30% of BPE counts on English math text;
 * the student's tokenizer is not known here).
 */
export function mixStats(splits: Record<string, ChatRow[]>) {
  const sources = [...new Set(Object.values(splits).flatMap((rows) => rows.map((r) => r.source)))];
  const lengths = (rows: ChatRow[]) => {
    const assistant = rows.map((r) =>
      r.messages
        .filter((m) => m.role === "assistant")
        .map((m) => m.content)
        .join("\n"),
    );
    return {
      chars: distribution(assistant.map((a) => a.length)),
      tokens_approx: distribution(assistant.map(countTokens)),
    };
  };
  const all = Object.values(splits).flat();
  return {
    rows: Object.fromEntries(
      Object.entries(splits).map(([split, rows]) => [
        split,
        Object.fromEntries(sources.map((s) => [s, rows.filter((r) => r.source === s).length])),
      ]),
    ),
    total: Object.fromEntries(Object.entries(splits).map(([split, rows]) => [split, rows.length])),
    assistant_length: {
      all: lengths(all),
      ...Object.fromEntries(sources.map((s) => [s, lengths(all.filter((r) => r.source === s))])),
    },
  };
}
