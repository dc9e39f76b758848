/**
 * Structure of a normalised answer: relations, unions, intervals, sets, tuples, matrices and
 * scalar expressions. The structure is read here (brackets, commas, `\cup`, relation signs);
 * scalar pieces go through @cortex-js/compute-engine's LaTeX → MathJSON parser.
 */
import { LatexSyntax } from "@cortex-js/compute-engine/latex-syntax";
import { evalExact, inspect, type Json, Unsupported } from "./evaluate.ts";
import { normalizeAnswer } from "./normalize.ts";
import type { Rational } from "./rational.ts";

export type RelOp = "=" | "<" | ">" | "<=" | ">=" | "!=";

export type Value =
  | {
      kind: "expr";
      json: Json;
      vars: string[];
      hasFloat: boolean;
      /** Exact rational value of a constant, when it has one. */
      exact: Rational | null;
      percent: boolean;
      degrees: boolean;
    }
  /** `(a, b, …)`; `open` marks a written `(a, b)`, which may also mean an open interval. */
  | { kind: "tuple"; items: Value[]; open: boolean }
  /** A bare comma list `a, b`: order does not matter. */
  | { kind: "list"; items: Value[] }
  | { kind: "set"; items: Value[] }
  | { kind: "interval"; lo: Value; hi: Value; loOpen: boolean; hiOpen: boolean }
  | { kind: "union"; parts: Value[] }
  | { kind: "matrix"; rows: Value[][] }
  | { kind: "relation"; ops: RelOp[]; terms: Value[] }
  | { kind: "text"; text: string };

let syntax: LatexSyntax | undefined;

/**
 * LaTeX → MathJSON with the engine's standalone parser: the ESM subpath export
 * `@cortex-js/compute-engine/latex-syntax` (0.140.0 is pinned: later releases need Node 22). It needs
 * no ComputeEngine instance: import + first parse ≈ 0.6 s here, against ≈ 2.2 s for the full engine,
 * whose simplifier the verifier does not need (equivalence is decided numerically, below).
 */
function latexToJson(latex: string): Json | null {
  syntax ??= new LatexSyntax({});
  const json = syntax.parse(latex) as Json | null;
  if (json === null || hasError(json)) return null;
  return json;
}

function hasError(json: Json): boolean {
  if (Array.isArray(json)) return json[0] === "Error" || json.some(hasError);
  if (json !== null && typeof json === "object") return json.fn ? hasError(json.fn) : false;
  return false;
}

/** Splits `s` at depth 0 wherever `sep` matches; returns pieces and the matched separators. */
export function splitTop(s: string, sep: RegExp): { parts: string[]; seps: string[] } {
  const parts: string[] = [];
  const seps: string[] = [];
  const sticky = new RegExp(sep.source, `${sep.flags.replace("g", "")}y`);
  let depth = 0;
  let last = 0;
  for (let i = 0; i < s.length; ) {
    if (s.startsWith("\\begin{", i) || s.startsWith("\\end{", i)) {
      depth += s[i + 1] === "b" ? 1 : -1;
      i = s.indexOf("}", i) + 1 || s.length;
      continue;
    }
    if (s.startsWith("\\{", i) || s.startsWith("\\}", i)) {
      depth += s[i + 1] === "{" ? 1 : -1;
      i += 2;
      continue;
    }
    const c = s[i];
    if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
    else if (depth === 0) {
      sticky.lastIndex = i;
      const m = sticky.exec(s);
      if (m && m[0].length > 0) {
        parts.push(s.slice(last, i));
        seps.push(m[0]);
        i += m[0].length;
        last = i;
        continue;
      }
    }
    i += c === "\\" ? 2 : 1;
  }
  parts.push(s.slice(last));
  return { parts, seps };
}

const RELATION =
  /\\leqslant|\\geqslant|\\leq(?![a-z])|\\geq(?![a-z])|\\le(?![a-z])|\\ge(?![a-z])|\\neq(?![a-z])|\\ne(?![a-z])|\\lt(?![a-z])|\\gt(?![a-z])|\\approx(?![a-z])|<=|>=|!=|=|<|>/;

function relOp(sep: string): RelOp | "~" {
  if (/^(?:\\leqslant|\\leq?|<=)$/.test(sep)) return "<=";
  if (/^(?:\\geqslant|\\geq?|>=)$/.test(sep)) return ">=";
  if (/^(?:\\neq?|!=)$/.test(sep)) return "!=";
  if (/^(?:\\lt|<)$/.test(sep)) return "<";
  if (/^(?:\\gt|>)$/.test(sep)) return ">";
  if (sep === "\\approx") return "~";
  return "=";
}

function exprValue(json: Json, percent = false, degrees = false): Value | null {
  try {
    const { vars, hasFloat } = inspect(json);
    return { kind: "expr", json, vars: [...vars].sort(), hasFloat, exact: evalExact(json), percent, degrees };
  } catch (err) {
    if (err instanceof Unsupported) return null;
    throw err;
  }
}

const PLAIN_NUMBER = /^(-?)(\d+(?:\.\d+)?|\.\d+)(?:\/(\d+))?$/;

/** A scalar: a fast path for plain numbers and a/b, otherwise the compute engine's parser. */
function parseScalar(s: string): Value | null {
  const m = PLAIN_NUMBER.exec(s);
  if (m) {
    const num: Json = m[2].includes(".") ? { num: m[2] } : Number(m[2]);
    let json: Json = m[3] ? ["Divide", num, Number(m[3])] : num;
    if (m[1]) json = ["Negate", json];
    return exprValue(json);
  }
  // \frac{a}{b} with integers, the commonest LaTeX answer, also skips the parser.
  const f = /^(-?)\s*\\frac\s*\{\s*(-?\d+)\s*\}\s*\{\s*(-?\d+)\s*\}$/.exec(s);
  if (f && Number.isSafeInteger(Number(f[2])) && Number.isSafeInteger(Number(f[3]))) {
    const frac: Json = ["Divide", Number(f[2]), Number(f[3])];
    return exprValue(f[1] ? ["Negate", frac] : frac);
  }
  if (/\\begin\{/.test(s)) return parseMatrixExpr(s);
  const json = latexToJson(s);
  return json === null ? null : exprValue(json);
}

function matrixEnv(s: string): { rows: string[][]; end: number } | null {
  const m = /^\\begin\{([a-zA-Z]*matrix\*?|array)\}(\{[^}]*\})?/.exec(s);
  if (!m) return null;
  const endTag = `\\end{${m[1]}}`;
  let depth = 0;
  let i = m[0].length;
  for (; i < s.length; i++) {
    if (s.startsWith("\\begin{", i)) depth++;
    else if (s.startsWith("\\end{", i)) {
      if (depth === 0) break;
      depth--;
    }
  }
  if (!s.startsWith(endTag, i)) return null;
  const body = s.slice(m[0].length, i);
  const rows = splitTop(body, /\\\\/)
    .parts.map((r) => splitTop(r, /&/).parts.map((c) => c.trim()))
    .filter((r) => r.some((c) => c !== ""));
  return { rows, end: i + endTag.length };
}

/** Sums and products of matrices (and scalar factors), combined as MathJSON element-wise. */
function parseMatrixExpr(s: string): Value | null {
  const { parts, seps } = splitTop(s.trim(), /[+-]/);
  let total: Json[][] | null = null;
  for (let t = 0; t < parts.length; t++) {
    let rest = parts[t].trim();
    if (rest === "" && t === 0) continue;
    let scalar: Json = t > 0 && seps[t - 1] === "-" ? -1 : 1;
    let product: Json[][] | null = null;
    while (rest.length > 0) {
      rest = rest.replace(/^(?:\\cdot|\\times|\*|\s)+/, "");
      if (rest === "") break;
      const env = matrixEnv(rest);
      if (env) {
        const cells = env.rows.map((r) => r.map((c) => latexCell(c)));
        if (cells.some((r) => r.some((c) => c === null))) return null;
        const m = cells as Json[][];
        product = product ? matMul(product, m) : m;
        if (!product) return null;
        rest = rest.slice(env.end);
      } else {
        const at = rest.indexOf("\\begin{");
        if (at === 0) return null; // an environment that does not close
        const factor = latexToJson(at < 0 ? rest : rest.slice(0, at));
        if (factor === null || product) return null;
        scalar = ["Multiply", scalar, factor];
        rest = at < 0 ? "" : rest.slice(at);
      }
    }
    if (!product) return null;
    const factor = scalar;
    const scaled = factor === 1 ? product : product.map((r) => r.map((c): Json => ["Multiply", factor, c]));
    if (total && (total.length !== scaled.length || total[0].length !== scaled[0].length)) return null;
    total = total ? total.map((r, i) => r.map((c, j): Json => ["Add", c, scaled[i][j]])) : scaled;
  }
  if (!total) return null;
  const rows = total.map((r) => r.map((c) => exprValue(c)));
  if (rows.some((r) => r.some((c) => c === null))) return null;
  return { kind: "matrix", rows: rows as Value[][] };
}

function latexCell(cell: string): Json | null {
  const m = PLAIN_NUMBER.exec(cell);
  if (m && !m[3] && !m[2].includes(".")) return m[1] ? -Number(m[2]) : Number(m[2]);
  return latexToJson(cell);
}

function matMul(a: Json[][], b: Json[][]): Json[][] | null {
  if (a[0].length !== b.length) return null;
  return a.map((row) =>
    b[0].map((_c, j): Json => ["Add", ...row.map((x, k): Json => ["Multiply", x, b[k][j]])]),
  );
}

/** Index of the bracket closing the one that opens `s`, counting all bracket kinds. */
function closingIndex(s: string): number {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    if (s.startsWith("\\{", i) || s.startsWith("\\}", i)) {
      depth += s[i + 1] === "{" ? 1 : -1;
      if (depth === 0) return i;
      i++;
      continue;
    }
    const c = s[i];
    if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

function parseItems(inner: string): Value[] | null {
  if (inner.trim() === "") return [];
  const items = splitTop(inner, /,/).parts.map((p) => parseNonRelation(p.trim()));
  return items.some((v) => v === null) ? null : (items as Value[]);
}

function parseNonRelation(s: string): Value | null {
  s = s.trim();
  if (s === "") return null;
  if (/^(?:\\emptyset|\\varnothing|\\\{\s*\\\}|\{\s*\})$/.test(s)) return { kind: "set", items: [] };
  const union = splitTop(s, /\\cup(?![a-z])/);
  if (union.parts.length > 1) {
    const parts = union.parts.map((p) => parseNonRelation(p));
    return parts.some((p) => p === null) ? null : { kind: "union", parts: parts as Value[] };
  }
  const pm = s.indexOf("\\pm");
  if (pm >= 0 && !/\\pm[a-z]/.test(s)) {
    const a = parseNonRelation(`${s.slice(0, pm)}+${s.slice(pm + 3)}`);
    const b = parseNonRelation(`${s.slice(0, pm)}-${s.slice(pm + 3)}`);
    if (!a || !b) return null;
    return { kind: "list", items: [a, b] };
  }
  const commas = splitTop(s, /,/);
  if (commas.parts.length > 1) {
    const items = commas.parts.map((p) => parseValue(p.trim()));
    return items.some((v) => v === null) ? null : { kind: "list", items: items as Value[] };
  }
  // A ratio a:b is the number a/b ("7:32", "V_1:V_2").
  const ratio = splitTop(s, /:(?!=)/).parts;
  if (ratio.length === 2 && ratio.every((r) => r.trim() !== "")) {
    const [a, b] = ratio.map((r) => parseNonRelation(r));
    return a?.kind === "expr" && b?.kind === "expr" ? exprValue(["Divide", a.json, b.json]) : null;
  }
  const setOpen = s.startsWith("\\{");
  if (setOpen || s[0] === "(" || s[0] === "[") {
    const close = closingIndex(s);
    if (close === s.length - (setOpen ? 2 : 1)) {
      const inner = s.slice(setOpen ? 2 : 1, close);
      if (setOpen) {
        const items = parseItems(inner);
        return items && { kind: "set", items: flattenLists(items) };
      }
      const items = splitTop(inner, /,/).parts;
      const left = s[0];
      const right = s[close];
      if (items.length === 1) return parseValue(inner);
      const values = parseItems(inner);
      if (!values) return null;
      if (values.length === 2 && (left === "[" || right === "]"))
        return {
          kind: "interval",
          lo: values[0],
          hi: values[1],
          loOpen: left === "(",
          hiOpen: right === ")",
        };
      return { kind: "tuple", items: values, open: left === "(" && right === ")" && values.length === 2 };
    }
  }
  return parseScalar(s);
}

function flattenLists(items: Value[]): Value[] {
  return items.flatMap((v) => (v.kind === "list" ? v.items : [v]));
}

/** Parses a normalised answer (relations included). */
export function parseValue(s: string): Value | null {
  // "x = 3, x = -3": commas separate whole relations.
  const commas = splitTop(s, /,/).parts;
  if (commas.length > 1 && commas.every((c) => splitTop(c, RELATION).parts.length > 1)) {
    const items = commas.map((c) => parseValue(c.trim()));
    return items.some((v) => v === null) ? null : { kind: "list", items: items as Value[] };
  }
  const { parts, seps } = splitTop(s, RELATION);
  if (parts.length === 1) return parseNonRelation(s);
  let ops = seps.map(relOp);
  let terms = parts;
  // "x = 5+5+1 = 1/3 ≈ 11": an approximation after an equation is commentary; alone, ≈ is =.
  const approx = ops.indexOf("~");
  if (approx >= 0 && ops.some((o, i) => i < approx && o !== "~")) {
    ops = ops.slice(0, approx);
    terms = terms.slice(0, approx + 1);
  }
  const relOps = ops.map((o) => (o === "~" ? "=" : o)) as RelOp[];
  const values = terms.map((t) => parseNonRelation(t));
  if (values.some((v) => v === null)) {
    // "1 = \zzz = x = 0": an unreadable link in a chain of equalities; keep the final value.
    const lastValue = values[values.length - 1];
    return relOps.every((o) => o === "=") && lastValue ? lastValue : null;
  }
  return { kind: "relation", ops: relOps, terms: values as Value[] };
}

/** Normalises and parses one extracted answer; null when it cannot be read. Never throws. */
export function parseAnswer(raw: string, inMath: boolean): Value | null {
  // Answers are short; a 2,000-character "answer" is a runaway box, and deep nesting would make the
  // structural parse quadratic.
  if (raw.length > 2000 || /[([{]{60}/.test(raw.replace(/\s|\\left/g, ""))) return null;
  try {
    const n = normalizeAnswer(raw, inMath);
    if (n.text !== null) return { kind: "text", text: n.text };
    const v = parseValue(n.latex);
    if (v && v.kind === "expr" && (n.percent || n.degrees))
      return { ...v, percent: n.percent, degrees: n.degrees };
    return v;
  } catch {
    return null;
  }
}
