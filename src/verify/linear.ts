/**
 * Rule verifier for the built-in linear-equation task: substitutes the candidate answer into the
 * equation and checks both sides are exactly equal in rational arithmetic. It never looks at a gold
 * answer, so a teacher cannot talk its way past it.
 *
 * Equation text (ASCII, from the equations generator): one variable (a single letter), integers,
 * fractions `a/b` or `(a/b)`, decimals, implicit multiplication (`3x`, `3(x + 1)`, `(1/2)x`,
 * `-(x - 2)`), optional `*`, `x/4`, `+ - * /`, `^` with an integer exponent, parentheses, one `=`.
 *
 * Exactness is deliberate: `0.333` for x = 1/3 is 333/1000, not 1/3, so it is judged wrong (false).
 * A rounded decimal is a different number; the task asks for the exact solution.
 */
import { add, div, equals, mul, neg, parseDecimal, pow, type Rational, rational, sub } from "./rational.ts";

type Token = { kind: "num"; value: Rational } | { kind: "var"; name: string } | { kind: "op"; op: string };

/** AST of an ASCII arithmetic expression in one variable. */
type Node =
  | { kind: "num"; value: Rational }
  | { kind: "var"; name: string }
  | { kind: "neg"; arg: Node }
  | { kind: "bin"; op: "+" | "-" | "*" | "/"; left: Node; right: Node }
  | { kind: "pow"; base: Node; exp: bigint };

function tokenize(text: string): Token[] | null {
  const tokens: Token[] = [];
  const re = /\s*(?:(\d+(?:\.\d*)?|\.\d+)|([A-Za-z])|([-+*/()^]))/y;
  const src = text.replace(/[−–]/g, "-").replace(/[×·]/g, "*").replace(/÷/g, "/");
  let pos = 0;
  while (pos < src.length) {
    if (/^\s*$/.test(src.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(src);
    if (!m) return null;
    pos = re.lastIndex;
    if (m[1] !== undefined) {
      const value = parseDecimal(m[1]);
      if (!value) return null;
      tokens.push({ kind: "num", value });
    } else if (m[2] !== undefined) tokens.push({ kind: "var", name: m[2] });
    else tokens.push({ kind: "op", op: m[3] });
  }
  return tokens;
}

/** Recursive-descent parser; returns null on any syntax error. */
function parseExpression(tokens: Token[]): Node | null {
  let i = 0;
  const peekOp = (op: string) => tokens[i]?.kind === "op" && (tokens[i] as { op: string }).op === op;
  const startsAtom = () => {
    const t = tokens[i];
    return t !== undefined && (t.kind !== "op" || t.op === "(");
  };
  function expr(): Node | null {
    let left = term();
    while (left && (peekOp("+") || peekOp("-"))) {
      const op = (tokens[i++] as { op: "+" | "-" }).op;
      const right = term();
      if (!right) return null;
      left = { kind: "bin", op, left, right };
    }
    return left;
  }
  function term(): Node | null {
    let left = unary();
    while (left) {
      if (peekOp("*") || peekOp("/")) {
        const op = (tokens[i++] as { op: "*" | "/" }).op;
        const right = unary();
        if (!right) return null;
        left = { kind: "bin", op, left, right };
      } else if (startsAtom()) {
        // Implicit multiplication: 3x, 3(x + 1), (1/2)x, x(x - 1).
        const right = power();
        if (!right) return null;
        left = { kind: "bin", op: "*", left, right };
      } else break;
    }
    return left;
  }
  function unary(): Node | null {
    if (peekOp("-")) {
      i++;
      const arg = unary();
      return arg && { kind: "neg", arg };
    }
    if (peekOp("+")) {
      i++;
      return unary();
    }
    return power();
  }
  function power(): Node | null {
    const base = atom();
    if (base && peekOp("^")) {
      i++;
      let sign = 1n;
      if (peekOp("-")) {
        i++;
        sign = -1n;
      }
      const t = tokens[i++];
      if (t?.kind !== "num" || t.value.den !== 1n) return null;
      return { kind: "pow", base, exp: sign * t.value.num };
    }
    return base;
  }
  function atom(): Node | null {
    const t = tokens[i++];
    if (!t) return null;
    if (t.kind === "num") return { kind: "num", value: t.value };
    if (t.kind === "var") return { kind: "var", name: t.name };
    if (t.op === "(") {
      const inner = expr();
      if (!inner || !peekOp(")")) return null;
      i++;
      return inner;
    }
    return null;
  }
  const node = expr();
  return node && i === tokens.length ? node : null;
}

function parseAscii(text: string): Node | null {
  const tokens = tokenize(text);
  return tokens && tokens.length > 0 ? parseExpression(tokens) : null;
}

class DivisionByZero extends Error {}

function evaluate(node: Node, env: Map<string, Rational>): Rational {
  switch (node.kind) {
    case "num":
      return node.value;
    case "var": {
      const v = env.get(node.name);
      if (!v) throw new Error(`unbound ${node.name}`);
      return v;
    }
    case "neg":
      return neg(evaluate(node.arg, env));
    case "pow": {
      const r = pow(evaluate(node.base, env), node.exp);
      if (!r) throw new DivisionByZero();
      return r;
    }
    case "bin": {
      const a = evaluate(node.left, env);
      const b = evaluate(node.right, env);
      if (node.op === "+") return add(a, b);
      if (node.op === "-") return sub(a, b);
      if (node.op === "*") return mul(a, b);
      const q = div(a, b);
      if (!q) throw new DivisionByZero();
      return q;
    }
  }
}

function variablesOf(node: Node, out = new Set<string>()): Set<string> {
  if (node.kind === "var") out.add(node.name);
  else if (node.kind === "neg") variablesOf(node.arg, out);
  else if (node.kind === "pow") variablesOf(node.base, out);
  else if (node.kind === "bin") {
    variablesOf(node.left, out);
    variablesOf(node.right, out);
  }
  return out;
}

/** Index of the `}` closing the `{` at `open`, or -1. */
function closingBrace(text: string, open: number): number {
  let depth = 0;
  for (let k = open; k < text.length; k++) {
    if (text[k] === "{") depth++;
    else if (text[k] === "}" && --depth === 0) return k;
  }
  return -1;
}

/** Rewrites `\frac{a}{b}` (and \dfrac, \tfrac) as `((a)/(b))`, innermost first. */
function rewriteFractions(text: string): string | null {
  for (let guard = 0; guard < 50; guard++) {
    const m = /\\[dtc]?frac\s*/.exec(text);
    if (!m) return text;
    const a0 = m.index + m[0].length;
    if (text[a0] !== "{") return null;
    const a1 = closingBrace(text, a0);
    const b0 = a1 + 1;
    if (a1 < 0 || text[b0] !== "{") return null;
    const b1 = closingBrace(text, b0);
    if (b1 < 0) return null;
    text = `${text.slice(0, m.index)}((${text.slice(a0 + 1, a1)})/(${text.slice(b0 + 1, b1)}))${text.slice(b1 + 1)}`;
  }
  return null;
}

/** Turns an answer such as `x = -3/4`, `\boxed{\frac{-3}{4}}`, `$-0.75$` into an exact rational. */
export function parseLinearAnswer(answer: string): Rational | null {
  let text = answer.trim();
  const boxed = text.lastIndexOf("\\boxed");
  if (boxed >= 0) {
    const open = text.indexOf("{", boxed);
    const close = open >= 0 ? closingBrace(text, open) : -1;
    if (close < 0) return null;
    text = text.slice(open + 1, close);
  }
  text = text
    .replace(/\\[()[\]]|\$/g, " ")
    .replace(/\\left|\\right|\\,|\\!|\\;/g, "")
    .replace(/\\cdot|\\times/g, "*")
    .replace(/[.。]\s*$/, "")
    .trim();
  // Keep what follows the last `=`: "x = -3/4", "x = 6/8 = -3/4".
  const eq = text.lastIndexOf("=");
  if (eq >= 0) text = text.slice(eq + 1);
  text = text.trim();
  // Mixed number "2 1/2" (implicit multiplication would read it as 2 · 1/2).
  const mixed = /^([+-]?)(\d+)\s+(\d+)\/(\d+)$/.exec(text);
  if (mixed) {
    const value = div(
      rational(BigInt(mixed[2]) * BigInt(mixed[4]) + BigInt(mixed[3])),
      rational(BigInt(mixed[4])),
    );
    return value && (mixed[1] === "-" ? neg(value) : value);
  }
  const rewritten = rewriteFractions(text);
  if (rewritten === null || /[\\{}]/.test(rewritten)) return null;
  const node = parseAscii(rewritten);
  if (!node) return null;
  // A constant is required: an answer still containing the variable is not a solution value.
  if (variablesOf(node).size > 0) return null;
  try {
    return evaluate(node, new Map());
  } catch {
    return null;
  }
}

/**
 * true when `answer` satisfies `equation` exactly, false when it does not (or makes a
 * denominator zero), null when either cannot be parsed (not one variable, not one `=`, …).
 * Never throws.
 */
export function checkLinearEquationAnswer(equation: string, answer: string): boolean | null {
  try {
    const sides = equation.split("=");
    if (sides.length !== 2) return null;
    const left = parseAscii(sides[0]);
    const right = parseAscii(sides[1]);
    if (!left || !right) return null;
    const vars = new Set([...variablesOf(left), ...variablesOf(right)]);
    if (vars.size !== 1) return null;
    const [variable] = vars;
    const value = parseLinearAnswer(answer);
    if (!value) return null;
    const env = new Map([[variable, value]]);
    try {
      return equals(evaluate(left, env), evaluate(right, env));
    } catch (err) {
      if (err instanceof DivisionByZero) return false;
      throw err;
    }
  } catch {
    return null;
  }
}
