import type { GenerationRecord } from "../generate/generate.ts";
import { type Gradable, gradeAnswer } from "../tasks/grading.ts";
import type { TemplateMarkers } from "../template/markers.ts";
import type { EvaluatedRecord } from "./evaluate.ts";

/**
 * Is a candidate's answer right? By its task's rule (`gradeAnswer`), the one the filter keeps
 * training data by. `null`: cannot tell (no gold, or an answer the verifier cannot read).
 */
export function scoreAnswer(record: Gradable, markers?: TemplateMarkers): boolean | null {
  return gradeAnswer(record, markers).correct;
}

/** A generated sample with its verdict, as `results.jsonl` holds it. */
export function gradeRecord(record: GenerationRecord, markers?: TemplateMarkers): EvaluatedRecord {
  const grade = gradeAnswer(record, markers);
  return {
    ...record,
    correct: grade.correct,
    graded_answer: grade.answer,
    ...(grade.reason ? { grade_reason: grade.reason } : {}),
  };
}
