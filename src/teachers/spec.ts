import { UserError } from "../util/errors.ts";

/** The built-in teachers: `builtin:<name>`. */
export const builtinTeachers = ["equations", "general"] as const;

/**
 * A teacher spec, parsed once (`parseTeacherSpec`) and used by every caller: the registry that builds
 * the teacher, the generator's endpoints and its run identity.
 * - `builtin:equations` → `{ kind: "builtin", name: "equations" }`
 * - `openai:deepseek-r1:7b@http://a:8000/v1,http://b:8000/v1` →
 *   `{ kind: "openai", model: "deepseek-r1:7b", urls: ["http://a:8000/v1", "http://b:8000/v1"] }`
 *   (`urls` may be empty: a recipe's `endpoints:` can give them all)
 * - `gguf:./model.gguf` → `{ kind: "gguf", path: "./model.gguf" }`
 * - `model:runs/x` or `runs/x` → `{ kind: "model", dir: "runs/x" }`
 * - `<kind>:<rest>` of an adapter a user registered in `teacherFactories` → `{ kind: "custom", … }`
 */
export type TeacherSpec =
  | { kind: "builtin"; spec: string; name: (typeof builtinTeachers)[number] }
  | { kind: "openai"; spec: string; model: string; urls: string[] }
  | { kind: "gguf"; spec: string; path: string }
  | { kind: "model"; spec: string; dir: string }
  | { kind: "custom"; spec: string; prefix: string; rest: string };

const teacherForms =
  "builtin:equations, builtin:general, openai:<model>@<http(s)://base-url>[,<url>…], gguf:<path>, model:<dir> or a model folder";

/**
 * Parse a teacher spec, refusing what it cannot mean with the forms it can take. `customKinds` are
 * the prefixes of adapters registered by the user. No file is looked at: a model folder that does not
 * exist is reported as "not found" when the teacher is made.
 */
export function parseTeacherSpec(spec: string, customKinds: readonly string[] = []): TeacherSpec {
  const prefix = kindOf(spec);
  if (prefix === undefined) return modelSpec(spec, spec);
  const rest = spec.slice(prefix.length + 1);
  switch (prefix) {
    case "builtin": {
      const name = builtinTeachers.find((n) => n === rest);
      if (!name)
        throw new UserError(
          `unknown built-in teacher "${spec}" (${builtinTeachers.map((n) => `builtin:${n}`).join(", ")})`,
        );
      return { kind: "builtin", spec, name };
    }
    case "openai":
      return openaiSpec(spec);
    case "gguf":
      if (!rest) throw new UserError(`teacher "${spec}" needs a path: gguf:<path to a .gguf file>`);
      return { kind: "gguf", spec, path: rest };
    case "model":
      return modelSpec(spec, rest);
  }
  if (customKinds.includes(prefix)) return { kind: "custom", spec, prefix, rest };
  throw new UserError(`unknown teacher kind "${prefix}:" in "${spec}" (${teacherForms})`);
}

/**
 * The teacher a run's identity records: the spec without its endpoint URLs (`openai:m@https://a,https://b`
 * → `openai:m`), so a fleet may change between resumes. Other specs are returned as they are. Lenient
 * on purpose: it also reads specs recorded by older runs.
 */
export function teacherModelOf(spec: string): string {
  return splitUrls(spec).base;
}

/** The name a price table knows a teacher by: `openai:deepseek-reasoner@https://…` → `deepseek-reasoner`. */
export function teacherNameOf(spec: string): string {
  const model = teacherModelOf(spec);
  const kind = kindOf(model);
  return kind === undefined ? model : model.slice(kind.length + 1);
}

/** `openai:<model>@<url>` for one endpoint of a parsed `openai:` spec. */
export function openaiSpecFor(model: string, url: string): string {
  return `openai:${model}@${url}`;
}

/** `builtin` of `builtin:equations`; undefined for a bare path (`runs/x`, `./m`, `/abs/m`). */
function kindOf(spec: string): string | undefined {
  return /^([a-z][a-z0-9_-]*):/.exec(spec)?.[1];
}

/** `openai:m@https://a,https://b` → base `openai:m`, urls `[https://a, https://b]`. */
function splitUrls(spec: string): { base: string; urls: string[] } {
  const at = spec.search(/@https?:\/\//);
  if (at <= 0) return { base: spec, urls: [] };
  return {
    base: spec.slice(0, at),
    urls: spec
      .slice(at + 1)
      .split(",")
      .filter(Boolean),
  };
}

function openaiSpec(spec: string): TeacherSpec {
  const { base, urls } = splitUrls(spec);
  const model = base.slice("openai:".length);
  const form = "openai:<model>@<http(s)://base-url>[,<url>…]";
  if (!model || (urls.length === 0 && base.includes("@")))
    throw new UserError(`teacher "${spec}" must look like ${form}`);
  for (const url of urls) {
    if (!isHttpUrl(url)) throw new UserError(`"${url}" in teacher "${spec}" is not an http(s) URL (${form})`);
  }
  return { kind: "openai", spec, model, urls };
}

function modelSpec(spec: string, dir: string): TeacherSpec {
  if (!dir) throw new UserError(`teacher "${spec}" needs a folder: model:<dir>`);
  return { kind: "model", spec, dir };
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
  } catch {
    return false;
  }
}
