import { checkCorrectness } from "./correctness.ts";
import { checkLanguage } from "./language.ts";
import { checkLength } from "./length.ts";
import { checkParagraphs } from "./paragraphs.ts";
import { checkRepetition } from "./repetition.ts";
import { checkTemplate } from "./template.ts";
import { checkTruncation } from "./truncation.ts";
import type { CandidateRecord, Check, CheckConfig, CheckVerdict } from "./types.ts";

export { defaultCheckConfig } from "./defaults.ts";
export type { CandidateRecord, Check, CheckConfig, CheckVerdict };
export {
  checkCorrectness,
  checkLanguage,
  checkLength,
  checkParagraphs,
  checkRepetition,
  checkTemplate,
  checkTruncation,
};

/**
 * The checks in funnel order: structural checks first (truncation before template, since a cut-off
 * completion also lacks its closing markers and truncation is the cause), then the answer, then readability.
 */
export const checks: { name: string; run: Check }[] = [
  { name: "truncation", run: checkTruncation },
  { name: "template", run: checkTemplate },
  { name: "correctness", run: checkCorrectness },
  { name: "language", run: checkLanguage },
  { name: "paragraphs", run: checkParagraphs },
  { name: "repetition", run: checkRepetition },
  { name: "length", run: checkLength },
];

/** Run every check (not only up to the first failure), so a rejected row lists every reason. */
export function runChecks(record: CandidateRecord, config: CheckConfig): Record<string, CheckVerdict> {
  const verdicts: Record<string, CheckVerdict> = {};
  for (const { name, run } of checks) {
    try {
      verdicts[name] = run(record, config);
    } catch (err) {
      // A check must not throw; if one does, the row is not lost: it is judged "cannot check".
      verdicts[name] = { pass: null, reason: `check failed: ${(err as Error).message}` };
    }
  }
  return verdicts;
}
