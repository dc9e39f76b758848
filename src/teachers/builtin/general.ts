import { answerGeneral } from "../../tasks/general.ts";
import { defaultMarkers, type TemplateMarkers } from "../../template/markers.ts";
import { formatCompletion } from "../../template/render.ts";
import { hashSeed, seededRandom } from "../../util/random.ts";
import type { Completion, SampleRequest, Teacher } from "../types.ts";
import { TeacherError } from "../types.ts";
import { breakMarkers, drawFaults, finishCompletion } from "./faults.ts";

/**
 * `builtin:general`: short direct answers to the simple requests of tasks/general.ts — one line of
 * reasoning, no long deliberation for trivial requests. Above temperature 0 it sometimes answers
 * wrong (an "arithmetic-slip": a near-miss answer) or breaks the markers, at the rates of faults.ts.
 */
export function createGeneralTeacher(markers: TemplateMarkers = defaultMarkers): Teacher {
  return {
    id: "builtin:general",
    async sample(request: SampleRequest): Promise<Completion[]> {
      const prompt = request.messages.filter((m) => m.role === "user").at(-1)?.content ?? "";
      const known = answerGeneral(prompt);
      if (!known) throw new TeacherError("builtin:general does not know this kind of request", false);
      return Array.from({ length: request.n }, (_, i) => {
        const random = seededRandom(hashSeed("general-teacher", request.seed ?? 0, i, prompt));
        const injected = drawFaults(random, request.temperature, ["arithmetic-slip", "broken-markers"]);
        const answer = injected.includes("arithmetic-slip") ? nearMiss(known.answer) : known.answer;
        let text = formatCompletion(known.reason, answer, markers);
        if (injected.includes("broken-markers")) text = breakMarkers(random, text, answer, markers);
        return finishCompletion(random, text, prompt, request.maxTokens, injected);
      });
    },
  };
}

/** A wrong answer close to the right one: a number off by one, or a word with two letters swapped. */
function nearMiss(answer: string): string {
  if (/^\d+$/.test(answer)) return `${Number(answer) + 1}`;
  if (answer.length < 2) return `${answer}${answer}`;
  const swapped = answer[1] + answer[0] + answer.slice(2);
  return swapped === answer ? `${answer}s` : swapped;
}
