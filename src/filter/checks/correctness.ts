import { gradeAnswer } from "../../tasks/grading.ts";
import type { CandidateRecord, CheckConfig, CheckVerdict } from "./types.ts";

/**
 * The final answer is right, by the task's own rule (`gradeAnswer`, the one eval scores students by):
 * built-in equations by substitution into the prompt's equation, built-in general requests answered
 * again from the prompt, anything else by the verifier against `gold` — never by what the teacher claims.
 * `pass: null` when there is no gold; an answer that cannot be compared fails unless `keepUnverifiable`.
 */
export function checkCorrectness(record: CandidateRecord, config: CheckConfig): CheckVerdict {
  const grade = gradeAnswer(record, config.markers);
  if (grade.correct === true) return { pass: true };
  if (grade.correct === false) return { pass: false, reason: grade.reason };
  if (grade.unknown === "no-gold") return { pass: null, reason: grade.reason };
  return { pass: config.keepUnverifiable ? null : false, reason: grade.reason };
}
