/** distillery's library API: one function per pipeline stage, plus the building blocks they share. */

export * from "./engine/index.ts";
export {
  type EvaluateOptions,
  type EvaluateSummary,
  evaluate,
  type ModelScore,
} from "./evaluate/evaluate.ts";
export { scoreAnswer } from "./evaluate/score.ts";
export { type ExportSummary, exportModel } from "./export/export.ts";
export { type ExportOptions, exportOptionsSchema } from "./export/options.ts";
export {
  type CandidateRecord,
  type Check,
  type CheckConfig,
  type CheckVerdict,
  checkCorrectness,
  checkLanguage,
  checkLength,
  checkParagraphs,
  checkRepetition,
  checks as filterChecks,
  checkTemplate,
  checkTruncation,
  defaultCheckConfig,
  runChecks,
} from "./filter/checks/index.ts";
export { buildDecontaminationIndex, type DecontaminationIndex } from "./filter/decontaminate.ts";
export { Deduplicator, type DedupOptions } from "./filter/dedup.ts";
export { type Funnel, type FunnelStep, filter } from "./filter/filter.ts";
export { LshIndex, minhashSignature } from "./filter/minhash.ts";
export { type FilterOptions, filterOptionsSchema } from "./filter/options.ts";
export { type Policy, policies, selectCandidates } from "./filter/policy.ts";
export { type GenerateSummary, type GenerationRecord, generate } from "./generate/generate.ts";
export { type GenerateOptions, generateOptionsSchema } from "./generate/options.ts";
export { type Gap, type MergeOptions, type MergeSummary, merge, mergeOptionsSchema } from "./merge/merge.ts";
export { type MixSummary, mix } from "./mix/mix.ts";
export { type MixOptions, mixOptionsSchema } from "./mix/options.ts";
export { jsonlToParquet } from "./mix/parquet.ts";
export type { ChatRow } from "./mix/rows.ts";
export * from "./model/index.ts";
export { type ReportOptions, renderReport, report } from "./report/report.ts";
export { type RunData, readRun } from "./report/run.ts";
export { type RunningServer, type ServeOptions, serve } from "./serve/serve.ts";
export {
  type EquationBand,
  equationBands,
  equationPrompt,
  generateEquations,
} from "./tasks/equations/generate.ts";
export { solveSteps } from "./tasks/equations/steps.ts";
export { generalKinds, generateGeneral } from "./tasks/general.ts";
export { type Gradable, type Grade, gradeAnswer, type Task, taskOf, tasks } from "./tasks/grading.ts";
export { loadPrompts, type PromptRecord, type SourceOptions } from "./tasks/sources.ts";
export { createEquationsTeacher } from "./teachers/builtin/equations.ts";
export { type FaultKind, faultKinds, faultRates } from "./teachers/builtin/faults.ts";
export { createGeneralTeacher } from "./teachers/builtin/general.ts";
export { createGgufTeacher } from "./teachers/gguf.ts";
export { createLocalModelTeacher } from "./teachers/local.ts";
export { createOpenAITeacher } from "./teachers/openai.ts";
export { createTeacherPool, type EndpointLimits, type TeacherPool } from "./teachers/pool.ts";
export { createTeacher, teacherFactories } from "./teachers/registry.ts";
export { parseTeacherSpec, type TeacherSpec } from "./teachers/spec.ts";
export type { Completion, SampleRequest, Teacher } from "./teachers/types.ts";
export { TeacherError } from "./teachers/types.ts";
export {
  defaultMarkers,
  foldReasoning,
  formatCompletion,
  lastBoxed,
  type ParsedCompletion,
  parseCompletion,
  renderChatSample,
  renderInstruction,
  renderTeacherMessages,
  resolveMarkers,
  type TemplateMarkers,
  type TemplateProblem,
} from "./template/index.ts";
export * from "./tokenizer/index.ts";
export { type TrainOptions, trainOptionsSchema } from "./train/options.ts";
export { presets as studentPresets } from "./train/presets.ts";
export { type TrainSummary, train } from "./train/train.ts";
export { UserError } from "./util/errors.ts";
export { generalSet, type RunLayout, runLayout } from "./util/runLayout.ts";
export { isEquivalent, numbersClose, type Verdict, type VerifyOptions } from "./verify/equivalent.ts";
export { type Candidate, type ExtractOptions, extractAnswer, extractCandidates } from "./verify/extract.ts";
export { checkLinearEquationAnswer, parseLinearAnswer } from "./verify/linear.ts";
export { parseAnswer, type Value } from "./verify/parse.ts";
export { type VerifySummary, verify, verifyFile } from "./verify/verify.ts";
