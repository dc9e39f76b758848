import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { readLines } from "../../test/support/readLines.ts";
import { type EvaluatedRecord, evaluate } from "../evaluate/evaluate.ts";
import type { CheckVerdict } from "../filter/checks/types.ts";
import { filter } from "../filter/filter.ts";
import { resolveMarkers } from "../template/markers.ts";
import { generateGeneral } from "./general.ts";
import { type Gradable, gradeAnswer, taskOf } from "./grading.ts";

const tmp = () => mkdtempSync(path.join(tmpdir(), "distill-grading-"));

/** A candidate of `source` answering `answer` (in the template unless `completion` says otherwise). */
function candidate(
  source: string,
  prompt: string,
  answer: string | null,
  more: Partial<Gradable> = {},
): Gradable {
  return {
    prompt,
    source,
    answer,
    completion: answer === null ? "" : `<think>\nwork\n</think>\n<answer>${answer}</answer>`,
    finish_reason: "stop",
    ...more,
  };
}

describe("the task registry", () => {
  it("is keyed by the prompt source, queries aside; sources without a rule of their own need golds", () => {
    assert.equal(taskOf("builtin:equations?split=test&count=3").source, "builtin:equations");
    assert.equal(taskOf("builtin:general").needsGold, false);
    assert.equal(taskOf("gsm8k:test").needsGold, true);
    assert.equal(taskOf("jsonl:/tmp/x.jsonl").needsGold, true);
    assert.equal(taskOf(undefined).needsGold, true);
  });

  it("judges built-in tasks from the prompt, whatever the gold says", () => {
    const eq = "Solve for x: 3x + 5 = 20.";
    assert.equal(gradeAnswer(candidate("builtin:equations", eq, "x = 5", { gold: "7" })).correct, true);
    const wrong = gradeAnswer(candidate("builtin:equations", eq, "x = 6", { gold: "6" }));
    assert.deepEqual(wrong, {
      answer: "x = 6",
      correct: false,
      reason: 'wrong answer: "x = 6" does not solve 3x + 5 = 20',
    });
    const sort = "Sort these numbers from smallest to largest: 9, 3, 5.";
    assert.equal(
      gradeAnswer(candidate("builtin:general", sort, "3, 5, 9", { gold: "9, 5, 3" })).correct,
      true,
    );
    assert.equal(gradeAnswer(candidate("builtin:general", sort, "3, 9, 5")).correct, false);
  });

  it("compares with the gold elsewhere: numbers by value, words as text, nothing without a gold", () => {
    assert.equal(gradeAnswer(candidate("gsm8k:test", "How many?", "$1,000", { gold: "1000" })).correct, true);
    assert.equal(
      gradeAnswer(candidate("jsonl:a.jsonl", "Which day?", "ilcnep", { gold: "licnep" })).correct,
      false,
    );
    assert.equal(
      gradeAnswer(candidate("jsonl:a.jsonl", "Which day?", "Tuesday.", { gold: "Tuesday" })).correct,
      true,
    );
    assert.deepEqual(gradeAnswer(candidate("gsm8k:test", "How many?", "3")), {
      answer: "3",
      correct: null,
      reason: "no gold answer",
      unknown: "no-gold",
    });
  });

  it("takes the answer from the prose when the markers broke, never from a cut-off completion", () => {
    const prose = candidate("gsm8k:test", "How many?", null, {
      gold: "5",
      completion: "<think>\nx = 5\n</think>\nSo the answer is 5.",
    });
    assert.deepEqual(gradeAnswer(prose), { answer: "5", correct: true });
    const cut = { ...prose, completion: "<think>\nso far 5", finish_reason: "length" };
    assert.deepEqual(gradeAnswer(cut), {
      answer: null,
      correct: false,
      reason: "wrong answer: no answer given",
    });
  });

  it("reads the answer part with the run's own markers", () => {
    const markers = resolveMarkers({ answerOpen: "<final>", answerClose: "</final>" });
    const c = candidate("gsm8k:test", "How many?", null, {
      gold: "5",
      completion: "<think>\nwork\n</think>\n<final>5</final> 7",
    });
    assert.equal(gradeAnswer(c, markers).answer, "5");
    assert.equal(gradeAnswer(c, markers).correct, true);
  });
});

describe("filter and eval judge alike", () => {
  /** eval's results (each with `correct`) through the filter: its correctness check must agree on every one. */
  async function agree(evalOut: string): Promise<{ right: number; wrong: number }> {
    const results = readLines<EvaluatedRecord>(path.join(evalOut, "results.jsonl"));
    const out = path.join(evalOut, "filter");
    await filter({ in: path.join(evalOut, "results.jsonl"), out, policy: "all-correct", quiet: true });
    type Filtered = EvaluatedRecord & { checks?: Record<string, CheckVerdict> };
    const judged = [
      ...readLines<Filtered>(path.join(out, "kept.jsonl")),
      ...readLines<Filtered>(path.join(out, "rejected.jsonl")),
    ];
    let compared = 0;
    for (const r of judged) {
      if (!r.checks) continue; // dropped as a duplicate before its checks were recorded
      const verdict = r.checks.correctness;
      const at = `${r.prompt_id}#${r.sample_index}`;
      assert.equal(
        verdict.pass === true,
        r.correct === true,
        `${at}: filter ${verdict.pass}, eval ${r.correct}`,
      );
      if (r.correct !== true) assert.equal(verdict.reason, r.grade_reason, at);
      compared++;
    }
    for (const r of readLines<EvaluatedRecord>(path.join(out, "kept.jsonl"))) assert.equal(r.correct, true);
    assert.ok(compared >= results.length * 0.9, `${compared} of ${results.length} compared`);
    return {
      right: results.filter((r) => r.correct).length,
      wrong: results.filter((r) => !r.correct).length,
    };
  }

  // a sampled teacher makes the faults a real one makes (slips, broken markers, cut-off answers): both verdicts occur
  const sampled = { samples: 3, temperature: 1.2, quiet: true } as const;

  it("on built-in equations", async () => {
    const out = tmp();
    await evaluate({
      ...sampled,
      model: "builtin:equations",
      benchmark: "builtin:equations?count=40&split=test",
      out,
    });
    const { right, wrong } = await agree(out);
    assert.ok(right > 0 && wrong > 0, `${right} right, ${wrong} wrong`);
  });

  it("on built-in general requests and on the same requests as a JSONL file with golds", async () => {
    const general = tmp();
    await evaluate({
      ...sampled,
      model: "builtin:general",
      benchmark: "builtin:general?count=40",
      out: general,
    });
    const a = await agree(general);
    assert.ok(a.right > 0 && a.wrong > 0, `${a.right} right, ${a.wrong} wrong`);

    const dir = tmp();
    const file = path.join(dir, "general.jsonl");
    const rows = generateGeneral({ count: 40, seed: 3 }).map((p) =>
      JSON.stringify({ id: p.id, prompt: p.prompt, answer: p.answer }),
    );
    writeFileSync(file, `${rows.join("\n")}\n`);
    await evaluate({
      ...sampled,
      model: "builtin:general",
      benchmark: `jsonl:${file}`,
      out: path.join(dir, "eval"),
    });
    const b = await agree(path.join(dir, "eval"));
    assert.ok(b.right > 0 && b.wrong > 0, `${b.right} right, ${b.wrong} wrong`);
  });
});
