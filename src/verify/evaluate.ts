/**
 * Evaluation of MathJSON (as produced by @cortex-js/compute-engine's LaTeX parser) to numbers:
 * exactly in rationals where the expression allows it, otherwise in floating point at given values
 * of its free variables. Unsupported heads throw `Unsupported`, which callers turn into "cannot
 * verify" (null).
 */
import {
  parseDecimal,
  type Rational,
  add as radd,
  rational,
  div as rdiv,
  mul as rmul,
  neg as rneg,
  pow as rpow,
  sub as rsub,
  toNumber,
} from "./rational.ts";

export class Unsupported extends Error {}

/** Raw MathJSON: numbers, symbols, strings, function arrays, or the object forms. */
export type Json = number | string | Json[] | { num?: string; sym?: string; str?: string; fn?: Json[] };

// Letters read as function names when followed by parentheses: f(2) is f at 2, not f·2.
const FUNCTION_LETTERS = new Set(["f", "g", "h", "F", "G", "H"]);

const CONSTANTS: Record<string, number> = {
  Pi: Math.PI,
  ExponentialE: Math.E,
  e: Math.E,
  PositiveInfinity: Number.POSITIVE_INFINITY,
  NegativeInfinity: Number.NEGATIVE_INFINITY,
  GoldenRatio: (1 + Math.sqrt(5)) / 2,
};

function unwrap(json: Json): Json {
  if (json !== null && typeof json === "object" && !Array.isArray(json)) {
    if (json.fn) return json.fn;
    if (json.sym !== undefined) return json.sym;
  }
  return json;
}

/** The number a `{num}` / numeric literal denotes, and whether it was written as a decimal. */
function literal(json: Json): { exact: Rational | null; float: boolean } | null {
  if (typeof json === "number") {
    if (!Number.isFinite(json)) return { exact: null, float: true };
    if (Number.isInteger(json)) return { exact: rational(BigInt(json)), float: false };
    return { exact: parseDecimal(String(json)), float: true };
  }
  const text =
    typeof json === "string" ? json : typeof json === "object" && !Array.isArray(json) ? json.num : undefined;
  if (text === undefined || !/^[+-]?(\d|\.\d)/.test(text)) return null;
  const clean = text.replace(/\.\.\.$/, "").replace(/\(\d+\)$/, "");
  return { exact: parseDecimal(clean), float: /[.eE]/.test(clean) };
}

/** Free variables, whether a decimal literal occurs, and a check that every head is supported. */
export function inspect(json: Json, out = { vars: new Set<string>(), hasFloat: false }): typeof out {
  json = unwrap(json);
  const lit = literal(json);
  if (lit) {
    out.hasFloat ||= lit.float;
    return out;
  }
  if (typeof json === "string") {
    if (json.startsWith("'")) throw new Unsupported("text");
    if (!(json in CONSTANTS)) {
      if (json === "ImaginaryUnit" || json === "Nothing" || json === "EmptySet") throw new Unsupported(json);
      out.vars.add(json);
    }
    return out;
  }
  if (!Array.isArray(json) || typeof json[0] !== "string") throw new Unsupported("shape");
  const [head, ...args] = json as [string, ...Json[]];
  if (!SUPPORTED.has(head)) throw new Unsupported(head);
  const fn = functionCall(head, args);
  if (fn) {
    out.vars.add(fn);
    return out;
  }
  for (const a of args) inspect(a, out);
  return out;
}

const SUPPORTED = new Set([
  "Add",
  "Subtract",
  "Negate",
  "Multiply",
  "InvisibleOperator",
  "Divide",
  "Rational",
  "Power",
  "Square",
  "Sqrt",
  "Root",
  "Exp",
  "Ln",
  "Log",
  "Lb",
  "Lg",
  "Sin",
  "Cos",
  "Tan",
  "Sec",
  "Csc",
  "Cot",
  "Arcsin",
  "Arccos",
  "Arctan",
  "Sinh",
  "Cosh",
  "Tanh",
  "Abs",
  "Factorial",
  "Binomial",
  "Delimiter",
  "Degrees",
  "Half",
  "Floor",
  "Ceil",
  "Max",
  "Min",
  "BaseForm",
]);

/** For f(x): the variable name standing for the unknown value f(x); undefined otherwise. */
function functionCall(head: string, args: Json[]): string | undefined {
  if (head !== "InvisibleOperator" || args.length !== 2) return undefined;
  const [f, arg] = [unwrap(args[0]), unwrap(args[1])];
  if (typeof f === "string" && FUNCTION_LETTERS.has(f) && Array.isArray(arg) && arg[0] === "Delimiter")
    return `${f}(${JSON.stringify(arg)})`;
  return undefined;
}

function factorial(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 170) return Number.NaN;
  let r = 1;
  for (let k = 2; k <= n; k++) r *= k;
  return r;
}

/** Floating-point value at `env` (missing variables throw). NaN for domain errors. */
export function evalNumber(json: Json, env: ReadonlyMap<string, number>): number {
  json = unwrap(json);
  const lit = literal(json);
  if (lit) return lit.exact ? toNumber(lit.exact) : Number(typeof json === "number" ? json : Number.NaN);
  if (typeof json === "string") {
    const c = CONSTANTS[json];
    if (c !== undefined) return c;
    const v = env.get(json);
    if (v === undefined) throw new Unsupported(`unbound ${json}`);
    return v;
  }
  if (!Array.isArray(json)) throw new Unsupported("shape");
  const [head, ...args] = json as [string, ...Json[]];
  const fn = functionCall(head, args);
  if (fn) {
    const v = env.get(fn);
    if (v === undefined) throw new Unsupported(`unbound ${fn}`);
    return v;
  }
  const x = (i: number) => evalNumber(args[i], env);
  switch (head) {
    case "Add":
      return args.reduce<number>((s, _a, i) => s + x(i), 0);
    case "Subtract":
      return args.length === 1 ? -x(0) : x(0) - x(1);
    case "Negate":
      return -x(0);
    case "Multiply":
    case "InvisibleOperator":
      return args.reduce<number>((p, _a, i) => p * x(i), 1);
    case "Divide":
    case "Rational":
      return x(0) / x(1);
    case "Power":
      return realPower(x(0), x(1));
    case "Root":
      return realRoot(x(0), x(1));
    case "Binomial": {
      const [n, k] = [x(0), x(1)];
      return factorial(n) / (factorial(k) * factorial(n - k));
    }
    case "Delimiter":
      if (args.length !== 1) throw new Unsupported("delimiter");
      return x(0);
    case "BaseForm": // 204_5: the parser already converted the digits to their value
      return x(0);
    case "Max":
      return Math.max(...args.map((_a, i) => x(i)));
    case "Min":
      return Math.min(...args.map((_a, i) => x(i)));
    default: {
      if (!Object.hasOwn(unaryFunctions, head)) throw new Unsupported(head);
      return unaryFunctions[head](x(0));
    }
  }
}

/** Functions of one argument, by MathJSON head. */
const unaryFunctions: Record<string, (v: number) => number> = {
  Square: (v) => v ** 2,
  Sqrt: Math.sqrt,
  Exp: Math.exp,
  Ln: Math.log,
  Lb: Math.log2,
  Lg: Math.log10,
  Sin: Math.sin,
  Cos: Math.cos,
  Tan: Math.tan,
  Sec: (v) => 1 / Math.cos(v),
  Csc: (v) => 1 / Math.sin(v),
  Cot: (v) => 1 / Math.tan(v),
  Arcsin: Math.asin,
  Arccos: Math.acos,
  Arctan: Math.atan,
  Sinh: Math.sinh,
  Cosh: Math.cosh,
  Tanh: Math.tanh,
  Abs: Math.abs,
  Factorial: (v) => factorial(v),
  Degrees: (v) => (v * Math.PI) / 180,
  Half: (v) => v / 2,
  Floor: Math.floor,
  Ceil: Math.ceil,
};

/** `base ^ exp`, with real odd roots of negatives: (-8)^(1/3) = -2. */
function realPower(base: number, exp: number): number {
  if (base < 0 && !Number.isInteger(exp)) {
    const inv = 1 / exp;
    if (
      Number.isInteger(Math.round(inv)) &&
      Math.abs(inv - Math.round(inv)) < 1e-9 &&
      Math.round(inv) % 2 !== 0
    )
      return -((-base) ** exp);
  }
  return base ** exp;
}

/** The n-th root of v; real for negatives when n is odd. */
function realRoot(v: number, n: number): number {
  return v < 0 && n % 2 === 1 ? -((-v) ** (1 / n)) : v ** (1 / n);
}

/** Exact rational value of a constant built from + − × ÷ and integer powers; null otherwise. */
export function evalExact(json: Json): Rational | null {
  json = unwrap(json);
  const lit = literal(json);
  if (lit) return lit.exact;
  if (!Array.isArray(json)) return null;
  const [head, ...args] = json as [string, ...Json[]];
  const parts = args.map(evalExact);
  if (parts.some((p) => p === null)) return null;
  const v = parts as Rational[];
  switch (head) {
    case "Add":
      return v.reduce(radd);
    case "Subtract":
      return v.length === 1 ? rneg(v[0]) : rsub(v[0], v[1]);
    case "Negate":
      return rneg(v[0]);
    case "Multiply":
    case "InvisibleOperator":
      return v.reduce(rmul);
    case "Divide":
    case "Rational":
      return rdiv(v[0], v[1]);
    case "Power":
      return v[1].den === 1n ? rpow(v[0], v[1].num) : null;
    case "Square":
      return rmul(v[0], v[0]);
    case "Delimiter":
      return v.length === 1 ? v[0] : null;
    case "BaseForm":
      return v[0];
    case "Half":
      return rdiv(v[0], rational(2n));
    default:
      return null;
  }
}
