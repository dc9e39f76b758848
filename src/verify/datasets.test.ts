/**
 * The verifier on real gold data (../shared/data): each reference solution must verify against its
 * own final answer, and never against another problem's answer. Skips when the folder is absent.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { isEquivalent } from "./equivalent.ts";

const data = fileURLToPath(new URL("../../../shared/data/", import.meta.url));
const skip = !existsSync(data) && `../shared/data is absent (${data})`;
const load = (path: string) =>
  readFileSync(data + path, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l));

test("MATH-500: each solution matches its own answer and not a neighbour's", { skip }, (t) => {
  const rows = load("math500/test.jsonl") as { answer: string; solution: string }[];
  let own = 0;
  const wrongMatches: string[] = [];
  rows.forEach((r, i) => {
    if (isEquivalent(r.answer, r.solution) === true) own++;
    const other = rows[(i + 7) % rows.length];
    if (other.answer.trim() !== r.answer.trim() && isEquivalent(r.answer, other.solution) === true)
      wrongMatches.push(`${r.answer} ≡ ${other.answer}?`);
  });
  t.diagnostic(`own answer: ${own}/${rows.length}; false matches: ${wrongMatches.length}`);
  assert.ok(own >= 0.99 * rows.length, `only ${own}/${rows.length} solutions match their answer`);
  assert.deepEqual(wrongMatches, []);
});

test("GSM8K test: '#### N' solutions verify against N and reject the next problem's N", { skip }, () => {
  const rows = load("gsm8k/test.jsonl") as { answer: string }[];
  const finals = rows.map((r) => r.answer.split("####")[1].trim());
  let own = 0;
  let rejected = 0;
  let pairs = 0;
  rows.forEach((r, i) => {
    if (isEquivalent(r.answer, `So the final answer is ${finals[i]}.`) === true) own++;
    const other = finals[(i + 1) % rows.length];
    if (other === finals[i]) return;
    pairs++;
    if (isEquivalent(r.answer, `<answer>${other}</answer>`) === false) rejected++;
  });
  assert.equal(own, rows.length);
  assert.equal(rejected, pairs);
});

test("AIME 2024: solutions (\\boxed{\\textbf{(073)}} style) verify against the integer answer", {
  skip,
}, () => {
  const rows = load("aime24/test.jsonl") as { answer: string | number; solution: string }[];
  const misses = rows.filter((r) => isEquivalent(String(r.answer), r.solution) !== true).map((r) => r.answer);
  assert.deepEqual(misses, []);
});
