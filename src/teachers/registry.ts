import { defaultMarkers, type TemplateMarkers } from "../template/markers.ts";
import { UserError } from "../util/errors.ts";
import { createEquationsTeacher } from "./builtin/equations.ts";
import { createGeneralTeacher } from "./builtin/general.ts";
import { createGgufTeacher } from "./gguf.ts";
import { createLocalModelTeacher } from "./local.ts";
import { createOpenAITeacher } from "./openai.ts";
import { parseTeacherSpec, type TeacherSpec } from "./spec.ts";
import type { Teacher } from "./types.ts";

export interface TeacherOptions {
  markers?: TemplateMarkers;
  /** Environment variable holding the endpoint's API key (default OPENAI_API_KEY). */
  apiKeyEnv?: string;
  stream?: boolean;
  timeoutMs?: number;
  /** For gguf and model folders: sequences decoded together (usually the generator's concurrency). */
  sequences?: number;
  /** For gguf: llama.cpp's CPU threads (default: the cores this process may use, less one). */
  threads?: number;
}

/**
 * Teachers of the user's own, by prefix: a plain record, so adapters can be added without touching
 * the project — `teacherFactories.myprovider = (rest, options, spec) => …` makes `myprovider:<rest>`
 * a teacher spec. The built-in kinds (builtin, openai, gguf, model) are parsed by `parseTeacherSpec`.
 */
export const teacherFactories: Record<
  string,
  (rest: string, options: TeacherOptions, spec: string) => Teacher
> = {};

/**
 * `builtin:equations`, `builtin:general`, `openai:<model>@<baseURL>`, `gguf:<path>`, `model:<dir>` —
 * or a bare path to a model folder of the project's own. Takes the spec as text or already parsed.
 */
export function createTeacher(spec: string | TeacherSpec, options: TeacherOptions = {}): Teacher {
  const parsed = typeof spec === "string" ? parseTeacherSpec(spec, Object.keys(teacherFactories)) : spec;
  switch (parsed.kind) {
    case "builtin":
      return parsed.name === "equations"
        ? createEquationsTeacher(options.markers ?? defaultMarkers)
        : createGeneralTeacher(options.markers ?? defaultMarkers);
    case "openai": {
      if (parsed.urls.length !== 1) {
        throw new UserError(
          parsed.urls.length === 0
            ? `teacher "${parsed.spec}" needs a URL: openai:<model>@<http(s)://base-url>`
            : `teacher "${parsed.spec}" lists ${parsed.urls.length} endpoints; only \`distill generate\` spreads requests over several`,
        );
      }
      return createOpenAITeacher({
        model: parsed.model,
        baseURL: parsed.urls[0],
        apiKeyEnv: options.apiKeyEnv,
        stream: options.stream,
        timeoutMs: options.timeoutMs,
      });
    }
    case "gguf":
      return createGgufTeacher({ path: parsed.path, sequences: options.sequences, threads: options.threads });
    case "model":
      return createLocalModelTeacher(parsed.dir, { sequences: options.sequences });
    case "custom":
      return teacherFactories[parsed.prefix](parsed.rest, options, parsed.spec);
  }
}
