import { add, div, isZero, mul, neg, type Rational, rat, sub } from "./rational.ts";

/**
 * A parser for the ASCII equations of the built-in task, e.g. `3(x - 2) + 4 = 2x + 1/2`,
 * `(2/3)x - x/4 = 5`. Grammar (implicit multiplication binds like `*`):
 *   equation := expr "=" expr
 *   expr     := term (("+" | "-") term)*
 *   term     := unary (("*" | "/")? unary)*      -- a missing operator is multiplication
 *   unary    := "-" unary | atom
 *   atom     := integer | variable | "(" expr ")"
 */
export type Expr =
  | { kind: "num"; value: Rational }
  | { kind: "var"; name: string }
  | { kind: "neg"; arg: Expr }
  | { kind: "bin"; op: "+" | "-" | "*" | "/"; left: Expr; right: Expr };

/** `a·x + b` for the one variable of an equation. */
export interface Linear {
  a: Rational;
  b: Rational;
}

export interface ParsedEquation {
  left: Expr;
  right: Expr;
  variable: string;
}

export class EquationSyntaxError extends Error {
  override name = "EquationSyntaxError";
}

export function parseEquation(text: string): ParsedEquation {
  const sides = text.split("=");
  if (sides.length !== 2) throw new EquationSyntaxError(`expected exactly one "=" in "${text}"`);
  const left = parseExpression(sides[0]);
  const right = parseExpression(sides[1]);
  const names = new Set([...variables(left), ...variables(right)]);
  if (names.size !== 1)
    throw new EquationSyntaxError(`expected one variable in "${text}", found ${names.size}`);
  return { left, right, variable: [...names][0] };
}

export function parseExpression(text: string): Expr {
  const tokens = text.match(/\d+|[a-zA-Z]|[-+*/()]|\S/g) ?? [];
  let at = 0;
  const peek = () => tokens[at];
  const take = (expected?: string) => {
    const token = tokens[at++];
    if (expected && token !== expected) throw new EquationSyntaxError(`expected "${expected}" in "${text}"`);
    return token;
  };
  const expr = (): Expr => {
    let left = term();
    while (peek() === "+" || peek() === "-") {
      const op = take() as "+" | "-";
      left = { kind: "bin", op, left, right: term() };
    }
    return left;
  };
  const startsAtom = (t: string | undefined) => t !== undefined && /^(\d+|[a-zA-Z]|\()$/.test(t);
  const term = (): Expr => {
    let left = unary();
    for (;;) {
      if (peek() === "*" || peek() === "/") {
        const op = take() as "*" | "/";
        left = { kind: "bin", op, left, right: unary() };
      } else if (startsAtom(peek())) left = { kind: "bin", op: "*", left, right: unary() };
      else return left;
    }
  };
  const unary = (): Expr => {
    if (peek() !== "-") return atom();
    take();
    return { kind: "neg", arg: unary() };
  };
  const atom = (): Expr => {
    const token = take();
    if (token === undefined) throw new EquationSyntaxError(`unexpected end of "${text}"`);
    if (/^\d+$/.test(token)) return { kind: "num", value: rat(Number(token)) };
    if (/^[a-zA-Z]$/.test(token)) return { kind: "var", name: token };
    if (token === "(") {
      const inner = expr();
      take(")");
      return inner;
    }
    throw new EquationSyntaxError(`unexpected "${token}" in "${text}"`);
  };
  const result = expr();
  if (at < tokens.length) throw new EquationSyntaxError(`unexpected "${tokens[at]}" in "${text}"`);
  return result;
}

function variables(e: Expr): string[] {
  if (e.kind === "var") return [e.name];
  if (e.kind === "num") return [];
  if (e.kind === "neg") return variables(e.arg);
  return [...variables(e.left), ...variables(e.right)];
}

/** Reduce an expression to `a·x + b`; throws when it is not linear (x·x, division by x). */
export function toLinear(e: Expr): Linear {
  switch (e.kind) {
    case "num":
      return { a: rat(0), b: e.value };
    case "var":
      return { a: rat(1), b: rat(0) };
    case "neg": {
      const { a, b } = toLinear(e.arg);
      return { a: neg(a), b: neg(b) };
    }
    case "bin": {
      const l = toLinear(e.left);
      const r = toLinear(e.right);
      if (e.op === "+") return { a: add(l.a, r.a), b: add(l.b, r.b) };
      if (e.op === "-") return { a: sub(l.a, r.a), b: sub(l.b, r.b) };
      if (e.op === "*") {
        if (!isZero(l.a) && !isZero(r.a))
          throw new EquationSyntaxError("not linear: a product of two x terms");
        return { a: add(mul(l.a, r.b), mul(r.a, l.b)), b: mul(l.b, r.b) };
      }
      if (!isZero(r.a)) throw new EquationSyntaxError("not linear: division by an x term");
      return { a: div(l.a, r.b), b: div(l.b, r.b) };
    }
  }
}

/** Value of an expression at `x = value`. */
export function evaluate(e: Expr, value: Rational): Rational {
  const { a, b } = toLinear(e);
  return add(mul(a, value), b);
}

/** The unique solution of a linear equation; null when it has none or infinitely many. */
export function solveLinear(eq: ParsedEquation): Rational | null {
  const l = toLinear(eq.left);
  const r = toLinear(eq.right);
  const a = sub(l.a, r.a);
  if (isZero(a)) return null;
  return div(sub(r.b, l.b), a);
}
