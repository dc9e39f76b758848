import type { TemplateMarkers } from "../template/markers.ts";

/**
 * Text helpers shared by the checks, deduplication and decontamination. None of them throw.
 */

/** The whole response a student would learn from: the reasoning (folded in if returned apart) and the content. */
export function responseText(
  record: { completion: string; completion_reasoning?: string },
  markers: TemplateMarkers,
): string {
  const reasoning = record.completion_reasoning?.trim();
  const text =
    reasoning && !record.completion.includes(markers.thinkOpen)
      ? `${reasoning}\n${record.completion}`
      : record.completion;
  return removeMarkers(text, markers);
}

export function removeMarkers(text: string, markers: TemplateMarkers): string {
  let out = text;
  for (const marker of Object.values(markers)) out = out.split(marker).join("\n");
  return out;
}

/**
 * Prose only: code blocks (and Asymptote figures), inline code and LaTeX math removed (each replaced by a space, or by a newline
 * for blocks, so paragraph boundaries survive). Greek letters in math and identifiers in code are not
 * prose, so the language checks must not see them.
 */
export function proseOnly(text: string): string {
  return text
    .replace(/```[\s\S]*?(?:```|$)/g, "\n")
    .replace(/\[asy\][\s\S]*?(?:\[\/asy\]|$)/g, "\n")
    .replace(/`[^`\n]*`/g, " ")
    .replace(/\$\$[\s\S]*?\$\$/g, "\n")
    .replace(/\\\[[\s\S]*?\\\]/g, "\n")
    .replace(/\\begin\{([a-z*]+)\}[\s\S]*?\\end\{\1\}/g, "\n")
    .replace(/\\\([\s\S]*?\\\)/g, " ")
    .replace(/\$[^$\n]*\$/g, " ");
}

/**
 * Sentences of a paragraph: split after `.`, `!`, `?` followed by a space (so `3.5` stays whole) and
 * after CJK full stops. Empty pieces and pieces without a letter are dropped.
 */
export function sentences(paragraph: string): string[] {
  return paragraph
    .split(/(?<=[.!?])\s+|(?<=[。！？])/u)
    .map((s) => s.trim())
    .filter((s) => /\p{L}/u.test(s));
}

/** Lower-case words and numbers: what n-grams, shingles and decontamination are made of. */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/**
 * Normalised text for exact matching: lower case, words, numbers and math symbols, single spaces;
 * prose punctuation and spacing do not count. Operators and signs do: `x + 12 = 24` and `x - 12 = 24`
 * are different problems.
 */
export function normalizeText(text: string): string {
  return (text.toLowerCase().match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}.,;:!?"'“”‘’]/gu) ?? []).join(" ");
}

/**
 * A 53-bit hash of a string (two FNV-1a lanes), as a JS number: the key of exact-dedup sets and n-gram
 * sets. Collisions among a million keys have a probability near 1e-4; a collision can only drop a row.
 */
export function hash53(text: string): number {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  return (h1 >>> 0) * 2 ** 21 + ((h2 >>> 0) & 0x1fffff);
}
