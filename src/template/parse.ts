import { defaultMarkers, type TemplateMarkers } from "./markers.ts";

/**
 * Why a completion does not conform to the template. Codes are stable strings so that filters can
 * count them and a person can read them in `rejected.jsonl`.
 * - `missing:<marker>` / `repeated:<marker>`: a marker is absent / appears more than once
 * - `out-of-order`: markers present but not in think-open, think-close, answer-open, answer-close order
 * - `empty-reasoning` / `empty-answer`: a part exists but holds only whitespace
 * - `text-outside`: non-blank text before the reasoning, between the parts, or after the answer
 */
export type TemplateProblem =
  | `missing:${string}`
  | `repeated:${string}`
  | "out-of-order"
  | "empty-reasoning"
  | "empty-answer"
  | "text-outside";

export interface ParsedCompletion {
  /** Text between the think markers (trimmed); null when no reasoning part can be located. */
  reasoning: string | null;
  /** Text between the answer markers (trimmed); null when no answer part can be located. */
  answer: string | null;
  /** Content of the last `\boxed{…}` (or `\fbox{…}`) inside the answer, if any. */
  boxed: string | null;
  conforms: boolean;
  problems: TemplateProblem[];
}

/**
 * Parse a completion into reasoning and answer, noting every way it departs from the template.
 * Lenient where a reader would be: an answer without its closing marker still yields the text after
 * the opening one, and reasoning without an opening marker (DeepSeek-R1 puts `<think>` in the prompt)
 * is the text before the closing one. Never throws.
 *
 * `reasoningContent` is a reasoning returned beside the content (DeepSeek's `reasoning_content`,
 * vLLM's `reasoning`): it is folded in as if the completion had carried it between the think markers.
 */
export function parseCompletion(
  completion: string,
  markers: TemplateMarkers = defaultMarkers,
  reasoningContent?: string | null,
): ParsedCompletion {
  const text = foldReasoning(completion, markers, reasoningContent);
  const problems: TemplateProblem[] = [];
  const order = [markers.thinkOpen, markers.thinkClose, markers.answerOpen, markers.answerClose];
  const first = order.map((marker) => {
    const count = countOccurrences(text, marker);
    if (count === 0) problems.push(`missing:${marker}`);
    if (count > 1) problems.push(`repeated:${marker}`);
    return text.indexOf(marker);
  });
  const present = first.filter((i) => i >= 0);
  if (present.some((pos, i) => i > 0 && pos < present[i - 1])) problems.push("out-of-order");

  const [thinkOpen, thinkClose, answerOpen, answerClose] = first;
  const reasoningStart = thinkOpen >= 0 ? thinkOpen + markers.thinkOpen.length : 0;
  const reasoning =
    thinkClose >= reasoningStart ? text.slice(reasoningStart, thinkClose).trim() : thinkOpen >= 0 ? "" : null;
  let answer: string | null = null;
  if (answerOpen >= 0) {
    const start = answerOpen + markers.answerOpen.length;
    const end = answerClose >= start ? answerClose : text.length;
    answer = text.slice(start, end).trim();
  }
  if (reasoning === "") problems.push("empty-reasoning");
  if (answer === "") problems.push("empty-answer");
  const wellFormed = problems.length === 0 || problems.every((p) => p.startsWith("empty-"));
  if (wellFormed && hasTextOutside(text, markers, first)) problems.push("text-outside");
  const boxed = answer === null ? null : lastBoxed(answer);
  return { reasoning, answer, boxed, conforms: problems.length === 0, problems };
}

/** Put a separately returned reasoning between the think markers, in front of the content. */
export function foldReasoning(
  content: string,
  markers: TemplateMarkers,
  reasoningContent?: string | null,
): string {
  if (!reasoningContent?.trim()) return content;
  if (content.includes(markers.thinkOpen)) return content; // the content already carries its own
  return `${markers.thinkOpen}\n${reasoningContent.trim()}\n${markers.thinkClose}\n${content.trimStart()}`;
}

/** The content of the last `\boxed{…}` or `\fbox{…}` in `text`, braces balanced; null if none. */
export function lastBoxed(text: string): string | null {
  const at = Math.max(text.lastIndexOf("\\boxed"), text.lastIndexOf("\\fbox"));
  if (at < 0) return null;
  const open = text.indexOf("{", at);
  if (open < 0) return null;
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) return text.slice(open + 1, i).trim();
  }
  return null; // unbalanced: the boxed answer was cut off
}

function countOccurrences(text: string, needle: string): number {
  let count = 0;
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) count++;
  return count;
}

/**
 * Blank text only is allowed before think-open, between think-close and answer-open, after answer-close.
 * Asked only when each marker appears once, in order: otherwise "outside" is not well defined and the
 * marker problems already say what is wrong.
 */
function hasTextOutside(text: string, markers: TemplateMarkers, first: number[]): boolean {
  const [thinkOpen, thinkClose, answerOpen, answerClose] = first;
  const before = text.slice(0, thinkOpen);
  const between =
    thinkClose < answerOpen ? text.slice(thinkClose + markers.thinkClose.length, answerOpen) : "";
  const after = text.slice(answerClose + markers.answerClose.length);
  return (before + between + after).trim() !== "";
}
