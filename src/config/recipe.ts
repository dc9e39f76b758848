import { readFileSync } from "node:fs";
import { isMap, LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { UserError } from "../util/errors.ts";

/**
 * Recipes are YAML files holding the same options as a stage's flags, validated by the stage's one
 * zod schema. Flags given on the command line override the recipe; the schema fills the defaults.
 * A recipe may hold one stage's options at its top level, or several stages' under their names
 * (`generate:`, `filter:`, …).
 */
export function loadRecipe(
  file: string,
  stage: string,
): { values: Record<string, unknown>; lineOf: (key: string) => number | undefined } {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new UserError("recipe not found", { file });
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  if (doc.errors.length > 0) {
    const err = doc.errors[0];
    throw new UserError(`invalid YAML: ${err.message.split("\n")[0]}`, { file, line: err.linePos?.[0].line });
  }
  const root = doc.toJS() ?? {};
  if (typeof root !== "object" || Array.isArray(root))
    throw new UserError("a recipe must be a mapping of options", { file });
  const nested = stage in root && typeof root[stage] === "object";
  const values = nested ? root[stage] : root;
  const lineOf = (key: string) => {
    const map = nested ? doc.get(stage, true) : doc.contents;
    if (!isMap(map)) return undefined;
    const pair = map.items.find((item) => (item.key as { value?: unknown })?.value === key);
    const offset = (pair?.key as { range?: [number, number, number] } | undefined)?.range?.[0];
    return offset === undefined ? undefined : lineCounter.linePos(offset).line;
  };
  return { values, lineOf };
}

/**
 * Validate options with a stage's schema: recipe values first, flags over them. The first problem
 * becomes one UserError naming the file, line and field (or the flag).
 */
export function resolveOptions<S extends z.ZodType>(
  schema: S,
  flags: Record<string, unknown>,
  recipe?: { file: string; stage: string },
): z.infer<S> {
  const fromRecipe = recipe ? loadRecipe(recipe.file, recipe.stage) : undefined;
  const defined = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
  const result = schema.safeParse({ ...(fromRecipe?.values ?? {}), ...defined });
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  // a misspelt option is an unrecognized key of the object that holds it, not a path of its own
  const path = [
    ...issue.path.map(String),
    ...(issue.code === "unrecognized_keys" ? issue.keys.slice(0, 1) : []),
  ];
  const field = path.join(".") || undefined;
  const key = path[0] ?? "";
  const fromFile = fromRecipe && !(key in defined) && key in fromRecipe.values;
  if (fromFile)
    throw new UserError(issue.message, { file: recipe!.file, line: fromRecipe.lineOf(key), field });
  throw new UserError(`${issue.message}${field ? ` (--${kebab(field)})` : ""}`);
}

export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** A stage command's options from its flags: `--recipe <file>` (if given) read first, the other flags over it. */
export function resolveStageOptions<S extends z.ZodType>(
  schema: S,
  flags: Record<string, unknown>,
  stage: string,
): z.infer<S> {
  const { recipe, ...rest } = flags;
  return resolveOptions(schema, rest, recipe ? { file: String(recipe), stage } : undefined);
}
