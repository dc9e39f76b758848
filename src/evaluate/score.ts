import { type Gradable, gradeAnswer } from "../tasks/grading.ts";
import type { TemplateMarkers } from "../template/markers.ts";

/**
 * Is a candidate's answer right? By its task's rule (`gradeAnswer`), the one the filter keeps
 * training data by. `null`: cannot tell (no gold, or an answer the verifier cannot read).
 */
export function scoreAnswer(record: Gradable, markers?: TemplateMarkers): boolean | null {
  return gradeAnswer(record, markers).correct;
}
