/**
 * Answer extraction: finds the part of a completion (or a gold solution) that states the final
 * answer. Candidates come best-first; the verifier parses them in order and keeps the first that
 * parses, so a broken `\boxed{` does not hide a clean "final answer is $…$" after it.
 *
 * Order (most explicit first): the template's answer part (`<answer>…</answer>`, markers
 * configurable), the last `\boxed{…}`/`\fbox{…}` (nested braces; adjacent boxes joined into a list),
 * `#### N`, "final answer … is …" / "final answer: …", "the answer is …" / "answer: …", the whole text
 * when it is a bare expression, then math spans and plain numbers, rightmost first.
 */

import { matchBrace, UNIT_WORD } from "./normalize.ts";

export interface ExtractOptions {
  /** Opening marker of the template's answer part. @default "<answer>" */
  answerStart?: string;
  /** Closing marker of the template's answer part. @default "</answer>" */
  answerEnd?: string;
}

export interface Candidate {
  /** The answer text, LaTeX or plain, without math delimiters. */
  text: string;
  /** Where it came from; `math` means it was inside LaTeX math (affects `1,5`: list, not decimal). */
  source: "boxed" | "hash" | "final" | "answer" | "whole" | "math" | "number";
  math: boolean;
}

interface Span {
  start: number;
  end: number;
  inner: string;
}

/** All `\boxed{…}` / `\fbox{…}` spans, in order. An unbalanced one runs to the end of the text. */
function boxedSpans(text: string): Span[] {
  const spans: Span[] = [];
  const re = /\\(?:boxed|fbox)\s*\{/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const open = m.index + m[0].length - 1;
    const end = matchBrace(text, open);
    if (end < 0) {
      spans.push({ start: m.index, end: text.length, inner: text.slice(open + 1) });
      break;
    }
    spans.push({ start: m.index, end, inner: text.slice(open + 1, end - 1) });
    re.lastIndex = end;
  }
  return spans;
}

// What may separate two boxes that together state one answer: "\boxed{-2} \quad\text{and}\quad \boxed{1}".
const BOX_JOINER =
  /^(?:\s|\\quad|\\qquad|\\text\{\s*(?:and|or|,)\s*\}|\band\b|\bor\b|[,;&$]|\\[()[\]]|\\\\|\\,)*$/;

/** Math spans: $$…$$, \[…\], $…$ (one line), \(…\) (one line). */
function mathSpans(text: string): Span[] {
  const spans: Span[] = [];
  const re =
    /(?<!\\)\$\$([\s\S]+?)(?<!\\)\$\$|\\\[([\s\S]+?)\\\]|(?<![\\\d])\$((?:\\\$|[^\n$])+?)(?<!\\)\$|\\\(((?:[^\\\n]|\\(?!\)))+?)\\\)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const inner = m[1] ?? m[2] ?? m[3] ?? m[4] ?? "";
    spans.push({ start: m.index, end: m.index + m[0].length, inner });
  }
  return spans;
}

const PERCENT_AFTER = /^\s*(?:\$+|\\\)|\\\])?\s*(?:\\?%|percent(?:age)?\b|pct\b)/i;

function withPercent(text: string, inner: string, end: number): string {
  return PERCENT_AFTER.test(text.slice(end, end + 16)) ? `${inner} \\%` : inner;
}

// A plain number in prose: thousands groups, decimal point or comma, a/b fractions, a percent.
// The look-behind keeps "AZYUK2A" and "x2" from yielding 2; units after the number are allowed.
const PLAIN_NUMBER =
  /(?<![\w.\\^_{])(?:[$€£¥₹]\s?)?(-?(?:\d{1,3}(?:[ ,]\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?(?:\s*\/\s*\d+(?:[.,]\d+)?)?|\.\d+))(\s*(?:%|percent(?:age)?\b|pct\b))?/gi;

function plainNumbers(text: string): Span[] {
  const spans: Span[] = [];
  PLAIN_NUMBER.lastIndex = 0;
  for (let m = PLAIN_NUMBER.exec(text); m; m = PLAIN_NUMBER.exec(text)) {
    spans.push({ start: m.index, end: m.index + m[0].length, inner: m[1] + (m[2] ? " \\%" : "") });
  }
  return spans;
}

/** First answer-like thing at the start of `segment`: boxed, math span, or number. */
function firstAtom(segment: string): Candidate | null {
  const lead = /^(?:[\s:*"'`“”]|\\")*/.exec(segment)?.[0].length ?? 0;
  const rest = segment.slice(lead);
  const boxed = /^\\(?:boxed|fbox)\s*\{/.exec(rest);
  if (boxed) {
    const end = matchBrace(rest, boxed[0].length - 1);
    if (end > 0) return { text: rest.slice(boxed[0].length, end - 1), source: "final", math: true };
  }
  const spans = mathSpans(rest);
  if (spans[0]?.start === 0) {
    // "$12$ and $13$", "$1$, $2$, or $3$": one answer stated in several spans.
    const parts = [withPercent(rest, spans[0].inner, spans[0].end)];
    for (
      let k = 1;
      k < spans.length && /^\s*(?:,|,?\s*and|,?\s*or)\s*$/.test(rest.slice(spans[k - 1].end, spans[k].start));
      k++
    )
      parts.push(withPercent(rest, spans[k].inner, spans[k].end));
    return { text: parts.join(", "), source: "final", math: true };
  }
  const num = plainNumbers(rest)[0];
  if (num && num.start === 0) return { text: num.inner, source: "final", math: false };
  const choice = /^\(?[A-E]\)?(?=[\s.,;:!]|$)/.exec(rest);
  if (choice) return { text: choice[0], source: "final", math: false };
  // "…the answer is Tuesday." — a few words closing the sentence.
  const words = /^(\p{L}[\p{L}'’-]*(?:\s\p{L}[\p{L}'’-]*){0,2})\s*[.!]?\s*$/u.exec(rest);
  if (words) return { text: words[1], source: "final", math: false };
  return null;
}

/** First answer-like thing anywhere in `segment` (math span or number, whichever comes first). */
function firstAnywhere(segment: string): Candidate | null {
  const math = mathSpans(segment)[0];
  const num = plainNumbers(segment).find((n) => !math || n.start < math.start || n.start >= math.end);
  if (math && (!num || math.start < num.start))
    return { text: withPercent(segment, math.inner, math.end), source: "answer", math: true };
  return num ? { text: num.inner, source: "answer", math: false } : null;
}

/** What follows one "answer" phrase: "is X" nearest the phrase, else the first answer-like thing. */
function answerAfter(text: string, from: number): Candidate | null {
  let segment = text.slice(from, from + 400);
  const stop = /I hope|<\|im_(?:start|end)\|>|\n\s*\n/.exec(segment);
  if (stop) segment = segment.slice(0, stop.index);
  // "The volume of $ABCDEFGH$ is 120.": the value after "is", not the first span.
  for (const is of segment.matchAll(/\b(?:is|are|be|equals?)\b|=/g)) {
    if (is.index > 150) break;
    const found = firstAtom(segment.slice(is.index + is[0].length));
    if (found) return found;
  }
  return firstAtom(segment) ?? firstAnywhere(segment.slice(0, 120));
}

/**
 * "final answer is X", "final answer: … is X", "the answer is X", "answer: X": the last phrase that
 * states something ("…the answer is 5. Let me check the answer." still gives 5).
 */
function phraseCandidates(text: string): (Candidate & { at: number })[] {
  const out: (Candidate & { at: number })[] = [];
  for (const [re, source] of [
    [/final answer/gi, "final"],
    [/\banswer\b/gi, "answer"],
  ] as const) {
    const hits = [...text.matchAll(re)];
    for (let h = hits.length - 1; h >= Math.max(0, hits.length - 8); h--) {
      const found = answerAfter(text, hits[h].index + hits[h][0].length);
      if (found) {
        out.push({ ...found, source, at: hits[h].index });
        break;
      }
    }
  }
  return out;
}

// Words that may sit in a bare answer without making it prose ("28 percent", "12 and 13").
const ANSWER_WORDS = /^(?:percent(?:age)?|pct|and|or|sin|cos|tan|sec|csc|cot|log|ln|exp|sqrt|frac|pi)$/i;

/**
 * Prose is never parsed whole, only its numbers are: an apostrophe, or a word (three letters or
 * more, not "percent", "and", "sin", …) next to anything else. A lone word ("Evelyn") is an answer.
 */
function isProse(text: string): boolean {
  const plain = text.replace(/\\[a-zA-Z]+(?:\{[^{}]*\})?/g, " ").trim();
  if (/[a-zA-Z]'[a-zA-Z]/.test(plain)) return true;
  if (/^[a-zA-Z]+$/.test(plain)) return false;
  for (const word of plain.match(/[a-zA-Z]{3,}/g) ?? [])
    if (!ANSWER_WORDS.test(word) && !UNIT_WORD.test(word)) return true;
  return false;
}

function stripTemplate(text: string, options: ExtractOptions): string {
  const start = options.answerStart ?? "<answer>";
  const end = options.answerEnd ?? "</answer>";
  const at = start ? text.lastIndexOf(start) : -1;
  if (at < 0) return text;
  const body = text.slice(at + start.length);
  const close = end ? body.indexOf(end) : -1;
  return close >= 0 ? body.slice(0, close) : body;
}

/**
 * Answer candidates of `text`, best first (see the module comment for the order), produced lazily:
 * a caller that stops at the first readable candidate never scans a long trace for plain numbers.
 */
export function* candidates(text: string, options: ExtractOptions = {}): Generator<Candidate> {
  const body = stripTemplate(text, options);
  const boxes = boxedSpans(body);
  const maths = mathSpans(body);
  const first: Candidate[] = [];
  if (boxes.length > 0) {
    let from = boxes.length - 1;
    while (from > 0 && BOX_JOINER.test(body.slice(boxes[from - 1].end, boxes[from].start))) from--;
    // Boxes inside the same display span as the last one state one answer together.
    const last = boxes[boxes.length - 1];
    const span = maths.find((m) => m.start <= last.start && last.end <= m.end);
    if (span) while (from > 0 && boxes[from - 1].start >= span.start) from--;
    const inner = boxes
      .slice(from)
      .map((b) => b.inner.replace(/(?<!\\)\$/g, " "))
      .join(", ");
    first.push({ text: withPercent(body, inner, last.end), source: "boxed", math: true });
  }
  const hashes = [...body.matchAll(/####\s*([^\n]+)/g)];
  const hash = hashes[hashes.length - 1];
  if (hash) first.push({ text: hash[1].trim(), source: "hash", math: false });
  // A "final answer is …" stated after the last box is the later word: it goes first.
  const lastBoxEnd = boxes.length > 0 ? boxes[boxes.length - 1].end : -1;
  for (const { at, ...c } of phraseCandidates(body)) {
    if (c.source === "final" && lastBoxEnd >= 0 && at > lastBoxEnd) first.unshift(c);
    else first.push(c);
  }
  yield* first;
  const trimmed = body.trim().replace(/[.。]$/, "");
  if (trimmed.length > 0 && trimmed.length < 400 && !isProse(trimmed)) {
    const bare = trimmed.replace(/^\$+|\$+$/g, "");
    // A whole answer "2,3" is a list (MATH writes solution lists so); "1,22", "0,111" and "1000,99"
    // read as decimal commas. A number found inside prose is always a decimal comma (see below).
    const pair = /^-?(\d+),(\d+)$/.exec(bare);
    const decimalComma = pair !== null && (pair[1] === "0" || pair[1].length >= 4 || pair[2].length === 2);
    const math = /[\\^{}]/.test(bare) || trimmed.startsWith("$") || (pair !== null && !decimalComma);
    yield { text: bare, source: "whole", math };
  } else if (/^\p{L}[\p{L}\s'’-]*$/u.test(trimmed) && trimmed.split(/\s+/).length <= 6) {
    yield { text: trimmed, source: "whole", math: false }; // a short answer in words: "blue car"
  }
  // Rightmost math span or plain number; numbers inside math spans are not counted twice.
  const numbers: Span[] = [];
  let k = 0;
  for (const n of plainNumbers(body)) {
    while (k < maths.length && maths[k].end <= n.start) k++;
    if (k >= maths.length || n.end <= maths[k].start) numbers.push(n);
  }
  // Both lists are sorted and disjoint: merge them from the end.
  let i = maths.length - 1;
  let j = numbers.length - 1;
  while (i >= 0 || j >= 0) {
    if (j < 0 || (i >= 0 && maths[i].end >= numbers[j].end)) {
      yield { text: withPercent(body, maths[i].inner, maths[i].end), source: "math", math: true };
      i--;
    } else {
      yield { text: numbers[j].inner, source: "number", math: false };
      j--;
    }
  }
}

/** All answer candidates of `text`, best first. */
export function extractCandidates(text: string, options: ExtractOptions = {}): Candidate[] {
  return [...candidates(text, options)];
}

/** The best answer candidate's text, or null when the text states nothing answer-like. */
export function extractAnswer(text: string, options: ExtractOptions = {}): string | null {
  const next = candidates(text, options).next();
  return next.done ? null : next.value.text;
}
