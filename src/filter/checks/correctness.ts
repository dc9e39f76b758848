import { answerGeneral } from "../../tasks/general.ts";
import { findEquation } from "../../teachers/builtin/equations.ts";
import { isEquivalent } from "../../verify/equivalent.ts";
import { extractAnswer } from "../../verify/extract.ts";
import { checkLinearEquationAnswer } from "../../verify/linear.ts";
import { memoize } from "../memo.ts";
import type { CandidateRecord, CheckConfig, CheckVerdict } from "./types.ts";

/**
 * The final answer is right. Neither the teacher nor a gold it may have written is trusted where the
 * task allows a rule:
 * - built-in equations (`source` builtin:equations…): the answer is substituted into the prompt's own
 *   equation (`checkLinearEquationAnswer`), so a wrong gold cannot let a wrong answer through;
 * - built-in general requests: the answer is recomputed from the prompt and compared as text;
 * - anything else: the verifier against `gold`; `pass: null` when there is no gold.
 * The answer is the template's answer part; when the markers are broken it is extracted from the
 * prose ("the answer is …"), except from a truncated completion, whose last number is not an answer.
 */
export function checkCorrectness(record: CandidateRecord, config: CheckConfig): CheckVerdict {
  const source = typeof record.source === "string" ? record.source : "";
  const answer = finalAnswer(record, config);
  if (source.startsWith("builtin:equations")) {
    const equation = equationOf(record.prompt);
    if (equation === null) return unverifiable("no linear equation found in the prompt", config);
    if (answer === null) return { pass: false, reason: "wrong answer: no answer given" };
    const verdict = substitute(`${equation}\u0000${answer}`);
    if (verdict === true) return { pass: true };
    if (verdict === false)
      return { pass: false, reason: `wrong answer: ${clip(answer)} does not solve ${equation}` };
    return unverifiable(`cannot read ${clip(answer)} as a value for ${equation}`, config);
  }
  if (source.startsWith("builtin:general")) {
    const expected = answerGeneral(record.prompt)?.answer;
    if (expected !== undefined) return compareText(expected, answer);
  }
  const gold = typeof record.gold === "string" ? record.gold : undefined;
  if (gold === undefined || gold.trim() === "") return { pass: null, reason: "no gold answer" };
  if (answer === null) return { pass: false, reason: "wrong answer: no answer given" };
  if (isPlainWords(gold)) return compareText(gold, answer);
  const verdict = isEquivalent(gold, answer, {
    answerStart: config.markers.answerOpen,
    answerEnd: config.markers.answerClose,
  });
  if (verdict === true) return { pass: true };
  if (verdict === false) return { pass: false, reason: `wrong answer: ${clip(answer)} ≠ gold ${clip(gold)}` };
  return unverifiable(`cannot compare ${clip(answer)} with gold ${clip(gold)}`, config);
}

function finalAnswer(record: CandidateRecord, config: CheckConfig): string | null {
  if (typeof record.answer === "string" && record.answer.trim() !== "") return record.answer;
  if (record.finish_reason === "length") return null;
  try {
    return extractAnswer(record.completion, {
      answerStart: config.markers.answerOpen,
      answerEnd: config.markers.answerClose,
    });
  } catch {
    return null;
  }
}

const equationOf = memoize((prompt: string): string | null => {
  try {
    return findEquation(prompt);
  } catch {
    return null;
  }
});

/** `checkLinearEquationAnswer` on "equation\0answer": a prompt's candidates mostly share their answer. */
const substitute = memoize((key: string) => {
  const cut = key.indexOf("\u0000");
  return checkLinearEquationAnswer(key.slice(0, cut), key.slice(cut + 1));
});

function unverifiable(reason: string, config: CheckConfig): CheckVerdict {
  return { pass: config.keepUnverifiable ? null : false, reason: `unverifiable: ${reason}` };
}

/**
 * Golds made of words only ("Tuesday", "forty-two", "licnep") are compared as text: read as algebra
 * they are products of single-letter symbols, and the verifier's commutative algebra would call
 * "licnep" and "ilcnep" equal.
 */
function isPlainWords(gold: string): boolean {
  const text = gold.trim();
  return /^\p{L}[\p{L}\s'’-]*$/u.test(text) && /\p{L}{3}/u.test(text) && !mathWords.test(text);
}
const mathWords = /^(?:sin|cos|tan|cot|sec|csc|log|ln|exp|sqrt|pi|inf|infinity|undefined|none)$/i;

function compareText(expected: string, answer: string | null): CheckVerdict {
  if (answer === null) return { pass: false, reason: "wrong answer: no answer given" };
  if (squash(expected) === squash(answer)) return { pass: true };
  return { pass: false, reason: `wrong answer: ${clip(answer)} ≠ ${clip(expected)}` };
}

/** Quotes, a final full stop and runs of spaces do not make a text answer different. */
function squash(text: string): string {
  return text
    .trim()
    .replace(/^["'“”‘’]+|["'“”‘’]+$/g, "")
    .replace(/[.。]$/, "")
    .replace(/\s+/g, " ")
    .trim();
}

function clip(text: string): string {
  const one = text.replace(/\s+/g, " ").trim();
  return JSON.stringify(one.length > 60 ? `${one.slice(0, 57)}…` : one);
}
