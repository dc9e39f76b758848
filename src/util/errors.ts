/**
 * Errors a person caused and can fix (bad flag, bad file, bad line). The CLI prints `message` alone,
 * with no stack trace, and exits with code 2. Everything else is a bug and keeps its stack.
 */
export class UserError extends Error {
  override name = "UserError";
  constructor(
    message: string,
    /** Where the problem is, e.g. `{ file: "prompts.jsonl", line: 12, field: "question" }`. */
    readonly where: { file?: string; line?: number; field?: string } = {},
  ) {
    super(formatWhere(where) + message);
  }
}

function formatWhere(where: { file?: string; line?: number; field?: string }): string {
  const parts: string[] = [];
  if (where.file) parts.push(where.line ? `${where.file}:${where.line}` : where.file);
  if (where.field) parts.push(`field "${where.field}"`);
  return parts.length ? `${parts.join(", ")}: ` : "";
}
