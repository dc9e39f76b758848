import { EquationSyntaxError, parseEquation } from "./expression.ts";

/**
 * The equation a built-in prompt states: the first line that parses as a linear equation once a
 * `Solve for x:` lead-in and a final full stop are cut (`Solve for x: 3x + 5 = 20.` → `3x + 5 = 20`).
 * `null` when no line does.
 */
export function findEquation(prompt: string): string | null {
  for (const line of prompt.split("\n")) {
    if (!line.includes("=")) continue;
    const candidate = line
      .replace(/^[^=]*?:\s*/, "")
      .replace(/[.?]\s*$/, "")
      .trim();
    try {
      parseEquation(candidate);
      return candidate;
    } catch (err) {
      if (!(err instanceof EquationSyntaxError)) throw err;
    }
  }
  return null;
}
