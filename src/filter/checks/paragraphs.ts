import { proseOnly, responseText, sentences } from "../text.ts";
import type { CandidateRecord, CheckConfig, CheckVerdict } from "./types.ts";

/**
 * Readability: no paragraph longer than `maxParagraphChars` characters or `maxParagraphSentences`
 * sentences. A paragraph is a run of text without a line break: reasoning models write one thought a
 * line (or a blank-line-separated block), so a line of 1,000+ characters is a wall of text. Code blocks
 * and display math are not prose and are not measured.
 */
export function checkParagraphs(record: CandidateRecord, config: CheckConfig): CheckVerdict {
  const prose = proseOnly(responseText(record, config.markers));
  for (const paragraph of prose.split("\n")) {
    const text = paragraph.trim();
    if (text.length > config.maxParagraphChars)
      return {
        pass: false,
        reason: `long paragraph: ${text.length} chars > ${config.maxParagraphChars} ("${text.slice(0, 40)}…")`,
      };
    const count = sentences(text).length;
    if (count > config.maxParagraphSentences)
      return {
        pass: false,
        reason: `long paragraph: ${count} sentences > ${config.maxParagraphSentences} ("${text.slice(0, 40)}…")`,
      };
  }
  return { pass: true };
}
