import type { CandidateRecord, CheckConfig, CheckVerdict } from "./types.ts";

/** The completion follows the template: each marker once, in order, nothing outside (parsed `problems`). */
export function checkTemplate(record: CandidateRecord, _config: CheckConfig): CheckVerdict {
  const problems = Array.isArray(record.problems) ? record.problems : [];
  if (record.conforms && problems.length === 0) return { pass: true };
  return { pass: false, reason: `template: ${problems.join(", ") || "does not conform"}` };
}
