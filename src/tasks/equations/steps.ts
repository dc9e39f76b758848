import { explainSum } from "./arithmetic.ts";
import { type Expr, type ParsedEquation, parseEquation, toLinear } from "./expression.ts";
import {
  abs,
  add,
  div,
  eq,
  formatRational,
  isInt,
  isZero,
  mul,
  neg,
  type Rational,
  rat,
  sub,
} from "./rational.ts";

/**
 * A clear step-by-step solution of a linear equation, one step a line, the way the built-in teacher
 * writes it at temperature 0. Short and explicit on purpose: every number the student must produce
 * appears as a small computation (`20 - 5 = 15`), and sums and differences as the chains of
 * arithmetic.ts (`-21 + 14 = -(21 - 14) = -(21 - 10 - 4) = -(11 - 4) = -7`), which is what a small
 * model can learn to reproduce.
 *
 *   Equation: 3(x - 2) + 4 = 2x + 1
 *   Expand: 3x - 6 + 4 = 2x + 1
 *   Combine like terms: 3x - 2 = 2x + 1
 *   Subtract 2x from both sides: x - 2 = 1
 *   Add 2 to both sides: x = 1 + 2 = 3
 *   Check: 3(3 - 2) + 4 = 7 and 2*3 + 1 = 7
 */
export interface Solution {
  lines: string[];
  /** `x = 3`. */
  answer: string;
  value: Rational;
}

/** Where an arithmetic slip goes (the built-in teacher's most common fault) and by how much. */
export interface Slip {
  step: "constant" | "divide";
  delta: number;
}

interface Term {
  coef: Rational;
  isX: boolean;
}

export function solveSteps(equation: string, slip?: Slip): Solution {
  const parsed = parseEquation(equation);
  const v = parsed.variable;
  const lines = [`Equation: ${equation}`];
  const leftTerms = expandTerms(parsed.left);
  const rightTerms = expandTerms(parsed.right);
  const expanded = `${formatTerms(leftTerms, v)} = ${formatTerms(rightTerms, v)}`;
  if (expanded !== normalizeSpaces(equation)) {
    lines.push(`${/\(/.test(equation.replace(/\(\d+\/\d+\)/g, "")) ? "Expand" : "Rewrite"}: ${expanded}`);
  }
  const left = toLinear(parsed.left);
  const right = toLinear(parsed.right);
  const combined = `${formatLinear(left.a, left.b, v)} = ${formatLinear(right.a, right.b, v)}`;
  if (combined !== expanded) lines.push(`Combine like terms: ${combined}`);

  // Move the x terms left: (a1 - a2)·x + b1 = b2
  let a = left.a;
  if (!isZero(right.a)) {
    a = sub(left.a, right.a);
    const moved = formatCoef(abs(right.a), v);
    const verb = right.a.n > 0 ? `Subtract ${moved} from` : `Add ${moved} to`;
    lines.push(`${verb} both sides: ${formatLinear(a, left.b, v)} = ${formatRational(right.b)}`);
  }
  if (isZero(a)) throw new Error(`"${equation}" has no unique solution`);

  // Move the constant right: a·x = b2 - b1 = c
  let c = right.b;
  const slipAt: Slip["step"] | undefined = slip && (isZero(left.b) ? "divide" : slip.step);
  if (!isZero(left.b)) {
    const moved = formatRational(abs(left.b));
    const op = left.b.n > 0 ? "-" : "+";
    c = left.b.n > 0 ? sub(right.b, left.b) : add(right.b, abs(left.b));
    if (slip && slipAt === "constant") c = add(c, rat(slip.delta));
    const verb = left.b.n > 0 ? `Subtract ${moved} from` : `Add ${moved} to`;
    const sum =
      isInt(right.b) && isInt(left.b) && isInt(c)
        ? explainSum(right.b.n, op, Math.abs(left.b.n), c.n)
        : `${formatRational(right.b)} ${op} ${moved} = ${formatRational(c)}`;
    lines.push(`${verb} both sides: ${formatCoef(a, v)} = ${sum}`);
  }

  // Isolate x
  let value = div(c, a);
  if (slip && slipAt === "divide") value = add(value, rat(slip.delta));
  if (eq(a, rat(-1))) lines.push(`Multiply both sides by -1: ${v} = ${formatRational(value)}`);
  else if (isInt(a) && !eq(a, rat(1)))
    lines.push(
      `Divide both sides by ${formatOperand(a)}: ${v} = ${formatRational(c)} / ${formatOperand(a)} = ${formatRational(value)}`,
    );
  else if (!isInt(a)) {
    const inverse = div(rat(1), a);
    lines.push(
      `Multiply both sides by ${formatOperand(inverse)}: ${v} = ${formatRational(c)} * ${formatOperand(inverse)} = ${formatRational(value)}`,
    );
  }

  lines.push(checkLine(parsed, equation, value, slip !== undefined));
  return { lines, answer: `${v} = ${formatRational(value)}`, value };
}

/**
 * The value substituted into each side: `Check: 3*5 + 5 = 20` when the right side is a number,
 * `Check: 7*6 - 8 = 34 = 6*6 - 2` when it holds x too. A slipped solution claims the check passes,
 * as a careless model does: the left side is reported equal to the right.
 */
function checkLine(parsed: ParsedEquation, equation: string, value: Rational, claimOnly: boolean): string {
  const [leftText, rightText] = equation.split("=").map((s) => s.trim());
  const rightValue = formatRational(evaluateSide(parsed.right, value));
  const leftValue = claimOnly ? rightValue : formatRational(evaluateSide(parsed.left, value));
  const left = `${substitute(leftText, parsed.variable, value)} = ${leftValue}`;
  if (!/[a-zA-Z]/.test(rightText)) return `Check: ${left}`;
  return `Check: ${left} = ${substitute(rightText, parsed.variable, value)}`;
}

function evaluateSide(e: Expr, value: Rational): Rational {
  const { a, b } = toLinear(e);
  return add(mul(a, value), b);
}

/** Write `value` in place of the variable: `3x` → `3*5`, `x/4` → `(-8)/4`. */
export function substitute(text: string, variable: string, value: Rational): string {
  const shown = value.n >= 0 && isInt(value) ? formatRational(value) : `(${formatRational(value)})`;
  return text.replace(new RegExp(`([\\d)])?${variable}`, "g"), (_m, before?: string) =>
    before ? `${before}*${shown}` : shown,
  );
}

/** Distribute products and quotients by constants, keeping terms apart and in order (no combining). */
function expandTerms(e: Expr): Term[] {
  switch (e.kind) {
    case "num":
      return [{ coef: e.value, isX: false }];
    case "var":
      return [{ coef: rat(1), isX: true }];
    case "neg":
      return expandTerms(e.arg).map((t) => ({ ...t, coef: neg(t.coef) }));
    case "bin": {
      const l = expandTerms(e.left);
      const r = expandTerms(e.right);
      if (e.op === "+") return [...l, ...r];
      if (e.op === "-") return [...l, ...r.map((t) => ({ ...t, coef: neg(t.coef) }))];
      const constant = (ts: Term[]) => ts.every((t) => !t.isX);
      const value = (ts: Term[]) => ts.reduce((s, t) => add(s, t.coef), rat(0));
      if (e.op === "/") return l.map((t) => ({ ...t, coef: div(t.coef, value(r)) }));
      if (constant(l) && constant(r)) return [{ coef: mul(value(l), value(r)), isX: false }];
      const [factor, terms] = constant(l) ? [value(l), r] : [value(r), l];
      return terms.map((t) => ({ ...t, coef: mul(t.coef, factor) }));
    }
  }
}

function formatTerms(terms: Term[], v: string): string {
  if (terms.length === 0) return "0";
  return terms
    .map((t, i) => {
      const text = t.isX ? formatCoef(abs(t.coef), v) : formatRational(abs(t.coef));
      if (i === 0) return t.coef.n < 0 ? `-${text}` : text;
      return t.coef.n < 0 ? ` - ${text}` : ` + ${text}`;
    })
    .join("");
}

function formatLinear(a: Rational, b: Rational, v: string): string {
  const terms: Term[] = [];
  if (!isZero(a)) terms.push({ coef: a, isX: true });
  if (!isZero(b) || terms.length === 0) terms.push({ coef: b, isX: false });
  return formatTerms(terms, v);
}

/** `x`, `-x`, `3x`, `(2/3)x`. */
function formatCoef(a: Rational, v: string): string {
  if (eq(a, rat(1))) return v;
  if (eq(a, rat(-1))) return `-${v}`;
  return isInt(a) ? `${a.n}${v}` : `(${formatRational(a)})${v}`;
}

/** A number as an operand: negatives and fractions in parentheses, `(-3)`, `(1/4)`. */
function formatOperand(a: Rational): string {
  return a.n < 0 || !isInt(a) ? `(${formatRational(a)})` : formatRational(a);
}

function normalizeSpaces(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}
