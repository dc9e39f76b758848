/**
 * Exact rational numbers for the built-in equation task. Coefficients stay small (|n| < 10^6), so
 * plain numbers are exact; every result is reduced with a positive denominator.
 */
export interface Rational {
  readonly n: number;
  readonly d: number;
}

export function rat(n: number, d = 1): Rational {
  if (d === 0) throw new RangeError("division by zero");
  if (!Number.isInteger(n) || !Number.isInteger(d)) throw new RangeError(`not an integer ratio: ${n}/${d}`);
  const g = gcd(Math.abs(n), Math.abs(d)) || 1;
  const sign = d < 0 ? -1 : 1;
  return { n: (sign * n) / g + 0, d: (sign * d) / g };
}

export const add = (a: Rational, b: Rational) => rat(a.n * b.d + b.n * a.d, a.d * b.d);
export const sub = (a: Rational, b: Rational) => rat(a.n * b.d - b.n * a.d, a.d * b.d);
export const mul = (a: Rational, b: Rational) => rat(a.n * b.n, a.d * b.d);
export const div = (a: Rational, b: Rational) => rat(a.n * b.d, a.d * b.n);
export const neg = (a: Rational) => rat(-a.n, a.d);
export const eq = (a: Rational, b: Rational) => a.n === b.n && a.d === b.d;
export const isZero = (a: Rational) => a.n === 0;
export const isInt = (a: Rational) => a.d === 1;
export const abs = (a: Rational) => rat(Math.abs(a.n), a.d);

/** `3`, `-3/4`. */
export function formatRational(a: Rational): string {
  return a.d === 1 ? `${a.n}` : `${a.n}/${a.d}`;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
