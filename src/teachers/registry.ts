import { existsSync } from "node:fs";
import path from "node:path";
import { defaultMarkers, type TemplateMarkers } from "../template/markers.ts";
import { UserError } from "../util/errors.ts";
import { createEquationsTeacher } from "./builtin/equations.ts";
import { createGeneralTeacher } from "./builtin/general.ts";
import { createGgufTeacher } from "./gguf.ts";
import { createLocalModelTeacher } from "./local.ts";
import { createOpenAITeacher, parseOpenAISpec } from "./openai.ts";
import type { Teacher } from "./types.ts";

export interface TeacherOptions {
  markers?: TemplateMarkers;
  /** Environment variable holding the endpoint's API key (default OPENAI_API_KEY). */
  apiKeyEnv?: string;
  stream?: boolean;
  timeoutMs?: number;
  /** For gguf and model folders: sequences decoded together (usually the generator's concurrency). */
  sequences?: number;
}

/**
 * Teachers by spec. A plain record from prefix to factory, so users can add their own adapters:
 * `teacherFactories.myprovider = (rest, options) => …`.
 */
export const teacherFactories: Record<
  string,
  (rest: string, options: TeacherOptions, spec: string) => Teacher
> = {
  builtin: (rest, options) => {
    if (rest === "equations") return createEquationsTeacher(options.markers ?? defaultMarkers);
    if (rest === "general") return createGeneralTeacher(options.markers ?? defaultMarkers);
    throw new UserError(`unknown built-in teacher "builtin:${rest}" (builtin:equations, builtin:general)`);
  },
  openai: (_rest, options, spec) =>
    createOpenAITeacher({
      ...parseOpenAISpec(spec),
      apiKeyEnv: options.apiKeyEnv,
      stream: options.stream,
      timeoutMs: options.timeoutMs,
    }),
  gguf: (rest, options) => createGgufTeacher({ path: rest, sequences: options.sequences }),
  model: (rest, options) => createLocalModelTeacher(rest, { sequences: options.sequences }),
};

/**
 * `builtin:equations`, `builtin:general`, `openai:<model>@<baseURL>`, `gguf:<path>`, `model:<dir>` —
 * or a bare path to a model folder of the project's own.
 */
export function createTeacher(spec: string, options: TeacherOptions = {}): Teacher {
  if (isModelFolder(spec)) return createLocalModelTeacher(spec, { sequences: options.sequences });
  const colon = spec.indexOf(":");
  const factory = colon > 0 ? teacherFactories[spec.slice(0, colon)] : undefined;
  if (!factory) {
    throw new UserError(
      `unknown teacher "${spec}" (builtin:equations, builtin:general, openai:<model>@<url>, gguf:<path>)`,
    );
  }
  return factory(spec.slice(colon + 1), options, spec);
}

/** A folder with a config.json: a model of the project's own (or any HF checkpoint it can run). */
export function isModelFolder(spec: string): boolean {
  return !/^[a-z]+:/.test(spec) && existsSync(path.join(spec, "config.json"));
}
