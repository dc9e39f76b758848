import { parseEquation } from "../tasks/equations/expression.ts";
import { findEquation } from "../tasks/equations/find.ts";
import { loadPrompts } from "../tasks/sources.ts";
import { hash53 } from "./text.ts";

/**
 * Decontamination: no evaluation item may leak into training data. A training prompt is contaminated
 * when it shares a token n-gram (default 13, as in GPT-3's and open-r1's decontamination) with a
 * benchmark item.
 *
 * Why more than 13-grams: a built-in equation prompt ("Solve for x: 3x + 5 = 20") is 8 tokens, and many
 * MATH-500 problems are shorter than 13 tokens, so a 13-gram can never match them. For a benchmark item
 * shorter than n tokens the n-gram is the whole item: its complete token sequence must appear in the
 * training prompt (items under 4 tokens are matched only as whole prompts, being too generic to
 * search inside others). Tokens are words, numbers and the operators `+ - * / = ^ < >`, so "3x + 5 = 20"
 * and "3x - 5 = 20" stay different problems. On top, prompts holding a linear equation are compared by
 * the equation with spacing and `*` removed, so a reworded prompt around a held-out equation is caught.
 * Disjoint train/test splits of the built-in equations therefore give zero matches (a test proves it),
 * while any test item copied into training data is found.
 */
export interface DecontaminationIndex {
  specs: string[];
  items: number;
  /** The benchmark spec a prompt overlaps with, or null. */
  match(prompt: string): { spec: string; how: string } | null;
}

export function decontaminationTokens(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+|[+\-*/=^<>−]/gu) ?? [];
}

/** `3 * x + 5 = 20`, `3x+5=20` → `3x+5=20`. */
export function canonicalEquation(equation: string): string {
  return equation
    .toLowerCase()
    .replace(/[−–]/g, "-")
    .replace(/\s+/g, "")
    .replace(/(?<=\d)\*(?=[a-z(])/g, "");
}

const minInsideTokens = 4;

export async function buildDecontaminationIndex(specs: string[], n = 13): Promise<DecontaminationIndex> {
  // n-gram hash → spec index; whole-item sequences shorter than n go in per-length maps
  const grams = new Map<number, number>();
  const short = new Map<number, Map<number, number>>();
  const wholes = new Map<number, number>();
  const equations = new Map<string, number>();
  let items = 0;
  for (const [s, spec] of specs.entries()) {
    for (const item of await loadPrompts(spec)) {
      items++;
      const tokens = decontaminationTokens(item.prompt);
      wholes.set(hash53(tokens.join(" ")), s);
      const equation = equationIn(item.prompt);
      if (equation) equations.set(canonicalEquation(equation), s);
      if (tokens.length >= n) {
        for (let i = 0; i + n <= tokens.length; i++) grams.set(hash53(tokens.slice(i, i + n).join(" ")), s);
      } else if (tokens.length >= minInsideTokens) {
        let byLength = short.get(tokens.length);
        if (!byLength) {
          byLength = new Map();
          short.set(tokens.length, byLength);
        }
        byLength.set(hash53(tokens.join(" ")), s);
      }
    }
  }
  return {
    specs,
    items,
    match(prompt) {
      const tokens = decontaminationTokens(prompt);
      const whole = wholes.get(hash53(tokens.join(" ")));
      if (whole !== undefined) return { spec: specs[whole], how: "same prompt" };
      const equation = equationIn(prompt);
      const eq = equation ? equations.get(canonicalEquation(equation)) : undefined;
      if (eq !== undefined) return { spec: specs[eq], how: `same equation ${equation}` };
      for (let i = 0; i + n <= tokens.length; i++) {
        const s = grams.get(hash53(tokens.slice(i, i + n).join(" ")));
        if (s !== undefined)
          return { spec: specs[s], how: `${n}-gram "${tokens.slice(i, i + n).join(" ")}"` };
      }
      for (const [length, byLength] of short) {
        for (let i = 0; i + length <= tokens.length; i++) {
          const s = byLength.get(hash53(tokens.slice(i, i + length).join(" ")));
          if (s !== undefined)
            return { spec: specs[s], how: `whole item "${tokens.slice(i, i + length).join(" ")}"` };
        }
      }
      return null;
    },
  };
}

/**
 * The linear equation a prompt states, if any: the built-in "Solve for x: …" form first, else the
 * longest tail of a line with `=` that parses ("Find x such that 3x+5=20." → `3x+5=20`).
 */
export function equationIn(prompt: string): string | null {
  if (!prompt.includes("=")) return null;
  const builtin = findEquation(prompt);
  if (builtin !== null) return builtin;
  for (const line of prompt.split("\n")) {
    if (!line.includes("=")) continue;
    const tokens = line
      .trim()
      .replace(/[.?!]+$/, "")
      .split(/\s+/);
    for (let i = 0; i < tokens.length; i++) {
      const candidate = tokens.slice(i).join(" ");
      if (!candidate.includes("=")) break;
      try {
        parseEquation(candidate);
        return candidate;
      } catch {
        // try a shorter tail
      }
    }
  }
  return null;
}
