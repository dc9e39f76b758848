/** distillery's library API: one function per pipeline stage, plus the building blocks they share. */

export * from "./engine/index.ts";
export * from "./model/index.ts";
export * from "./tokenizer/index.ts";
export { UserError } from "./util/errors.ts";
export { isEquivalent, numbersClose, type Verdict, type VerifyOptions } from "./verify/equivalent.ts";
export { type Candidate, type ExtractOptions, extractAnswer, extractCandidates } from "./verify/extract.ts";
export { checkLinearEquationAnswer, parseLinearAnswer } from "./verify/linear.ts";
export { parseAnswer, type Value } from "./verify/parse.ts";
export { type VerifySummary, verifyFile } from "./verify/verify.ts";
