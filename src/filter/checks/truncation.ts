import type { CandidateRecord, CheckConfig, CheckVerdict } from "./types.ts";

/** The teacher stopped on its own: `finish_reason: "length"` means the token limit cut the completion. */
export function checkTruncation(record: CandidateRecord, _config: CheckConfig): CheckVerdict {
  const reason = record.finish_reason;
  if (typeof reason !== "string" || reason === "") return { pass: null, reason: "no finish_reason" };
  if (reason === "length") return { pass: false, reason: "truncated: finish_reason length" };
  return { pass: true };
}
