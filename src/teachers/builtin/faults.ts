import type { TemplateMarkers } from "../../template/markers.ts";
import { pick, type Random, randInt, shuffle } from "../../util/random.ts";
import { countTokens, truncateTokens } from "../../util/tokens.ts";
import type { Completion, FinishReason } from "../types.ts";

/**
 * The faults a sampled LLM makes that the filters must catch. The built-in teachers inject them at
 * temperature > 0, each independently, with probability `min(1, rate × temperature)`:
 *
 * | fault            | rate × T | at T = 0.6 | at T = 0.8 | what it looks like                               |
 * | ---------------- | -------- | ---------- | ---------- | ------------------------------------------------ |
 * | arithmetic-slip  | 0.30     | 18%        | 24%        | one step computed wrong, a wrong final answer    |
 * | broken-markers   | 0.10     | 6%         | 8%         | a marker dropped, repeated, or the answer outside |
 * | language-mix     | 0.08     | 4.8%       | 6.4%       | a sentence in Chinese, Danish or Russian          |
 * | long-paragraph   | 0.06     | 3.6%       | 4.8%       | the reasoning as one huge rambling paragraph      |
 * | repetition       | 0.06     | 3.6%       | 4.8%       | one line repeated 8–20 times in a loop            |
 * | truncation       | 0.06     | 3.6%       | 4.8%       | cut off mid-way, `finish_reason: "length"`        |
 *
 * At temperature 0 nothing is injected. Every completion records what was injected in
 * `meta.injected`, so tests can check the filters against the teacher's own record.
 */
export const faultRates = {
  "arithmetic-slip": 0.3,
  "broken-markers": 0.1,
  "language-mix": 0.08,
  "long-paragraph": 0.06,
  repetition: 0.06,
  truncation: 0.06,
} as const;

export type FaultKind = keyof typeof faultRates;
export const faultKinds = Object.keys(faultRates) as FaultKind[];

export function drawFaults(
  random: Random,
  temperature: number,
  kinds: readonly FaultKind[] = faultKinds,
): FaultKind[] {
  if (temperature <= 0) return [];
  // draw for every kind, always in the same order, so a seed gives the same faults whatever the subset
  return faultKinds.filter(
    (kind) => random() < Math.min(1, faultRates[kind] * temperature) && kinds.includes(kind),
  );
}

const foreignSentences = [
  "我们先把常数项移到等号的另一边。", // Chinese: first move the constant to the other side
  "这样就可以求出未知数的值。", // Chinese: then the unknown's value can be found
  "现在我们来检查一下这个结果是否正确。", // Chinese: now let us check whether this result is right
  "Nu flytter vi konstanten over på den anden side af lighedstegnet.", // Danish
  "Derefter kan vi nemt finde værdien af den ukendte variabel.", // Danish
  "Теперь перенесём свободный член в правую часть уравнения.", // Russian
  "Проверим, правильно ли мы нашли значение переменной.", // Russian
];

const fillerSentences = [
  "Let me think about this very carefully before doing anything else",
  "I want to make sure that every single step here is completely justified",
  "It is often useful to remember that whatever we do to one side we must also do to the other side",
  "So I will keep that principle in mind as I go through the whole calculation slowly",
  "Of course there are several ways to approach a problem like this one",
  "Some people like to move the terms around first while others prefer to simplify first",
  "In any case the important thing is to keep track of the signs and not lose any of them",
  "Now that I have thought about the general strategy I can actually carry it out",
  "Hmm, wait, let me reconsider whether I have written everything down correctly so far",
  "Yes, I believe that what I have done up to this point is consistent and correct",
  "It is also worth noting that checking the answer at the end is always a good habit",
  "Anyway, continuing with the calculation from where I left off a moment ago",
];

/** A sentence in another language/script inserted between two reasoning lines. */
export function mixLanguage(random: Random, lines: string[]): string[] {
  const at = randInt(random, 1, lines.length);
  return [...lines.slice(0, at), pick(random, foreignSentences), ...lines.slice(at)];
}

/** All lines run together with rambling filler into one paragraph of at least 1,200 characters. */
export function rambleOneParagraph(random: Random, lines: string[]): string[] {
  const filler = shuffle(random, [...fillerSentences]);
  const parts = [...filler.slice(0, 4), ...lines, ...filler.slice(4)].map((s) =>
    /[.。]$/.test(s) ? s : `${s.replace(/:$/, "")}.`,
  );
  let paragraph = parts.join(" ");
  for (let i = 0; paragraph.length < 1200; i++) paragraph += ` ${filler[i % filler.length]}.`;
  return [paragraph];
}

/** One line repeated 8–20 times in a row, a decoding loop. */
export function repeatLoop(random: Random, lines: string[]): string[] {
  const at = randInt(random, 0, lines.length - 1);
  const loop = Array.from({ length: randInt(random, 8, 20) }, () => lines[at]);
  return [...lines.slice(0, at), ...loop, ...lines.slice(at)];
}

/** One of the ways a completion breaks the template. */
export function breakMarkers(random: Random, text: string, answer: string, m: TemplateMarkers): string {
  switch (randInt(random, 0, 4)) {
    case 0:
      return text.replace(m.thinkOpen, "").trimStart(); // no opening think marker
    case 1:
      return text.replace(m.thinkClose, ""); // reasoning never closed
    case 2:
      return text.replace(m.answerClose, ""); // answer never closed
    case 3:
      return `${text}\n${m.answerOpen}${answer}${m.answerClose}`; // answer given twice
    default:
      // the answer written as prose instead of between the answer markers
      return text.replace(`${m.answerOpen}${answer}${m.answerClose}`, `So the answer is ${answer}.`);
  }
}

/** Cut somewhere in the middle (40–90% of the text), as a max-tokens stop does. */
export function truncateMidway(random: Random, text: string): string {
  return text.slice(0, Math.floor(text.length * (0.4 + 0.5 * random())));
}

/**
 * The completion as a built-in teacher returns it: cut midway when truncation was injected, cut at
 * `maxTokens` like any model, with approximate token usage and the record of what was injected.
 */
export function finishCompletion(
  random: Random,
  text: string,
  prompt: string,
  maxTokens: number,
  injected: FaultKind[],
): Completion {
  let finishReason: FinishReason = "stop";
  if (injected.includes("truncation")) {
    text = truncateMidway(random, text);
    finishReason = "length";
  }
  if (countTokens(text) > maxTokens) {
    text = truncateTokens(text, maxTokens);
    finishReason = "length";
  }
  return {
    text,
    finishReason,
    usage: { promptTokens: countTokens(prompt), completionTokens: countTokens(text) },
    meta: { injected },
  };
}
