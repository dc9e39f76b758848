import { z } from "zod";

/**
 * The four markers that delimit a completion's reasoning and final answer. Every stage that reads or
 * writes the template takes them from here, so a run can switch to other markers (e.g. DeepSeek-R1's
 * bare `<think>` with a `\boxed{}` answer) in one place.
 */
export interface TemplateMarkers {
  thinkOpen: string;
  thinkClose: string;
  answerOpen: string;
  answerClose: string;
}

export const defaultMarkers: TemplateMarkers = Object.freeze({
  thinkOpen: "<think>",
  thinkClose: "</think>",
  answerOpen: "<answer>",
  answerClose: "</answer>",
});

/** Fill unset markers with the defaults and refuse markers that cannot be told apart. */
export function resolveMarkers(partial: Partial<TemplateMarkers> = {}): TemplateMarkers {
  const markers = { ...defaultMarkers, ...partial };
  const values = Object.values(markers);
  if (values.some((m) => m.trim() === "")) throw new Error("template markers must not be empty");
  if (new Set(values).size !== values.length) throw new Error("template markers must all differ");
  return markers;
}

/** The `markers` option of every stage that reads or writes the template (flags and recipes). */
export const markersOptionSchema = z
  .object({
    thinkOpen: z.string().min(1),
    thinkClose: z.string().min(1),
    answerOpen: z.string().min(1),
    answerClose: z.string().min(1),
  })
  .partial()
  .optional();
