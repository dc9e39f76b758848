import { defaultMarkers, type TemplateMarkers } from "../template/markers.ts";
import { memoize } from "../util/memo.ts";
import { isEquivalent } from "../verify/equivalent.ts";
import { extractAnswer } from "../verify/extract.ts";
import { checkLinearEquationAnswer } from "../verify/linear.ts";
import { findEquation } from "./equations/find.ts";
import { answerGeneral } from "./general.ts";

/**
 * The one place answers are judged: the filter's correctness check, `distill eval` and the demo all
 * call `gradeAnswer`, so a student is scored by the rule its training data was filtered by. Each
 * prompt source's task says where the right answer comes from (the prompt itself where the task can
 * compute it, else the gold) and how an answer is compared with it.
 */

/** What grading reads of a candidate: the fields of a `generations.jsonl` line it needs. */
export interface Gradable {
  prompt: string;
  gold?: unknown;
  source?: unknown;
  /** The template's answer part, as generate parsed it. */
  answer: string | null;
  completion: string;
  finish_reason?: string;
}

/**
 * A verdict on one candidate. `correct: null` is "cannot tell", and `unknown` says why: the prompt has
 * no gold to compare with (`no-gold`), or the answer or the task's own check cannot be read.
 */
export interface Grade {
  correct: boolean | null;
  /** The answer judged (see `finalAnswer`); null when the candidate gives none. */
  answer: string | null;
  /** Why it is wrong or unknown, in words a person reads (`wrong answer: "6" does not solve 3x + 5 = 20`). */
  reason?: string;
  unknown?: "no-gold" | "unverifiable";
}

type Verdict = Omit<Grade, "answer">;

/** A task: how its prompts' answers are judged. */
export interface Task {
  /** The prompt source it owns, e.g. `builtin:equations` (a query such as `?split=test` aside). */
  source: string;
  /** Judging compares with each prompt's gold, so a prompt set without golds cannot be scored. */
  needsGold: boolean;
  judge(answer: string | null, candidate: Gradable, markers: TemplateMarkers): Verdict;
}

/** Answers to questions with a gold: the verifier (numbers, LaTeX, expressions…), words as text. */
const goldTask: Task = {
  source: "*",
  needsGold: true,
  judge(answer, candidate, markers) {
    const gold = typeof candidate.gold === "string" ? candidate.gold : undefined;
    if (gold === undefined || gold.trim() === "")
      return { correct: null, reason: "no gold answer", unknown: "no-gold" };
    if (answer === null) return noAnswer;
    if (isPlainWords(gold)) return compareText(gold, answer);
    const verdict = isEquivalent(gold, answer, {
      answerStart: markers.answerOpen,
      answerEnd: markers.answerClose,
    });
    if (verdict === null) return unverifiable(`cannot compare ${clip(answer)} with gold ${clip(gold)}`);
    return verdict
      ? { correct: true }
      : { correct: false, reason: `wrong answer: ${clip(answer)} ≠ gold ${clip(gold)}` };
  },
};

/** The task of each prompt source with a rule of its own; every other source is judged against its gold. */
export const tasks: Record<string, Task> = {
  /** Substituted into the prompt's own equation: a wrong gold cannot let a wrong answer through. */
  "builtin:equations": {
    source: "builtin:equations",
    needsGold: false,
    judge(answer, candidate) {
      const equation = equationOf(candidate.prompt);
      if (equation === null) return unverifiable("no linear equation found in the prompt");
      if (answer === null) return noAnswer;
      const verdict = substitute(`${equation}\u0000${answer}`);
      if (verdict === null) return unverifiable(`cannot read ${clip(answer)} as a value for ${equation}`);
      return verdict
        ? { correct: true }
        : { correct: false, reason: `wrong answer: ${clip(answer)} does not solve ${equation}` };
    },
  },
  /** Answered again from the prompt and compared as text; a prompt of no known kind falls back to its gold. */
  "builtin:general": {
    source: "builtin:general",
    needsGold: false,
    judge(answer, candidate, markers) {
      const expected = answerGeneral(candidate.prompt)?.answer;
      if (expected === undefined) return goldTask.judge(answer, candidate, markers);
      return answer === null ? noAnswer : compareText(expected, answer);
    },
  },
};

/** The task of a prompt source (`builtin:equations?split=test` → the equations task). */
export function taskOf(source: unknown): Task {
  const key = typeof source === "string" ? source.split("?")[0] : "";
  return tasks[key] ?? goldTask;
}

/** Judge one candidate by its source's task. Never throws. */
export function gradeAnswer(candidate: Gradable, markers: TemplateMarkers = defaultMarkers): Grade {
  const answer = finalAnswer(candidate, markers);
  try {
    return { answer, ...taskOf(candidate.source).judge(answer, candidate, markers) };
  } catch (err) {
    return { answer, ...unverifiable(`the check failed: ${(err as Error).message}`) };
  }
}

/**
 * The answer a candidate gives: the template's answer part; when the markers are broken, what the
 * verifier extracts from the prose ("so the answer is x = 5"), except from a truncated completion,
 * whose last number is where it was cut, not an answer.
 */
export function finalAnswer(candidate: Gradable, markers: TemplateMarkers = defaultMarkers): string | null {
  if (typeof candidate.answer === "string" && candidate.answer.trim() !== "") return candidate.answer;
  if (candidate.finish_reason === "length") return null;
  try {
    const found = extractAnswer(candidate.completion, {
      answerStart: markers.answerOpen,
      answerEnd: markers.answerClose,
    });
    return found?.trim() ? found : null;
  } catch {
    return null;
  }
}

const noAnswer: Verdict = { correct: false, reason: "wrong answer: no answer given" };

function unverifiable(reason: string): Verdict {
  return { correct: null, reason: `unverifiable: ${reason}`, unknown: "unverifiable" };
}

// a prompt's candidates share its equation and mostly their answer: both lookups are memoized
const equationOf = memoize(findEquation);
/** `checkLinearEquationAnswer` on "equation\0answer". */
const substitute = memoize((key: string) => {
  const cut = key.indexOf("\u0000");
  return checkLinearEquationAnswer(key.slice(0, cut), key.slice(cut + 1));
});

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

function compareText(expected: string, answer: string): Verdict {
  if (squash(expected) === squash(answer)) return { correct: true };
  return { correct: false, reason: `wrong answer: ${clip(answer)} ≠ ${clip(expected)}` };
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
