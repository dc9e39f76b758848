import { UserError } from "../util/errors.ts";
import { hashSeed, pick, type Random, randInt, seededRandom } from "../util/random.ts";

/**
 * `builtin:general`: short everyday requests with one checkable answer — the "general data" share
 * of the mix (DeepSeek mixed ~200k non-reasoning samples with ~600k reasoning ones), so a student
 * keeps answering trivial requests briefly instead of reasoning at length about them.
 * Each kind is a prompt pattern and the function that answers it, so the built-in general teacher
 * answers any prompt in these patterns, not only generated ones.
 */
interface GeneralKind {
  name: string;
  make(random: Random): string;
  pattern: RegExp;
  answer(match: RegExpMatchArray): string;
}

const words = [
  "planet",
  "garden",
  "yellow",
  "window",
  "orange",
  "silver",
  "rocket",
  "bridge",
  "summer",
  "forest",
  "candle",
  "pencil",
  "jungle",
  "button",
  "castle",
  "dragon",
  "marble",
  "puzzle",
  "violin",
  "harbor",
];
const days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const ones = [
  "zero",
  "one",
  "two",
  "three",
  "four",
  "five",
  "six",
  "seven",
  "eight",
  "nine",
  "ten",
  "eleven",
  "twelve",
  "thirteen",
  "fourteen",
  "fifteen",
  "sixteen",
  "seventeen",
  "eighteen",
  "nineteen",
];
const tens = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

export const generalKinds: GeneralKind[] = [
  {
    name: "reverse",
    make: (r) => `Reverse the letters of the word "${pick(r, words)}".`,
    pattern: /^Reverse the letters of the word "(\w+)"\.$/,
    answer: (m) => [...m[1]].reverse().join(""),
  },
  {
    name: "count-letters",
    make: (r) => `How many letters are in the word "${pick(r, words)}"?`,
    pattern: /^How many letters are in the word "(\w+)"\?$/,
    answer: (m) => `${m[1].length}`,
  },
  {
    name: "sort",
    make: (r) =>
      `Sort these numbers from smallest to largest: ${Array.from({ length: randInt(r, 3, 5) }, () => randInt(r, 0, 99)).join(", ")}.`,
    pattern: /^Sort these numbers from smallest to largest: ([\d, ]+)\.$/,
    answer: (m) =>
      m[1]
        .split(", ")
        .map(Number)
        .sort((a, b) => a - b)
        .join(", "),
  },
  {
    name: "larger",
    make: (r) => `Which is larger, ${randInt(r, 0, 500)} or ${randInt(r, 0, 500)}?`,
    pattern: /^Which is larger, (\d+) or (\d+)\?$/,
    answer: (m) => `${Math.max(Number(m[1]), Number(m[2]))}`,
  },
  {
    name: "next-day",
    make: (r) => `What day of the week comes after ${pick(r, days)}?`,
    pattern: /^What day of the week comes after (\w+)\?$/,
    answer: (m) => days[(days.indexOf(m[1]) + 1) % 7],
  },
  {
    name: "uppercase",
    make: (r) => `Write "${pick(r, words)} ${pick(r, words)}" in capital letters.`,
    pattern: /^Write "([\w ]+)" in capital letters\.$/,
    answer: (m) => m[1].toUpperCase(),
  },
  {
    name: "minutes",
    make: (r) => `How many minutes are in ${randInt(r, 2, 12)} hours?`,
    pattern: /^How many minutes are in (\d+) hours\?$/,
    answer: (m) => `${Number(m[1]) * 60}`,
  },
  {
    name: "spell-number",
    make: (r) => `Write the number ${randInt(r, 0, 99)} in words.`,
    pattern: /^Write the number (\d+) in words\.$/,
    answer: (m) => numberInWords(Number(m[1])),
  },
];

export interface GeneralProblem {
  id: string;
  prompt: string;
  kind: string;
  answer: string;
}

export function generateGeneral(options: { count?: number; seed?: number } = {}): GeneralProblem[] {
  const count = options.count ?? 100;
  const random = seededRandom(hashSeed("general", options.seed ?? 1));
  const seen = new Set<string>();
  const problems: GeneralProblem[] = [];
  for (let attempts = 0; problems.length < count; attempts++) {
    if (attempts > count * 100 + 1000)
      throw new UserError(`only ${problems.length} distinct general prompts exist; ask for fewer`);
    // kinds drawn at random, so small kinds (7 weekdays) run out without stalling the others
    const kind = pick(random, generalKinds);
    const prompt = kind.make(random);
    if (seen.has(prompt)) continue;
    seen.add(prompt);
    const answer = answerGeneral(prompt);
    if (answer === null) throw new Error(`general kind ${kind.name} cannot answer its own prompt: ${prompt}`);
    problems.push({
      id: `gen-${hashSeed(prompt).toString(16).padStart(8, "0")}`,
      prompt,
      kind: kind.name,
      answer: answer.answer,
    });
  }
  return problems;
}

/** The answer and a one-line justification, or null when the prompt is none of the known kinds. */
export function answerGeneral(prompt: string): { kind: string; answer: string; reason: string } | null {
  const text = prompt.trim().split("\n")[0].trim();
  for (const kind of generalKinds) {
    const match = text.match(kind.pattern);
    if (match)
      return {
        kind: kind.name,
        answer: kind.answer(match),
        reason: `This is a simple ${kind.name.replace("-", " ")} request.`,
      };
  }
  return null;
}

function numberInWords(n: number): string {
  if (n < 20) return ones[n];
  const rest = n % 10;
  return rest === 0 ? tens[Math.floor(n / 10)] : `${tens[Math.floor(n / 10)]}-${ones[rest]}`;
}
