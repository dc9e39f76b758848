import { eld } from "eld/large";
import { memoize } from "../../util/memo.ts";
import { proseOnly, responseText, sentences } from "../text.ts";
import type { CandidateRecord, CheckConfig, CheckVerdict } from "./types.ts";

/**
 * Language consistency (DeepSeek-R1's readability filter): the prose of a trace is in one language.
 * 1. Scripts: letters of another script than the expected language's inside the prose (a Chinese or
 *    Russian sentence in an English trace). Math, code and markers are removed first; Greek counts
 *    only as a word of 3+ letters, other scripts from 2 letters on (single Greek letters are math even outside `$…$`).
 * 2. Latin-script languages (Danish inside English): each sentence of at least `languageMinWords`
 *    words goes to `eld`; it is foreign when eld calls it reliable and its language's score leads the
 *    expected language's by `languageMargin`. Digits and symbols are removed before detection, and
 *    short sentences are skipped: "Check: (-2) + 9 = 7" is too little text to tell.
 */
export function checkLanguage(record: CandidateRecord, config: CheckConfig): CheckVerdict {
  const prose = proseOnly(responseText(record, config.markers));
  const expected = scriptsOfLanguage[config.language] ?? ["Latin"];
  for (const [script, pattern] of scriptPatterns) {
    if (expected.includes(script)) continue;
    const match = pattern.exec(prose);
    if (match) {
      const context = prose.slice(Math.max(0, match.index - 10), match.index + 30).replace(/\s+/g, " ");
      return {
        pass: false,
        reason: `language mix: ${script} script in ${config.language} text ("${context}")`,
      };
    }
  }
  // Latin words (variables, names, units) are normal inside non-Latin prose: only Latin targets go on.
  if (!expected.includes("Latin")) return { pass: true };
  for (const line of prose.split("\n")) {
    for (const sentence of sentences(line)) {
      const letters = sentence
        .replace(/[^\p{L}\s'’-]/gu, " ")
        .replace(/\s+/g, " ")
        .trim();
      const wordCount = letters.split(" ").filter((w) => /\p{L}{2}/u.test(w)).length;
      if (wordCount < config.languageMinWords) continue;
      const found = detect(`${config.language}\u0000${config.languageMargin}\u0000${letters}`);
      if (found)
        return {
          pass: false,
          reason: `language mix: a ${found} sentence in ${config.language} text ("${sentence.slice(0, 50)}")`,
        };
    }
  }
  return { pass: true };
}

/**
 * The language of a sentence ("expected\0margin\0letters") when eld reliably calls it another language
 * by at least the margin, else null. Memoised: templated traces repeat their sentences.
 */
const detect = memoize((key: string): string | null => {
  const [expected, margin, letters] = key.split("\u0000");
  const result = eld.detect(letters);
  if (!result.language || result.language === expected || !result.isReliable()) return null;
  const scores = result.getScores() as Record<string, number>;
  const lead = (scores[result.language] ?? 0) - (scores[expected] ?? 0);
  return lead >= Number(margin) ? result.language : null;
});

/**
 * Runs of letters of each non-Latin script: two or more in a row (one Cyrillic "А" among Latin letters is
 * a look-alike typo, as in one GSM8K question, not a sentence in Russian); Greek three or more.
 */
const scriptPatterns: [string, RegExp][] = [
  ["Han", /\p{Script=Han}{2,}/u],
  ["Hiragana", /\p{Script=Hiragana}{2,}/u],
  ["Katakana", /\p{Script=Katakana}{2,}/u],
  ["Hangul", /\p{Script=Hangul}{2,}/u],
  ["Cyrillic", /\p{Script=Cyrillic}{2,}/u],
  ["Arabic", /\p{Script=Arabic}{2,}/u],
  ["Hebrew", /\p{Script=Hebrew}{2,}/u],
  ["Devanagari", /\p{Script=Devanagari}{2,}/u],
  ["Bengali", /\p{Script=Bengali}{2,}/u],
  ["Tamil", /\p{Script=Tamil}{2,}/u],
  ["Thai", /\p{Script=Thai}{2,}/u],
  ["Armenian", /\p{Script=Armenian}{2,}/u],
  ["Georgian", /\p{Script=Georgian}{2,}/u],
  ["Greek", /\p{Script=Greek}{3,}/u],
];

/** The scripts a language is written in; languages not listed are written in Latin script. */
const scriptsOfLanguage: Record<string, string[]> = {
  zh: ["Han"],
  ja: ["Han", "Hiragana", "Katakana"],
  ko: ["Hangul", "Han"],
  ru: ["Cyrillic"],
  uk: ["Cyrillic"],
  bg: ["Cyrillic"],
  sr: ["Cyrillic", "Latin"],
  be: ["Cyrillic"],
  ar: ["Arabic"],
  fa: ["Arabic"],
  ur: ["Arabic"],
  he: ["Hebrew"],
  hi: ["Devanagari"],
  mr: ["Devanagari"],
  bn: ["Bengali"],
  ta: ["Tamil"],
  th: ["Thai"],
  hy: ["Armenian"],
  ka: ["Georgian"],
  el: ["Greek"],
};
