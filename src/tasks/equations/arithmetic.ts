/**
 * How the built-in teacher shows one addition or subtraction of integers: as a chain of steps so
 * simple that a model of a million parameters can learn each one from a few thousand examples.
 * Measured on the demo: with `-21 + 14 = -7` written in one go the distilled student got half of
 * its additions and subtractions wrong (multiplications and divisions by a single digit: one in
 * ten), so the teacher does what people do in their heads:
 *
 *   signs first       -21 + 14 = -(21 - 14)        4 - 12 = -(12 - 4)        -1 - 17 = -(1 + 17)
 *   tens, then units  21 - 14 = 21 - 10 - 4 = 11 - 4 = 7       58 + 17 = 58 + 10 + 7 = 68 + 7 = 75
 *
 * Every step left is a two-digit number plus or minus a single digit or a multiple of ten.
 * `result` replaces the true value at the end (a teacher's arithmetic slip lands in the last step).
 */
export function explainSum(a: number, op: "+" | "-", b: number, result?: number): string {
  const value = op === "+" ? a + b : a - b;
  const shown = result ?? value;
  const steps = [`${a} ${op} ${b}`];
  if (a === 0 || b === 0) return `${steps[0]} = ${shown}`;
  // signs: reduce to one operation on magnitudes, with the sign of the result outside
  const [p, q] = [Math.abs(a), Math.abs(b)];
  const negB = b < 0 !== (op === "-"); // adding a negative number is subtracting
  let inner: { p: number; op: "+" | "-"; q: number };
  let negative: boolean;
  if (a >= 0 && !negB) [inner, negative] = [{ p, op: "+", q }, false];
  else if (a < 0 && negB) [inner, negative] = [{ p, op: "+", q }, true];
  else if (a >= 0) [inner, negative] = p >= q ? [{ p, op: "-", q }, false] : [{ p: q, op: "-", q: p }, true];
  else [inner, negative] = p > q ? [{ p, op: "-", q }, true] : [{ p: q, op: "-", q: p }, false];
  // a sum is easier with the bigger number first
  if (inner.op === "+" && inner.q > inner.p) inner = { p: inner.q, op: "+", q: inner.p };
  const wrap = (text: string) => (negative ? `-(${text})` : text);
  const innerText = `${inner.p} ${inner.op} ${inner.q}`;
  if (innerText !== `${a} ${op} ${b}`) steps.push(wrap(innerText));
  // tens, then units: q = 10·t + u with both parts non-zero
  const tens = inner.q - (inner.q % 10);
  const units = inner.q % 10;
  let last = inner;
  if (tens > 0 && units > 0 && inner.p > 0) {
    const afterTens = inner.op === "+" ? inner.p + tens : inner.p - tens;
    steps.push(wrap(`${inner.p} ${inner.op} ${tens} ${inner.op} ${units}`));
    last = { p: afterTens, op: inner.op, q: units };
    steps.push(wrap(`${afterTens} ${inner.op} ${units}`));
  }
  steps.push(...unitsSteps(last).map(wrap), `${shown}`);
  return steps.join(" = ");
}

/**
 * A number plus or minus one digit, digit by digit: the units meet as a one-digit fact and the tens
 * follow. Measured on the demo: with `27 - 5 = 22` in one go, three in four of the distilled student's
 * wrong answers went wrong exactly there.
 *
 *   68 + 7 = 60 + 8 + 7 = 60 + 15      27 - 5 = 20 + 7 - 5 = 20 + 2      41 - 5 = 30 + 11 - 5 = 30 + 6
 *
 * One-digit facts (8 + 7, 12 - 4) and a round number plus a digit (60 + 7) stay as they are.
 */
function unitsSteps({ p, op, q }: { p: number; op: "+" | "-"; q: number }): string[] {
  const [tens, units] = [p - (p % 10), p % 10];
  if (q <= 0 || q >= 10 || tens === 0) return [];
  if (op === "+") return units === 0 ? [] : [`${tens} + ${units} + ${q}`, `${tens} + ${units + q}`];
  if (units >= q) return [`${tens} + ${units} - ${q}`, `${tens} + ${units - q}`];
  if (tens === 10) return []; // 12 - 4: a one-digit fact with a borrow
  return [`${tens - 10} + ${units + 10} - ${q}`, `${tens - 10} + ${units + 10 - q}`];
}
