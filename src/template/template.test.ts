import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatCompletion, lastBoxed, parseCompletion, renderChatSample, resolveMarkers } from "./index.ts";

describe("parseCompletion", () => {
  it("reads a conforming completion", () => {
    const p = parseCompletion("<think>\n2x = 6, so x = 3\n</think>\n<answer>x = 3</answer>");
    assert.deepEqual(p, {
      reasoning: "2x = 6, so x = 3",
      answer: "x = 3",
      boxed: null,
      conforms: true,
      problems: [],
    });
  });

  it("names every missing marker and still finds what it can", () => {
    const p = parseCompletion("2x = 6 so x = 3\n</think>\n<answer>3");
    assert.equal(p.conforms, false);
    assert.deepEqual(p.problems, ["missing:<think>", "missing:</answer>"]);
    assert.equal(p.reasoning, "2x = 6 so x = 3");
    assert.equal(p.answer, "3");
  });

  it("flags repeated and out-of-order markers", () => {
    const repeated = parseCompletion("<think>a</think><think>b</think><answer>1</answer>");
    assert.deepEqual(repeated.problems, ["repeated:<think>", "repeated:</think>"]);
    const swapped = parseCompletion("<answer>1</answer><think>a</think>");
    assert.ok(swapped.problems.includes("out-of-order"));
  });

  it("flags empty parts and text outside the markers", () => {
    assert.deepEqual(parseCompletion("<think> </think><answer>1</answer>").problems, ["empty-reasoning"]);
    assert.deepEqual(parseCompletion("<think>a</think><answer></answer>").problems, ["empty-answer"]);
    assert.deepEqual(parseCompletion("Sure! <think>a</think><answer>1</answer>").problems, ["text-outside"]);
    assert.deepEqual(parseCompletion("<think>a</think>so<answer>1</answer>").problems, ["text-outside"]);
    assert.deepEqual(parseCompletion("<think>a</think><answer>1</answer> Hope it helps").problems, [
      "text-outside",
    ]);
  });

  it("understands \\boxed{} inside the answer, nested braces included", () => {
    const p = parseCompletion("<think>a</think><answer>The answer is $\\boxed{\\frac{1}{2}}$.</answer>");
    assert.equal(p.boxed, "\\frac{1}{2}");
    assert.equal(p.conforms, true);
    assert.equal(lastBoxed("\\boxed{1} then \\boxed{{2}}"), "{2}");
    assert.equal(lastBoxed("\\boxed{unclosed"), null);
  });

  it("folds a separately returned reasoning (DeepSeek reasoning_content)", () => {
    const p = parseCompletion("<answer>42</answer>", undefined, "Six times seven.");
    assert.equal(p.reasoning, "Six times seven.");
    assert.equal(p.answer, "42");
    assert.equal(p.conforms, true);
  });

  it("works with other markers", () => {
    const markers = resolveMarkers({
      thinkOpen: "[R]",
      thinkClose: "[/R]",
      answerOpen: "[A]",
      answerClose: "[/A]",
    });
    const text = formatCompletion("because", "7", markers);
    assert.deepEqual(parseCompletion(text, markers).problems, []);
    assert.equal(parseCompletion(text).conforms, false);
    assert.throws(() => resolveMarkers({ thinkOpen: "<answer>" }), /differ/);
  });

  it("round-trips a chat sample", () => {
    const [user, assistant] = renderChatSample({
      prompt: " Solve 2x = 6 ",
      reasoning: "x = 6/2",
      answer: "x = 3",
    });
    assert.deepEqual(user, { role: "user", content: "Solve 2x = 6" });
    assert.equal(assistant.role, "assistant");
    const back = parseCompletion(assistant.content);
    assert.equal(back.conforms, true);
    assert.equal(back.answer, "x = 3");
  });
});
