import { defaultMarkers, type TemplateMarkers } from "./markers.ts";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/**
 * The instruction that asks a teacher for the template. Kept short and placed in the user turn, as
 * DeepSeek recommends for R1 (no system prompt).
 */
export function renderInstruction(markers: TemplateMarkers = defaultMarkers): string {
  return (
    `Think through the problem step by step between ${markers.thinkOpen} and ${markers.thinkClose}. ` +
    `Then write only the final answer between ${markers.answerOpen} and ${markers.answerClose}, ` +
    `with nothing after it.`
  );
}

// renderInstruction's sentence with any markers: what tells a prompt that already carries it
const instructionPattern = new RegExp(
  `${renderInstruction({ thinkOpen: "\0", thinkClose: "\0", answerOpen: "\0", answerClose: "\0" })
    .replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
    .replaceAll("\0", ".+?")}\\s*$`,
);

/** Whether a user turn ends with the template instruction (under any markers). */
export function endsWithInstruction(text: string): boolean {
  return instructionPattern.test(text);
}

/** The messages sent to a teacher for one problem. */
export function renderTeacherMessages(
  problem: string,
  markers: TemplateMarkers = defaultMarkers,
): ChatMessage[] {
  return [{ role: "user", content: `${problem.trim()}\n\n${renderInstruction(markers)}` }];
}

/** A reasoning and an answer written in the template, exactly as a student should learn to write them. */
export function formatCompletion(
  reasoning: string,
  answer: string,
  markers: TemplateMarkers = defaultMarkers,
): string {
  return `${markers.thinkOpen}\n${reasoning.trim()}\n${markers.thinkClose}\n${markers.answerOpen}${answer.trim()}${markers.answerClose}`;
}

/**
 * One training conversation in Hugging Face chat format: the bare problem as the user turn (the student
 * learns the template itself, so no instruction), the templated completion as the assistant turn.
 */
export function renderChatSample(
  sample: { prompt: string; reasoning: string; answer: string },
  markers: TemplateMarkers = defaultMarkers,
): ChatMessage[] {
  return [
    { role: "user", content: sample.prompt.trim() },
    { role: "assistant", content: formatCompletion(sample.reasoning, sample.answer, markers) },
  ];
}
