import { defaultMarkers } from "../../template/markers.ts";
import type { CheckConfig } from "./types.ts";

/**
 * Defaults, chosen so that clean built-in traces and GSM8K's reference solutions pass (tests hold both):
 * paragraphs up to 1,000 characters or 15 sentences; a line of 8+ characters may occur 3 times, not 4;
 * at most 25% of 8-grams repeated; responses of 1 to 65,536 characters. In a file of their own so that
 * reading options does not load the checks (the language check loads eld's dictionary: seconds).
 */
export const defaultCheckConfig: CheckConfig = {
  markers: defaultMarkers,
  language: "en",
  languageMinWords: 5,
  languageMargin: 0.15,
  maxParagraphChars: 1000,
  maxParagraphSentences: 15,
  repeatedLineMinChars: 8,
  maxLineRepeats: 4,
  repetitionNgram: 8,
  maxRepeatedNgramShare: 0.25,
  minChars: 1,
  maxChars: 65536,
  keepUnverifiable: false,
};
