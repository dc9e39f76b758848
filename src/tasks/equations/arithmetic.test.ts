import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadPrompts } from "../sources.ts";
import { explainSum } from "./arithmetic.ts";

/** Evaluate every `=`-separated part of a chain: `-(21 - 10 - 4)` → -7. */
function partValue(part: string): number {
  const negative = part.startsWith("-(");
  const body = negative ? part.slice(2, -1) : part;
  const tokens = body.split(" ");
  let value = Number(tokens[0]);
  for (let i = 1; i < tokens.length; i += 2) value += (tokens[i] === "+" ? 1 : -1) * Number(tokens[i + 1]);
  return negative ? -value : value;
}

describe("explainSum", () => {
  it("writes the chains people do in their heads", () => {
    assert.equal(explainSum(-21, "+", 14), "-21 + 14 = -(21 - 14) = -(21 - 10 - 4) = -(11 - 4) = -7");
    assert.equal(explainSum(4, "-", 12), "4 - 12 = -(12 - 4) = -8");
    assert.equal(explainSum(-1, "-", 17), "-1 - 17 = -(17 + 1) = -(10 + 7 + 1) = -(10 + 8) = -18");
    assert.equal(explainSum(58, "+", 17), "58 + 17 = 58 + 10 + 7 = 68 + 7 = 60 + 8 + 7 = 60 + 15 = 75");
    assert.equal(explainSum(58, "+", 8), "58 + 8 = 50 + 8 + 8 = 50 + 16 = 66");
    assert.equal(explainSum(41, "-", 5), "41 - 5 = 30 + 11 - 5 = 30 + 6 = 36");
    assert.equal(explainSum(60, "-", 7), "60 - 7 = 50 + 10 - 7 = 50 + 3 = 53");
    assert.equal(explainSum(12, "-", 4), "12 - 4 = 8");
    assert.equal(explainSum(60, "+", 7), "60 + 7 = 67");
    assert.equal(explainSum(-3, "+", 20), "-3 + 20 = 20 - 3 = 10 + 10 - 3 = 10 + 7 = 17");
    assert.equal(explainSum(0, "-", 7), "0 - 7 = -7");
  });

  it("every step of every chain is equal to the result, and each step is one small operation", () => {
    for (let a = -140; a <= 140; a++) {
      for (let b = 0; b <= 40; b++) {
        for (const op of ["+", "-"] as const) {
          const want = op === "+" ? a + b : a - b;
          const parts = explainSum(a, op, b).split(" = ");
          assert.equal(Number(parts.at(-1)), want, `${a} ${op} ${b}`);
          for (const part of parts) assert.equal(partValue(part), want, `${a} ${op} ${b}: ${part}`);
          // the last step before the result is a one-digit fact (both numbers below 20), a round number
          // plus a number below 20, a number plus or minus a round number, or 0 plus or minus a number
          const step = parts
            .at(-2)!
            .replace(/^-\(|\)$/g, "")
            .split(" ");
          assert.equal(step.length, 3, `${a} ${op} ${b}: ${parts.join(" = ")}`);
          const [x, y] = [Math.abs(Number(step[0])), Number(step[2])];
          assert.ok(
            x === 0 || (x < 20 && y < 20) || (x % 10 === 0 && y < 20) || y % 10 === 0,
            `${a} ${op} ${b}: ${parts.join(" = ")}`,
          );
        }
      }
    }
  });

  it("lands a slip in the last step only", () => {
    assert.equal(explainSum(-21, "+", 14, -9), "-21 + 14 = -(21 - 14) = -(21 - 10 - 4) = -(11 - 4) = -9");
  });
});

describe("builtin:equations difficulty weights", () => {
  it("draws a weighted band as many times as its weight", async () => {
    const prompts = await loadPrompts("builtin:equations?count=400&seed=3&difficulty=one-step,two-step:3");
    const twoStep = prompts.filter((p) => p.band === "two-step").length;
    assert.equal(twoStep, 300);
  });

  it("refuses a weight that is not a small integer", async () => {
    await assert.rejects(
      loadPrompts("builtin:equations?count=4&difficulty=one-step:0"),
      /weight of "one-step" must be an integer/,
    );
  });
});
