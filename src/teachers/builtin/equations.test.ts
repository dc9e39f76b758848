import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { findEquation } from "../../tasks/equations/find.ts";
import { equationPrompt, generateEquations } from "../../tasks/equations/generate.ts";
import { parseCompletion } from "../../template/parse.ts";
import { renderTeacherMessages } from "../../template/render.ts";
import { checkLinearEquationAnswer } from "../../verify/linear.ts";
import type { Completion } from "../types.ts";
import { createEquationsTeacher } from "./equations.ts";
import { type FaultKind, faultKinds } from "./faults.ts";

const teacher = createEquationsTeacher();
const problems = generateEquations({ count: 200, seed: 7, fractionRate: 0.3 });

async function sampleAll(temperature: number, n: number): Promise<{ equation: string; c: Completion }[]> {
  const out: { equation: string; c: Completion }[] = [];
  for (const [i, p] of problems.entries()) {
    const messages = renderTeacherMessages(equationPrompt(p.equation));
    const cs = await teacher.sample({ messages, n, temperature, topP: 0.95, maxTokens: 4096, seed: i });
    for (const c of cs) out.push({ equation: p.equation, c });
  }
  return out;
}

describe("builtin:equations teacher", () => {
  it("at temperature 0 every completion conforms and every answer is right (checked by substitution)", async () => {
    const samples = await sampleAll(0, 1);
    for (const { equation, c } of samples) {
      const parsed = parseCompletion(c.text);
      assert.equal(parsed.conforms, true, `${equation}: ${parsed.problems.join(", ")}`);
      assert.equal(c.finishReason, "stop");
      assert.equal(
        checkLinearEquationAnswer(equation, parsed.answer ?? ""),
        true,
        `${equation} → ${parsed.answer}`,
      );
    }
    const bands = new Set(problems.map((p) => p.band));
    assert.equal(bands.size, 5);
  });

  it("at temperature 0.8 makes each kind of fault, visibly", async () => {
    const samples = await sampleAll(0.8, 4);
    const seen = new Map<FaultKind, number>();
    for (const { equation, c } of samples) {
      const injected = (c.meta?.injected ?? []) as FaultKind[];
      for (const kind of injected) seen.set(kind, (seen.get(kind) ?? 0) + 1);
      const parsed = parseCompletion(c.text);
      if (injected.length === 0) assert.equal(parsed.conforms, true);
      if (injected.includes("truncation")) assert.equal(c.finishReason, "length");
      if (injected.includes("broken-markers") && !injected.includes("truncation"))
        assert.equal(parsed.conforms, false);
      if (injected.includes("language-mix"))
        assert.match(c.text, /[\u4e00-\u9fff\u0400-\u04ff]|\b(vi|af|den)\b/);
      if (injected.includes("long-paragraph") && !injected.includes("truncation")) {
        assert.ok(c.text.split("\n").some((line) => line.length > 1000));
      }
      // the same stretch of 10+ characters three times in a row (a line, or a sentence of a paragraph)
      if (injected.includes("repetition")) assert.match(c.text, /(.{10,}?)(\s*\1){2,}/s);
      const clean = !injected.some((k) => k === "truncation" || k === "broken-markers");
      if (injected.includes("arithmetic-slip") && clean) {
        assert.equal(
          checkLinearEquationAnswer(equation, parsed.answer ?? ""),
          false,
          `${equation} → ${parsed.answer}`,
        );
      }
    }
    for (const kind of faultKinds)
      assert.ok((seen.get(kind) ?? 0) >= 5, `${kind} appeared ${seen.get(kind) ?? 0} times`);
  });

  it("is deterministic for a seed and varies across seeds", async () => {
    const messages = renderTeacherMessages("Solve for x: 3(x - 2) + 4 = 2x + 1");
    const request = { messages, n: 8, temperature: 1, topP: 1, maxTokens: 4096, seed: 42 };
    assert.deepEqual(await teacher.sample(request), await teacher.sample(request));
    const other = await teacher.sample({ ...request, seed: 43 });
    assert.notDeepEqual(other, await teacher.sample(request));
  });

  it("honours maxTokens with finish reason length", async () => {
    const messages = renderTeacherMessages("Solve for x: 5x - 7 = 2x + 8");
    const [c] = await teacher.sample({ messages, n: 1, temperature: 0, topP: 1, maxTokens: 10, seed: 1 });
    assert.equal(c.finishReason, "length");
    assert.ok(c.usage.completionTokens <= 10);
  });

  it("finds the equation in a prompt and refuses prompts without one", async () => {
    assert.equal(findEquation("Solve for x: (2/3)x + 1 = 5."), "(2/3)x + 1 = 5");
    assert.equal(findEquation("What is the capital of France?"), null);
    const messages = renderTeacherMessages("What is the capital of France?");
    await assert.rejects(
      teacher.sample({ messages, n: 1, temperature: 0, topP: 1, maxTokens: 10, seed: 1 }),
      /no linear equation/,
    );
  });
});
