import { responseText } from "../text.ts";
import type { CandidateRecord, CheckConfig, CheckVerdict } from "./types.ts";

/** The response (reasoning and answer, markers removed) is within [minChars, maxChars] characters. */
export function checkLength(record: CandidateRecord, config: CheckConfig): CheckVerdict {
  const chars = responseText(record, config.markers).trim().length;
  if (chars < config.minChars) return { pass: false, reason: `length: ${chars} chars < ${config.minChars}` };
  if (chars > config.maxChars) return { pass: false, reason: `length: ${chars} chars > ${config.maxChars}` };
  return { pass: true };
}
