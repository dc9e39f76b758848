/**
 * The verifiers on the built-in teacher's own completions at temperature 0.8: the rule verifier
 * (no gold) and the gold verifier must agree, catch every injected arithmetic slip, and accept
 * every clean solution, judged against the teacher's record of what it injected.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { equationPrompt, generateEquations } from "../tasks/equations/generate.ts";
import { createEquationsTeacher } from "../teachers/builtin/equations.ts";
import { isEquivalent } from "./equivalent.ts";
import { extractAnswer } from "./extract.ts";
import { checkLinearEquationAnswer } from "./linear.ts";

test("built-in equations teacher at T=0.8: slips are caught, clean answers pass, both verifiers agree", async () => {
  const teacher = createEquationsTeacher();
  let slips = 0;
  let clean = 0;
  for (const p of generateEquations({ count: 100, seed: 5, split: "all" })) {
    const completions = await teacher.sample({
      messages: [{ role: "user", content: equationPrompt(p.equation) }],
      n: 4,
      temperature: 0.8,
      topP: 1,
      maxTokens: 2048,
      seed: 1,
    });
    for (const c of completions) {
      const injected = (c.meta?.injected as string[] | undefined) ?? [];
      const rule = checkLinearEquationAnswer(p.equation, extractAnswer(c.text) ?? "");
      const gold = isEquivalent(p.solution, c.text);
      assert.equal(rule, gold, `${p.equation}: rule ${rule} vs gold ${gold}\n${c.text}`);
      if (injected.includes("truncation")) continue;
      if (injected.includes("arithmetic-slip")) {
        slips++;
        assert.equal(rule, false, `slip not caught: ${p.equation}\n${c.text}`);
      } else {
        clean++;
        assert.equal(rule, true, `clean answer rejected: ${p.equation}\n${c.text}`);
      }
    }
  }
  assert.ok(slips > 20 && clean > 200, `too few cases (${slips} slips, ${clean} clean)`);
});
