/**
 * Answer equivalence: is a predicted answer the same mathematical object as the gold answer?
 * Numbers (exact where both are exact, else within a tolerance), expressions in free variables
 * (random-point evaluation), tuples, sets (order-free), intervals (ends matter), matrices, equations
 * and inequalities. The verdict is true, false, or null ("cannot verify"); nothing here throws.
 */
import { evalNumber, type Json, Unsupported } from "./evaluate.ts";
import { type Candidate, candidates, type ExtractOptions } from "./extract.ts";
import { parseAnswer, type RelOp, type Value } from "./parse.ts";
import { equals } from "./rational.ts";

export type Verdict = boolean | null;

export interface VerifyOptions extends ExtractOptions {
  /**
   * Decimal places to which a decimal answer must agree (Math-Verify's `float_rounding`). Without it,
   * 6 places, and relative 1e-6 for magnitudes below 1e-3.
   */
  precision?: number;
  /**
   * Compare a gold set with a predicted inequality (`[-2,7]` vs `-2 \le x \le 7`). A gold inequality
   * is always compared with a predicted set. @default false
   */
  allowSetRelationComparison?: boolean;
}

interface Context {
  precision?: number;
  allowSetRelation: boolean;
}

/** Whether two decimals agree to `precision` places (see VerifyOptions.precision). */
export function numbersClose(a: number, b: number, precision?: number): boolean {
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  const diff = Math.abs(a - b);
  const size = Math.max(Math.abs(a), Math.abs(b));
  if (precision === undefined && size < 1e-3) return diff <= 1e-6 * size;
  const p = precision ?? 6;
  const scale = 10 ** p;
  return Math.round(a * scale) === Math.round(b * scale) || diff <= 0.5 / scale + 1e-12 * size;
}

// Deterministic sample points: the same verdict on every run and machine.
const POINTS: number[][] = (() => {
  let seed = 0x2545f491;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  // Eight points with every variable in [0.3, 2.8]; four more with signs mixed at random, so that
  // x and |x|, or \sqrt{x^2} and x, are told apart.
  return Array.from({ length: 12 }, (_p, p) =>
    Array.from({ length: 16 }, () => (p >= 8 && next() < 0.6 ? -1 : 1) * (0.3 + 2.5 * next())),
  );
})();

function envAt(point: number, vars: string[]): Map<string, number> {
  // Variables beyond 16 reuse values shifted by their index; answers with that many are rare.
  return new Map(vars.map((v, i) => [v, POINTS[point][i % 16] + Math.floor(i / 16) * 0.37]));
}

type ExprValue = Extract<Value, { kind: "expr" }>;

function unionVars(...xs: ExprValue[]): string[] {
  return [...new Set(xs.flatMap((x) => x.vars))].sort();
}

/** Scalar JSON equality: exact for exact constants, tolerance for decimals, random points for variables. */
function scalarEqual(a: Json, b: Json, vars: string[], float: boolean, ctx: Context): Verdict {
  const close = (x: number, y: number) =>
    float
      ? numbersClose(x, y, ctx.precision)
      : x === y || Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(x), Math.abs(y));
  if (vars.length === 0) {
    const x = evalNumber(a, new Map());
    const y = evalNumber(b, new Map());
    if (Number.isNaN(x) || Number.isNaN(y)) return null;
    // An overflow (10^{10^{10}}) is not the written ∞: infinities only count when ∞ was written.
    const written = (j: Json) => JSON.stringify(j).includes("Infinity");
    if ((!Number.isFinite(x) && !written(a)) || (!Number.isFinite(y) && !written(b))) return null;
    return close(x, y);
  }
  let valid = 0;
  for (let p = 0; p < POINTS.length; p++) {
    const env = envAt(p, vars);
    const x = evalNumber(a, env);
    const y = evalNumber(b, env);
    // Outside either side's domain (\sqrt{x} at x < 0): the point says nothing.
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    // Random points multiply rounding error: compare relatively, a little looser than constants.
    const ok = float ? close(x, y) : Math.abs(x - y) <= 1e-7 * Math.max(1, Math.abs(x), Math.abs(y));
    if (!ok) return false;
    valid++;
  }
  return valid >= 3 ? true : null;
}

function compareExpr(g: ExprValue, p: ExprValue, ctx: Context): Verdict {
  try {
    return compareExprUnsafe(g, p, ctx);
  } catch (err) {
    if (err instanceof Unsupported) return null; // e.g. a head the evaluator does not know
    throw err;
  }
}

function compareExprUnsafe(g: ExprValue, p: ExprValue, ctx: Context): Verdict {
  if (g.exact && p.exact && !g.hasFloat && !p.hasFloat && g.vars.length === 0 && p.vars.length === 0) {
    if (equals(g.exact, p.exact)) return true;
  } else {
    const direct = scalarEqual(g.json, p.json, unionVars(g, p), g.hasFloat || p.hasFloat, ctx);
    if (direct !== false) return direct;
  }
  // 28% written as 28 or as 0.28; 90° as 90 or as π/2.
  const float = g.hasFloat || p.hasFloat;
  const vars = unionVars(g, p);
  if (g.percent !== p.percent) {
    const [pc, other] = g.percent ? [g, p] : [p, g];
    if (scalarEqual(["Divide", pc.json, 100], other.json, vars, true, ctx)) return true;
  }
  if (g.degrees !== p.degrees) {
    const [dg, other] = g.degrees ? [g, p] : [p, g];
    if (scalarEqual(["Degrees", dg.json], other.json, vars, float, ctx)) return true;
  }
  return false;
}

const FLIP: Record<RelOp, RelOp> = { "=": "=", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<=" };

/** Leaves are all variables (no numbers): AB, NO/BO, |AB|, f(x), S_1. */
function onlySymbols(j: Json): boolean {
  if (typeof j === "string")
    return !/^[+-]?\d/.test(j) && !["Pi", "ExponentialE", "PositiveInfinity"].includes(j);
  if (!Array.isArray(j)) return false;
  const [head, ...args] = j;
  if (head === "InvisibleOperator" && args.length === 2 && /^[fghFGH]$/.test(String(args[0]))) return true; // f(x)
  return (
    ["InvisibleOperator", "Multiply", "Divide", "Abs", "Delimiter"].includes(head as string) &&
    args.every(onlySymbols)
  );
}

/** A name that can be assigned: x, (p, q), f(x), AB, NO/BO (Math-Verify's "only symbols" rule). */
function isSymbol(v: Value): boolean {
  if (v.kind === "tuple") return v.items.every(isSymbol);
  return v.kind === "expr" && v.vars.length > 0 && onlySymbols(v.json);
}

type Relation = Extract<Value, { kind: "relation" }>;

/** x = 5+5+1 = 11 states x = 11: keep the first and the last term of an assignment chain. */
function truncateAssignment(r: Relation): Relation {
  if (r.terms.length > 2 && r.ops.every((o) => o === "=") && isSymbol(r.terms[0]))
    return { kind: "relation", ops: ["="], terms: [r.terms[0], r.terms[r.terms.length - 1]] };
  return r;
}

const isAssignment = (r: Relation) => r.ops.every((o) => o === "=") && isSymbol(r.terms[0]);

/** lhs − rhs of each relation must be proportional; the sign of the factor decides the direction. */
function proportional(
  gOp: RelOp,
  g: [ExprValue, ExprValue],
  pOp: RelOp,
  p: [ExprValue, ExprValue],
  ctx: Context,
): Verdict {
  const vars = unionVars(...g, ...p);
  if (vars.length === 0) return null;
  let ratio: number | null = null;
  let valid = 0;
  for (let k = 0; k < POINTS.length; k++) {
    const env = envAt(k, vars);
    const dg = evalNumber(g[0].json, env) - evalNumber(g[1].json, env);
    const dp = evalNumber(p[0].json, env) - evalNumber(p[1].json, env);
    if (!Number.isFinite(dg) || !Number.isFinite(dp)) continue;
    const tiny = 1e-9 * Math.max(1, Math.abs(dg), Math.abs(dp));
    if (Math.abs(dg) <= tiny && Math.abs(dp) <= tiny) continue;
    if (Math.abs(dg) <= tiny || Math.abs(dp) <= tiny) return false;
    const r = dg / dp;
    const tol =
      g[0].hasFloat || p[0].hasFloat || g[1].hasFloat || p[1].hasFloat ? 10 ** -(ctx.precision ?? 6) : 1e-7;
    if (ratio !== null && Math.abs(r - ratio) > tol * Math.max(1, Math.abs(ratio))) return false;
    ratio ??= r;
    valid++;
  }
  if (ratio === null || valid < 3) return null;
  if (gOp === "=" || gOp === "!=") return gOp === pOp;
  return ratio > 0 ? gOp === pOp : gOp === FLIP[pOp];
}

function compareRelations(g: Relation, p: Relation, ctx: Context): Verdict {
  g = truncateAssignment(g);
  p = truncateAssignment(p);
  const termwise = (ops: RelOp[], terms: Value[]): Verdict => {
    if (ops.length !== g.ops.length || ops.some((o, i) => o !== g.ops[i])) return false;
    return all(g.terms.map((t, i) => () => compare(t, terms[i], ctx)));
  };
  if (termwise(p.ops, p.terms) === true) return true;
  if (
    termwise(
      [...p.ops].reverse().map((o) => FLIP[o]),
      [...p.terms].reverse(),
    ) === true
  )
    return true;
  if (
    g.terms.length === 2 &&
    p.terms.length === 2 &&
    [...g.terms, ...p.terms].every((t) => t.kind === "expr")
  ) {
    const verdict = proportional(
      g.ops[0],
      g.terms as [ExprValue, ExprValue],
      p.ops[0],
      p.terms as [ExprValue, ExprValue],
      ctx,
    );
    if (verdict !== null) return verdict;
  }
  const gs = relationToSet(g);
  const ps = relationToSet(p);
  if (gs && ps) return compare(gs, ps, ctx);
  return false;
}

const INF: ExprValue = {
  kind: "expr",
  json: "PositiveInfinity",
  vars: [],
  hasFloat: false,
  exact: null,
  percent: false,
  degrees: false,
};
const NEG_INF: ExprValue = { ...INF, json: ["Negate", "PositiveInfinity"] };

/** -2 ≤ x ≤ 7 → [-2, 7]; x > 5 → (5, ∞); x ≠ 3 → (-∞, 3) ∪ (3, ∞). Null for anything else. */
function relationToSet(r: Relation): Value | null {
  const isVar = (v: Value) => v.kind === "expr" && v.vars.length === 1 && isSymbol(v);
  const isConst = (v: Value) => v.kind === "expr" && v.vars.length === 0;
  let { ops, terms } = r;
  if (terms.length === 2 && isConst(terms[0]) && isVar(terms[1])) {
    ops = [FLIP[ops[0]]];
    terms = [terms[1], terms[0]];
  }
  if (terms.length === 2 && isVar(terms[0]) && isConst(terms[1])) {
    const c = terms[1];
    switch (ops[0]) {
      case "=":
        return { kind: "set", items: [c] };
      case "!=":
        return {
          kind: "union",
          parts: [
            { kind: "interval", lo: NEG_INF, hi: c, loOpen: true, hiOpen: true },
            { kind: "interval", lo: c, hi: INF, loOpen: true, hiOpen: true },
          ],
        };
      case "<":
      case "<=":
        return { kind: "interval", lo: NEG_INF, hi: c, loOpen: true, hiOpen: ops[0] === "<" };
      default:
        return { kind: "interval", lo: c, hi: INF, loOpen: ops[0] === ">", hiOpen: true };
    }
  }
  if (terms.length === 3 && isConst(terms[0]) && isVar(terms[1]) && isConst(terms[2])) {
    const up = ops.every((o) => o === "<" || o === "<=");
    const down = ops.every((o) => o === ">" || o === ">=");
    if (up)
      return { kind: "interval", lo: terms[0], hi: terms[2], loOpen: ops[0] === "<", hiOpen: ops[1] === "<" };
    if (down)
      return { kind: "interval", lo: terms[2], hi: terms[0], loOpen: ops[1] === ">", hiOpen: ops[0] === ">" };
  }
  return null;
}

/** true if every check is true; false if any is false; otherwise null. Lazy. */
function all(checks: (() => Verdict)[]): Verdict {
  let unknown = false;
  for (const c of checks) {
    const v = c();
    if (v === false) return false;
    if (v === null) unknown = true;
  }
  return unknown ? null : true;
}

/** Drops items equal to an earlier one: as sets, {3, 17, 17} is {3, 17}. */
function distinct(xs: Value[], ctx: Context): Value[] {
  const out: Value[] = [];
  for (const x of xs) if (!out.some((y) => compare(y, x, ctx) === true)) out.push(x);
  return out;
}

/** Set equality of two collections: order and repeats do not matter (greedy matching; sets are small). */
function unorderedEqual(gs: Value[], ps: Value[], ctx: Context): Verdict {
  if (gs.length !== ps.length) {
    gs = distinct(gs, ctx);
    ps = distinct(ps, ctx);
  }
  if (gs.length !== ps.length) return false;
  const used = new Array(ps.length).fill(false);
  let unknown = false;
  for (const g of gs) {
    let hit = -1;
    for (let i = 0; i < ps.length && hit < 0; i++) {
      if (used[i]) continue;
      const v = compare(g, ps[i], ctx);
      if (v === true) hit = i;
      else if (v === null) unknown = true;
    }
    if (hit < 0) return unknown ? null : false;
    used[hit] = true;
  }
  return true;
}

function orderedEqual(gs: Value[], ps: Value[], ctx: Context): Verdict {
  if (gs.length !== ps.length) return false;
  return all(gs.map((g, i) => () => compare(g, ps[i], ctx)));
}

const SETLIKE = new Set(["set", "list", "tuple", "interval", "union"]);

/** The core comparison of two parsed answers (gold first: the rules are not symmetric). */
export function compare(g: Value, p: Value, ctx: Context): Verdict {
  if (g.kind === "relation" || p.kind === "relation") {
    if (g.kind === "relation" && p.kind === "relation") return compareRelations(g, p, ctx);
    if (p.kind === "relation") {
      // A predicted equation answers with its last value ("x = 11" for 11); an inequality does not.
      if (p.ops.every((o) => o === "=")) return compare(g, p.terms[p.terms.length - 1], ctx);
      if (ctx.allowSetRelation && SETLIKE.has(g.kind)) {
        const ps = relationToSet(p);
        return ps ? compare(g, ps, ctx) : false;
      }
      return false;
    }
    const gr = g as Relation;
    // A gold assignment (k = 1) accepts the bare value; a gold equation such as 2x + z = 1 does not.
    if (isAssignment(gr)) return compare(gr.terms[gr.terms.length - 1], p, ctx);
    if (SETLIKE.has(p.kind)) {
      const gs = relationToSet(gr);
      return gs ? compare(gs, p, ctx) : false;
    }
    return false;
  }
  if (g.kind === "expr" && p.kind === "expr") return compareExpr(g, p, ctx);
  if (g.kind === "text" || p.kind === "text") {
    const words = (v: Value) =>
      v.kind === "text" ? v.text : v.kind === "expr" && typeof v.json === "string" ? v.json : null;
    const a = words(g);
    const b = words(p);
    if (a === null || b === null) return false;
    const clean = (s: string) => s.toLowerCase().replace(/[\s.,;:!()"'`]/g, "");
    return a.length === 1 || b.length === 1 ? a === b : clean(a) === clean(b);
  }
  if (g.kind === "matrix" || p.kind === "matrix") {
    const rows = (v: Value): Value[][] | null =>
      v.kind === "matrix" ? v.rows : v.kind === "tuple" ? v.items.map((x) => [x]) : null;
    const a = rows(g);
    const b = rows(p);
    if (!a || !b || a.length !== b.length || a.some((r, i) => r.length !== b[i].length)) return false;
    return all(a.flatMap((r, i) => r.map((x, j) => () => compare(x, b[i][j], ctx))));
  }
  if (g.kind === "interval" && p.kind === "interval")
    return g.loOpen === p.loOpen && g.hiOpen === p.hiOpen
      ? all([() => compare(g.lo, p.lo, ctx), () => compare(g.hi, p.hi, ctx)])
      : false;
  // (a, b) written with round brackets is a pair or an open interval.
  const asPair = (v: Value): Value[] | null =>
    v.kind === "tuple" && v.open
      ? v.items
      : v.kind === "interval" && v.loOpen && v.hiOpen
        ? [v.lo, v.hi]
        : null;
  if ((g.kind === "interval" || p.kind === "interval") && asPair(g) && asPair(p))
    return orderedEqual(asPair(g)!, asPair(p)!, ctx);
  if (g.kind === "union" && p.kind === "union") return unorderedEqual(g.parts, p.parts, ctx);
  if (g.kind === "tuple" && p.kind === "tuple") return orderedEqual(g.items, p.items, ctx);
  const items = (v: Value): Value[] | null =>
    v.kind === "set" || v.kind === "list" || v.kind === "tuple" ? v.items : null;
  const gi = items(g);
  const pi = items(p);
  if (gi && pi) {
    // A tuple against a bare list keeps its order; sets and lists are order-free.
    if ((g.kind === "tuple" && p.kind === "list") || (g.kind === "list" && p.kind === "tuple"))
      return orderedEqual(gi, pi, ctx);
    if (g.kind === "tuple" || p.kind === "tuple") return false;
    return unorderedEqual(gi, pi, ctx);
  }
  // "\boxed{15\frac{39}{40}} or \boxed{\frac{639}{40}}": one value stated several ways.
  if (p.kind === "list" && g.kind === "expr" && p.items.length > 1)
    if (p.items.every((x) => compare(g, x, ctx) === true)) return true;
  // A single value against a one-element set or list.
  if (gi && gi.length === 1 && g.kind !== "tuple") return compare(gi[0], p, ctx);
  if (pi && pi.length === 1 && p.kind !== "tuple") return compare(g, pi[0], ctx);
  return false;
}

interface Parsed {
  value: Value;
  text: string;
}

function firstParsed(found: Iterable<Candidate>): Parsed | null | undefined {
  let tried = 0;
  for (const c of found) {
    const value = parseAnswer(c.text, c.math);
    if (value) return { value, text: c.text };
    if (++tried >= 24) break;
  }
  return tried === 0 ? undefined : null;
}

// Gold answers repeat across candidates of one prompt: parse each once.
const goldCache = new Map<string, Parsed | null | undefined>();

function parseGold(gold: string, options: VerifyOptions): Parsed | null | undefined {
  const key = `${options.answerStart ?? ""}\u0000${options.answerEnd ?? ""}\u0000${gold}`;
  if (goldCache.has(key)) return goldCache.get(key);
  const parsed = firstParsed(candidates(gold, options));
  if (goldCache.size >= 50_000) goldCache.clear();
  goldCache.set(key, parsed);
  return parsed;
}

/** Forgets the parsed gold answers (for benchmarks that measure the uncached path). */
export function clearVerifyCache(): void {
  goldCache.clear();
}

const PLAIN = /^\s*(-?\d+(?:\.\d+)?)\s*$/;
const squash = (s: string) => s.replace(/\s+/g, "");

/**
 * Is `pred` (a completion or an answer) equivalent to `gold` (an answer or a worked solution)?
 * true / false, or null when it cannot be decided (gold unreadable, pred's answer unreadable,
 * expressions that cannot be evaluated). A prediction with no answer at all is false.
 */
export function isEquivalent(gold: string, pred: string, options: VerifyOptions = {}): Verdict {
  try {
    if (squash(gold) !== "" && squash(gold) === squash(pred)) return true;
    // Fast path: two plain numbers (GSM8K-style) need no extraction and no LaTeX parser.
    const a = PLAIN.exec(gold);
    const b = a && PLAIN.exec(pred);
    if (a && b) {
      if (!a[1].includes(".") && !b[1].includes(".")) return BigInt(a[1]) === BigInt(b[1]);
      return numbersClose(Number(a[1]), Number(b[1]), options.precision);
    }
    const g = parseGold(gold, options);
    if (!g) return null;
    const p = firstParsed(candidates(pred, options));
    if (p === undefined) return false;
    if (p === null) return null;
    if (squash(g.text) === squash(p.text)) return true;
    return compare(g.value, p.value, {
      precision: options.precision,
      allowSetRelation: options.allowSetRelationComparison ?? false,
    });
  } catch {
    // Unsupported constructs and anything unexpected: cannot verify, never an exception.
    return null;
  }
}
