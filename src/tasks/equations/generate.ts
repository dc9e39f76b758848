import { UserError } from "../../util/errors.ts";
import { hashSeed, pick, type Random, randInt, seededRandom } from "../../util/random.ts";
import { parseEquation, solveLinear } from "./expression.ts";
import { formatRational } from "./rational.ts";

/**
 * Difficulty bands of the built-in task, easiest first. A small student masters the first two in
 * minutes; the others show how far distillation carries.
 * - one-step:    x + 7 = 12, 4x = -20, x/3 = 5
 * - two-step:    3x + 5 = 20, x/4 - 2 = 3
 * - both-sides:  5x - 7 = 2x + 8
 * - parentheses: 3(x - 2) + 4 = 2x + 1
 * - fractions:   (2/3)x + 1 = 5, x/2 + x/3 = 10
 */
export const equationBands = ["one-step", "two-step", "both-sides", "parentheses", "fractions"] as const;
export type EquationBand = (typeof equationBands)[number];

export interface EquationProblem {
  /** Stable id derived from the equation text, so a problem keeps its id across seeds and counts. */
  id: string;
  equation: string;
  band: EquationBand;
  /** Exact solution, e.g. `-3/4`. */
  solution: string;
}

export interface EquationOptions {
  count: number;
  seed: number;
  bands: readonly EquationBand[];
  /** Share of problems whose solution is a fraction (where the band allows one). */
  fractionRate: number;
  /** `train` and `test` are disjoint by construction (a hash of the equation text decides). */
  split: "train" | "test" | "all";
}

export const defaultEquationOptions: EquationOptions = {
  count: 100,
  seed: 1,
  bands: equationBands,
  fractionRate: 0.15,
  split: "train",
};

/** One in `testShare` equations belongs to the held-out split. */
const testShare = 8;

export function inSplit(equation: string, split: EquationOptions["split"]): boolean {
  if (split === "all") return true;
  const isTest = hashSeed("split", equation) % testShare === 0;
  return split === "test" ? isTest : !isTest;
}

/** Distinct problems, bands in round-robin (a band listed twice has twice the share). */
export function generateEquations(options: Partial<EquationOptions> = {}): EquationProblem[] {
  const o = { ...defaultEquationOptions, ...options };
  const random = seededRandom(hashSeed("equations", o.seed));
  const seen = new Set<string>();
  const problems: EquationProblem[] = [];
  for (let attempts = 0; problems.length < o.count; attempts++) {
    if (attempts > o.count * 200 + 1000) {
      throw new UserError(
        `only ${problems.length} distinct equations found for ${[...new Set(o.bands)].join(", ")} (split ${o.split}); ask for fewer or add bands`,
      );
    }
    const band = o.bands[problems.length % o.bands.length];
    const equation = makeEquation(random, band, random() < o.fractionRate);
    if (seen.has(equation) || !inSplit(equation, o.split)) continue;
    const solution = solveLinear(parseEquation(equation));
    if (solution === null) continue;
    seen.add(equation);
    problems.push({
      id: `eq-${hashSeed(equation).toString(16).padStart(8, "0")}`,
      equation,
      band,
      solution: formatRational(solution),
    });
  }
  return problems;
}

export function equationPrompt(equation: string): string {
  return `Solve for x: ${equation}`;
}

/**
 * Build an equation of a band. With `fractional` false the solution is an integer in [-12, 12]
 * (chosen first, constants derived from it); with `fractional` true the constants are chosen so the
 * solution is a proper fraction (checked by the caller's solver; integers rarely slip through).
 */
function makeEquation(random: Random, band: EquationBand, fractional: boolean): string {
  const s = randInt(random, -12, 12);
  const a = nonUnit(random, 2, 9);
  // constants up to 50: two-digit sums and differences, which a student must work out step by step
  const b = randInt(random, 1, 50);
  // k·s + m as the integer right-hand side, or an arbitrary one that k does not divide when fractional
  const rhs = (k: number, m: number) => {
    if (!fractional || Math.abs(k) === 1) return k * s + m;
    for (;;) {
      const c = randInt(random, -30, 30);
      if ((c - m) % k !== 0) return c;
    }
  };
  switch (band) {
    case "one-step": {
      const form = randInt(random, 0, 3);
      if (form === 0) return `x + ${b} = ${s + b}`;
      if (form === 1) return `x - ${b} = ${s - b}`;
      if (form === 2) return `${a}x = ${rhs(a, 0)}`;
      return `x/${a} = ${s}`;
    }
    case "two-step": {
      const form = randInt(random, 0, 2);
      if (form === 2 && !fractional) return `x/${a} ${signed(b)} = ${s + b}`;
      const m = pick(random, [b, -b]);
      return `${a}x ${signed(m)} = ${rhs(a, m)}`;
    }
    case "both-sides": {
      let c = nonUnit(random, -9, 9);
      if (c === a) c = -c;
      const m = randInt(random, -15, 15);
      // a·x + m = c·x + d  ⇔  (a - c)·x = d - m
      const d = rhs(a - c, m);
      return `${a}x ${signed(m)} = ${c}x ${signed(d)}`;
    }
    case "parentheses": {
      const inner = nonUnit(random, -9, 9);
      const c = randInt(random, -10, 10);
      // a(x + inner) + c = a·x + (a·inner + c)
      return `${a}(x ${signed(inner)})${c === 0 ? "" : ` ${signed(c)}`} = ${rhs(a, a * inner + c)}`;
    }
    case "fractions": {
      const q = randInt(random, 2, 6);
      const c = randInt(random, -9, 9);
      if (randInt(random, 0, 1) === 0) {
        let p = randInt(random, 1, q - 1);
        while (gcd(p, q) !== 1) p--;
        // (p/q)x + c = p·s + c has the solution x = q·s
        return `(${p}/${q})x${c === 0 ? "" : ` ${signed(c)}`} = ${fractional ? randInt(random, -20, 20) : p * s + c}`;
      }
      const q2 = q + randInt(random, 1, 3);
      // x/q + x/q2 = e with x a multiple of q·q2 (or not, when fractional)
      const x = randInt(random, -3, 3) * q * q2;
      return `x/${q} + x/${q2} = ${fractional ? randInt(random, 1, 12) : x / q + x / q2}`;
    }
  }
}

/** An integer in [lo, hi] other than -1, 0 and 1 (those make degenerate steps). */
function nonUnit(random: Random, lo: number, hi: number): number {
  for (;;) {
    const n = randInt(random, lo, hi);
    if (n !== 0 && n !== 1 && n !== -1) return n;
  }
}

/** `+ 3`, `- 3`. */
function signed(n: number): string {
  return n < 0 ? `- ${-n}` : `+ ${n}`;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
