import assert from "node:assert/strict";
import { test } from "node:test";
import { isEquivalent, numbersClose, type Verdict, type VerifyOptions } from "./equivalent.ts";

function check(cases: [gold: string, pred: string, want: Verdict, options?: VerifyOptions][]) {
  for (const [gold, pred, want, options] of cases)
    assert.equal(
      isEquivalent(gold, pred, options),
      want,
      `${JSON.stringify(gold)} vs ${JSON.stringify(pred)}`,
    );
}

test("numbers: exact fractions, decimals to 6 places or a given precision, separators", () => {
  check([
    ["0.5", "\\frac{1}{2}", true],
    ["1/3", "0.333", false],
    ["1/3", "0.333", true, { precision: 3 }],
    ["1/3", "0.333333", true],
    ["1000", "1,000", true],
    ["1000", "1 000", true],
    ["\\pi", "3.14", false],
    ["\\pi", "3.14", true, { precision: 2 }],
    ["12.5", "12.50", true],
    ["16386.17", "16386.169", false],
    ["1e-8", "2e-8", false],
    ["20", "20.0001", false],
    ["1000.5", "\\$1,000.50", true],
    ["2^{10}", "1024", true],
    ["10^{6}", "1000000", true],
    ["1.5", "1,5", false], // a whole answer "1,5" is the list {1, 5}
  ]);
  assert.equal(numbersClose(1 / 3, 0.333333), true);
  assert.equal(numbersClose(1e-8, 1.0000001e-8), true);
  assert.equal(numbersClose(2.6666667, 8 / 3, 2), true);
});

test("percentages, degrees, mixed numbers, units", () => {
  check([
    ["50\\%", "50", true],
    ["50%", "0.5", true],
    ["0.1", "10\\%", true],
    ["45^\\circ", "45", true],
    ["45^\\circ", "\\frac{\\pi}{4}", true],
    ["\\frac{\\sqrt{3}}{2}", "\\sin 60^\\circ", true],
    ["5/2", "2\\frac{1}{2}", true],
    ["2.5", "2 1/2", true],
    ["10", "10 \\text{ cm}", true],
    ["15", "15\\mbox{ cm}^2", true],
  ]);
});

test("multiple-choice letters and text answers", () => {
  check([
    ["B", "(B)", true],
    ["B", "B)", true],
    ["B", "\\text{(B)}", true],
    ["B", "(C)", false],
    ["\\text{(B)}", "The answer is (B).", true],
    ["\\text{Evelyn}", "\\text{evelyn}", true],
    ["\\text{yes}", "\\text{no}", false],
  ]);
});

test("expressions: symbolic forms through random points", () => {
  check([
    ["(x+1)^2", "x^2+2x+1", true],
    ["(x+1)^2", "x^2+1", false],
    ["1", "\\sin^2 x + \\cos^2 x", true],
    ["x^2 - 1", "(x-1)(x+1)", true],
    ["\\frac{1}{x}", "x^{-1}", true],
    ["\\sqrt{x^2}", "|x|", true],
    ["\\sqrt{x^2}", "x", false],
    ["|x|", "x", false],
    ["(\\sqrt{x})^2", "x", true], // equal where both are defined
    ["a+b", "b+a", true],
    ["2\\sqrt{2}", "\\sqrt{8}", true],
    ["e^2", "\\exp(2)", true],
    ["\\ln 8", "3\\ln 2", true],
    ["\\binom{5}{2}", "10", true],
    ["5!", "120", true],
    ["x+y", "x+z", false],
  ]);
});

test("tuples, sets, intervals, unions, matrices", () => {
  check([
    ["\\{1,2,3\\}", "\\{3,2,1\\}", true],
    ["(1,2)", "(2,1)", false],
    ["(1,2)", "\\left( 1, 2 \\right)", true],
    ["(2,3)", "2,3", true],
    ["2,3", "3,2", true],
    ["-3, 3", "\\{3, -3\\}", true],
    ["\\pm 3", "3, -3", true],
    ["[1,2)", "[1,2]", false],
    ["(1,2]", "(1,2]", true],
    ["(1,2) \\cup (3,4)", "(3,4) \\cup (1,2)", true],
    ["\\emptyset", "\\varnothing", true],
    ["\\emptyset", "\\{0\\}", false],
    ["[0, \\infty)", "[0,\\infty)", true],
    ["\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", true],
    ["\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", "\\begin{pmatrix}1&2\\\\4&3\\end{pmatrix}", false],
    ["\\begin{pmatrix}2\\\\4\\end{pmatrix}", "2\\begin{pmatrix}1\\\\2\\end{pmatrix}", true],
  ]);
});

test("equations and inequalities", () => {
  check([
    ["2", "x = 2", true],
    ["x = 2", "2", true],
    ["x=2", "y=2", false],
    ["2x + 4 = 0", "x = -2", true],
    ["2x + z = 1", "1", false],
    ["x > 3", "3 < x", true],
    ["x > 3", "x \\ge 3", false],
    ["x < 1", "-x > -1", true],
    ["3", "x = 3 \\text{ or } x = -3", false],
    ["x < 3", "(-\\infty, 3)", true],
    ["(-\\infty, 3)", "x < 3", false],
    ["(-\\infty, 3)", "x < 3", true, { allowSetRelationComparison: true }],
  ]);
});

test("null when it cannot be decided, false when the prediction states nothing", () => {
  check([
    ["\\frac{", "1", null],
    ["1", "\\frac{", null],
    ["10^{10^{10}}", "10^{10^{11}}", null], // both overflow: cannot tell
    ["\\infty", "\\infty", true],
    ["", "", null],
    ["7", "", false],
    ["7", "The answer is seven.", false],
    ["12", "I think it's 12 apples.", true],
  ]);
});

test("never throws, whatever the input", () => {
  const tokens = [
    "\\frac",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "\\{",
    "\\}",
    "1",
    "-",
    "x",
    "=",
    "<",
    ",",
    "$",
    "\\boxed{",
    "\\sqrt",
    "^",
    "\\begin{pmatrix}",
    "\\end{pmatrix}",
    "&",
    "\\\\",
    "\\text{",
    "%",
    ".",
    "\\pm",
    "\\cup",
    "\n",
    "\\(",
    "#### ",
    "<answer>",
    "'",
    "\\",
    "2^{1000}",
  ];
  let seed = 7;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const make = () => Array.from({ length: 1 + rnd(12) }, () => tokens[rnd(tokens.length)]).join("");
  for (let i = 0; i < 300; i++) {
    const verdict = isEquivalent(make(), make());
    assert.ok(verdict === true || verdict === false || verdict === null);
  }
});

test("bare words are text answers", () => {
  check([
    ["\\text{Yes}", "yes", true],
    ["\\text{Evelyn}", "Therefore the answer is $\\boxed{\\text{Evelyn}}$.", true],
    ["no", "Yes", false],
    ["blue car", "Blue car", true],
    ["\\text{undefined}", "undefined", true],
    ["forty-two", "forty-two", true],
    ["licnep", "ilcnep", false],
    ["Tuesday", "The answer is Tuesday.", true],
    ["Tuesday", "I think the answer is Monday.", false],
    ["3", "x = \\pm 3", false],
    ["3, -3", "x = \\pm 3", true],
    ["\\pm 3", "x = 3 \\text{ or } x = -3", true],
  ]);
});

test("sets ignore repeats; semicolons and ratios; assignments to products of symbols", () => {
  check([
    ["(1,2),(3,4)", "(3,4), (1,2), (3,4)", true],
    ["(1,2),(3,4)", "(3,4), (1,3)", false],
    ["(0;-2;6),(4;0;0)", "(4, 0, 0), (0, -2, 6)", true],
    ["-12;-11;-10", "\\{-10, -11, -12\\}", true],
    ["V_{1}:V_{2}=11:21", "11:21", true],
    ["7:32", "14:64", true],
    ["AB=4,CD=5", "4, 5", true],
    ["|AB|=1", "1", true],
    ["x(1+y)=5", "5", false], // not an assignment: the left side has a number in it
    ["\\frac{NO}{BO}=\\frac{1}{\\sqrt{6}}", "\\frac{\\sqrt{6}}{6}", true],
    ["0<f(x)<1", "(0,1)", true],
    ["$$(3, 3), (1, 1)$$", "$$\\boxed{(3, 3)} \\text{ for part (a) and } \\boxed{(1, 1)}$$", true],
  ]);
});
