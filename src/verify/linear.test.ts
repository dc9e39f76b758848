import assert from "node:assert/strict";
import { test } from "node:test";
import { checkLinearEquationAnswer, parseLinearAnswer } from "./linear.ts";

test("accepts the exact solution in every answer spelling", () => {
  const eq = "4x + 3 = 0";
  for (const answer of [
    "x = -3/4",
    "-0.75",
    "-3/4",
    "\\frac{-3}{4}",
    "\\boxed{-\\frac{3}{4}}",
    "$x=-\\dfrac{3}{4}$",
  ]) {
    assert.equal(checkLinearEquationAnswer(eq, answer), true, answer);
  }
});

test("implicit multiplication, fractions and parentheses", () => {
  assert.equal(checkLinearEquationAnswer("3(x + 1) = 2x - 5", "-8"), true);
  assert.equal(checkLinearEquationAnswer("(1/2)x + 3 = 5", "4"), true);
  assert.equal(checkLinearEquationAnswer("-(x - 2) = x/4 + 7", "x = -4"), true);
  assert.equal(checkLinearEquationAnswer("2*x - (3/4) = 1/4", "1/2"), true);
  assert.equal(checkLinearEquationAnswer("5y - 2 = 3y + 1", "3/2"), true);
  assert.equal(checkLinearEquationAnswer("3x = 1", "2 1/2"), false);
  assert.equal(checkLinearEquationAnswer("2x = 5", "2 1/2"), true);
});

test("wrong answers and rounded repeating decimals are false", () => {
  assert.equal(checkLinearEquationAnswer("4x + 3 = 0", "3/4"), false);
  // 0.333 is 333/1000, not 1/3: an inexact decimal is not the solution (documented choice).
  assert.equal(checkLinearEquationAnswer("3x = 1", "0.333"), false);
  assert.equal(checkLinearEquationAnswer("3x = 1", "1/3"), true);
});

test("unparseable equations or answers give null", () => {
  assert.equal(checkLinearEquationAnswer("x + y = 2", "1"), null);
  assert.equal(checkLinearEquationAnswer("x + 1", "1"), null);
  assert.equal(checkLinearEquationAnswer("x = 1 = 1", "1"), null);
  assert.equal(checkLinearEquationAnswer("2x = 4", "two"), null);
  assert.equal(checkLinearEquationAnswer("2x = 4", "x + 1"), null);
  assert.equal(checkLinearEquationAnswer("2x = 4", ""), null);
});

test("an answer that divides by zero is not a solution", () => {
  assert.equal(checkLinearEquationAnswer("1/(x - 1) = 2", "1"), false);
  assert.equal(checkLinearEquationAnswer("1/(x - 1) = 2", "3/2"), true);
});

test("parseLinearAnswer reads exact values", () => {
  assert.deepEqual(parseLinearAnswer("-0.75"), { num: -3n, den: 4n });
  assert.deepEqual(parseLinearAnswer("\\frac{6}{-8}"), { num: -3n, den: 4n });
  assert.equal(parseLinearAnswer("\\frac{1}"), null);
});

test("every equation of the built-in generator verifies against its solution; a perturbed answer does not", async () => {
  const { generateEquations } = await import("../tasks/equations/generate.ts");
  const problems = generateEquations({ count: 500, seed: 11, fractionRate: 0.3, split: "all" });
  for (const p of problems) {
    assert.equal(checkLinearEquationAnswer(p.equation, p.solution), true, `${p.equation} → ${p.solution}`);
    const value = parseLinearAnswer(p.solution);
    assert.ok(value);
    const wrong = `${value.num * 7n + value.den}/${value.den * 7n}`; // solution + 1/7
    assert.equal(checkLinearEquationAnswer(p.equation, wrong), false, `${p.equation} ← ${wrong}`);
  }
});
