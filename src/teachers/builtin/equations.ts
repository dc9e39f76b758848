import { findEquation } from "../../tasks/equations/find.ts";
import { solveSteps } from "../../tasks/equations/steps.ts";
import { defaultMarkers, type TemplateMarkers } from "../../template/markers.ts";
import { formatCompletion } from "../../template/render.ts";
import { hashSeed, randInt, seededRandom } from "../../util/random.ts";
import type { Completion, SampleRequest, Teacher } from "../types.ts";
import { TeacherError } from "../types.ts";
import {
  breakMarkers,
  drawFaults,
  finishCompletion,
  mixLanguage,
  rambleOneParagraph,
  repeatLoop,
} from "./faults.ts";

/**
 * `builtin:equations`: a reference teacher for linear equations in one variable. At temperature 0 it
 * writes a correct step-by-step solution in the template; above 0 it makes the faults documented in
 * faults.ts at rates that grow with temperature. Deterministic for a given seed.
 */
export function createEquationsTeacher(markers: TemplateMarkers = defaultMarkers): Teacher {
  return {
    id: "builtin:equations",
    async sample(request: SampleRequest): Promise<Completion[]> {
      const prompt = request.messages.filter((m) => m.role === "user").at(-1)?.content ?? "";
      const equation = findEquation(prompt);
      if (equation === null)
        throw new TeacherError("builtin:equations found no linear equation in the prompt", false);
      return Array.from({ length: request.n }, (_, i) => solveOnce(equation, prompt, request, i, markers));
    },
  };
}

function solveOnce(
  equation: string,
  prompt: string,
  request: SampleRequest,
  index: number,
  markers: TemplateMarkers,
): Completion {
  const random = seededRandom(hashSeed("equations-teacher", request.seed ?? 0, index, equation));
  const injected = drawFaults(random, request.temperature);
  const slip = injected.includes("arithmetic-slip")
    ? {
        step: random() < 0.6 ? ("constant" as const) : ("divide" as const),
        delta: randInt(random, 1, 3) * (random() < 0.5 ? -1 : 1),
      }
    : undefined;
  const solution = solveSteps(equation, slip);
  let lines = solution.lines;
  if (injected.includes("language-mix")) lines = mixLanguage(random, lines);
  if (injected.includes("repetition")) lines = repeatLoop(random, lines);
  if (injected.includes("long-paragraph")) lines = rambleOneParagraph(random, lines);
  let text = formatCompletion(lines.join("\n"), solution.answer, markers);
  if (injected.includes("broken-markers")) text = breakMarkers(random, text, solution.answer, markers);
  return finishCompletion(random, text, prompt, request.maxTokens, injected);
}
