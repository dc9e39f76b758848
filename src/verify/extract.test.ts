import assert from "node:assert/strict";
import { test } from "node:test";
import { extractAnswer, extractCandidates } from "./extract.ts";

test("the template's answer part, with default and custom markers", () => {
  assert.equal(extractAnswer("<think>maybe 3</think>\n<answer>x = 5</answer>"), "x = 5");
  assert.equal(extractAnswer("<think>3</think><answer>The answer is \\boxed{7}.</answer> 9"), "7");
  assert.equal(extractAnswer("<ans>12</ans> and 13", { answerStart: "<ans>", answerEnd: "</ans>" }), "12");
});

test("the last \\boxed{} with nested braces; adjacent boxes form one list", () => {
  assert.equal(
    extractAnswer("first \\boxed{1} then $\\boxed{\\frac{1}{\\sqrt{2}}}$."),
    "\\frac{1}{\\sqrt{2}}",
  );
  assert.equal(extractAnswer("thus \\fbox{5} done"), "5");
  assert.equal(extractAnswer("\\[ \\boxed{-2} \\quad \\text{and} \\quad \\boxed{1}. \\]"), "-2, 1");
  assert.equal(extractAnswer("$\\boxed{28}$ pct"), "28 \\%");
});

test("#### N, final-answer and answer-is phrases", () => {
  const gsm =
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nShe sold 48+24 = <<48+24=72>>72 clips.\n#### 72";
  assert.equal(extractAnswer(gsm), "72");
  assert.equal(extractAnswer("So the answer is 42."), "42");
  assert.equal(extractAnswer("Final answer: 3/4"), "3/4");
  assert.equal(extractAnswer("Final Answer: The volume of $ABCDEFGH$ is 120. I hope it is correct."), "120");
  assert.equal(extractAnswer("Final Answer: The final answer is $28 \\%$. I hope it is correct."), "28 \\%");
  assert.equal(extractAnswer('The final answer is \\"$12 $ and $13 $\\". I hope'), "12 , 13 ");
  assert.equal(extractAnswer("Answer: (C)"), "(C)");
});

test("a final answer stated after the last box wins over the box", () => {
  const text =
    "so \\boxed{255} is the interest. Final Answer: The final answer is $10,455$. I hope it is correct.";
  assert.equal(extractAnswer(text), "10,455");
});

test("without anchors: the rightmost math span or plain number", () => {
  assert.equal(extractAnswer("We get $x = 2$ and then 15 apples remain."), "15");
  assert.equal(extractAnswer("the number is not 10 which is 1,000.99€"), "1,000.99");
  assert.equal(extractAnswer("AZYUK2A"), null); // no number inside words
  assert.deepEqual(
    extractCandidates("x2 and y3 are labels").map((c) => c.text),
    [],
  );
  assert.equal(extractAnswer("there are no numbers in this long sentence at all"), null);
  assert.equal(extractAnswer("blue car"), "blue car"); // a short answer in words
});

test("a whole answer '2,3' is a list; '1,22' and '0,111' are decimal commas", () => {
  const [list] = extractCandidates("2,3");
  assert.equal(list.math, true);
  const [decimal] = extractCandidates("1,22");
  assert.equal(decimal.math, false);
});

test("the last answer phrase that states something; #### anywhere", () => {
  assert.equal(extractAnswer("So the answer is 5. Let me double check the answer. Yes."), "5");
  assert.equal(extractAnswer("reasoning\n#### 72\n<|im_end|>"), "72");
});
