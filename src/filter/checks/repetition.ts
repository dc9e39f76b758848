import { proseOnly, responseText, words } from "../text.ts";
import type { CandidateRecord, CheckConfig, CheckVerdict } from "./types.ts";

/**
 * Decoding loops: a line of at least `repeatedLineMinChars` characters that occurs `maxLineRepeats`
 * times or more, or a share of repeated word n-grams above `maxRepeatedNgramShare` (catches loops
 * inside one long paragraph, where there are no lines to count). The share is over n-gram positions:
 * a text whose second half copies its first half scores about 0.5.
 * Lines and n-grams are counted in the prose: LaTeX environments (`\begin{align*}` on every block) and
 * figure code repeat by nature. A loop inside math is caught on the whole text at twice the share.
 */
export function checkRepetition(record: CandidateRecord, config: CheckConfig): CheckVerdict {
  const whole = responseText(record, config.markers);
  const text = proseOnly(whole);
  const counts = new Map<string, number>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.length < config.repeatedLineMinChars) continue;
    const n = (counts.get(line) ?? 0) + 1;
    counts.set(line, n);
    if (n >= config.maxLineRepeats)
      return { pass: false, reason: `repetition: a line repeated ${n}+ times ("${line.slice(0, 40)}")` };
  }
  const share = repeatedNgramShare(words(text), config.repetitionNgram);
  if (share > config.maxRepeatedNgramShare)
    return {
      pass: false,
      reason: `repetition: ${(100 * share).toFixed(0)}% of ${config.repetitionNgram}-grams repeat (> ${(100 * config.maxRepeatedNgramShare).toFixed(0)}%)`,
    };
  const mathShare = whole === text ? share : repeatedNgramShare(words(whole), config.repetitionNgram);
  if (mathShare > 2 * config.maxRepeatedNgramShare)
    return {
      pass: false,
      reason: `repetition: ${(100 * mathShare).toFixed(0)}% of ${config.repetitionNgram}-grams repeat, math included (> ${(200 * config.maxRepeatedNgramShare).toFixed(0)}%)`,
    };
  return { pass: true };
}

/** Share of n-gram positions whose n-gram occurred earlier in the text; 0 for texts shorter than 2n. */
export function repeatedNgramShare(tokens: string[], n: number): number {
  const total = tokens.length - n + 1;
  if (tokens.length < 2 * n) return 0;
  const seen = new Set<string>();
  let repeated = 0;
  for (let i = 0; i < total; i++) {
    const gram = tokens.slice(i, i + n).join(" ");
    if (seen.has(gram)) repeated++;
    else seen.add(gram);
  }
  return repeated / total;
}
