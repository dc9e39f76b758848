import { findEquation } from "../teachers/builtin/equations.ts";
import { isEquivalent } from "../verify/equivalent.ts";
import { extractAnswer } from "../verify/extract.ts";
import { checkLinearEquationAnswer } from "../verify/linear.ts";

/**
 * Is a candidate's answer right? Built-in equations are checked by substituting the answer into the
 * equation (no gold trusted); everything else by the verifier against the gold answer. The answer is
 * the template's answer part, or failing that whatever the verifier can extract from the completion.
 * `null`: cannot verify (no gold, nothing extractable).
 */
export function scoreAnswer(record: {
  prompt: string;
  gold?: string;
  answer: string | null;
  completion: string;
  source?: string;
}): boolean | null {
  const answer = record.answer ?? extractAnswer(record.completion);
  if (answer === null || answer.trim() === "") return false;
  if (record.source?.startsWith("builtin:equations")) {
    try {
      return checkLinearEquationAnswer(findEquation(record.prompt), answer);
    } catch {
      return null;
    }
  }
  if (record.gold === undefined) return null;
  return isEquivalent(record.gold, answer);
}
