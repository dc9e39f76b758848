/**
 * Exact rational numbers on BigInt, always in lowest terms with a positive denominator.
 * Used where floating point would blur a verdict: the linear-equation checker and exact
 * comparison of integer/fraction answers (1/3 is not 0.333).
 */
export interface Rational {
  readonly num: bigint;
  readonly den: bigint;
}

function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  if (b < 0n) b = -b;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

export function rational(num: bigint, den: bigint = 1n): Rational {
  if (den === 0n) throw new RangeError("rational: zero denominator");
  if (den < 0n) {
    num = -num;
    den = -den;
  }
  const g = gcd(num, den);
  return g > 1n ? { num: num / g, den: den / g } : { num, den };
}

export const ZERO = rational(0n);
export const ONE = rational(1n);

export const add = (a: Rational, b: Rational): Rational =>
  rational(a.num * b.den + b.num * a.den, a.den * b.den);
export const sub = (a: Rational, b: Rational): Rational =>
  rational(a.num * b.den - b.num * a.den, a.den * b.den);
export const mul = (a: Rational, b: Rational): Rational => rational(a.num * b.num, a.den * b.den);
export const neg = (a: Rational): Rational => ({ num: -a.num, den: a.den });
export const isZero = (a: Rational): boolean => a.num === 0n;
export const equals = (a: Rational, b: Rational): boolean => a.num === b.num && a.den === b.den;

/** a / b, or null when b is zero. */
export function div(a: Rational, b: Rational): Rational | null {
  return b.num === 0n ? null : rational(a.num * b.den, a.den * b.num);
}

/** a^n for an integer n (negative allowed when a ≠ 0); null when undefined or too large. */
export function pow(a: Rational, n: bigint): Rational | null {
  if (n < 0n) {
    const inv = div(ONE, a);
    return inv && pow(inv, -n);
  }
  if (n > 4096n) return null;
  return rational(a.num ** n, a.den ** n);
}

export function toNumber(a: Rational): number {
  return Number(a.num) / Number(a.den);
}

/**
 * Parses "12", "-3", "0.75", ".5", "1e3", "2.5e-2" exactly (a decimal is the exact value of its
 * digits: "0.333" is 333/1000, not 1/3). Returns null for anything else.
 */
export function parseDecimal(text: string): Rational | null {
  const m = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text.trim());
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) return null;
  const digits = `${m[2]}${m[3] ?? ""}` || "0";
  let den = 10n ** BigInt((m[3] ?? "").length);
  let num = BigInt(digits);
  const exp = m[4] ? BigInt(m[4]) : 0n;
  if (exp > 400n || exp < -400n) return null;
  if (exp >= 0n) num *= 10n ** exp;
  else den *= 10n ** -exp;
  if (m[1] === "-") num = -num;
  return rational(num, den);
}

export function formatRational(a: Rational): string {
  return a.den === 1n ? `${a.num}` : `${a.num}/${a.den}`;
}
