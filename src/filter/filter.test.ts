import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { generate } from "../generate/generate.ts";
import { findEquation } from "../tasks/equations/find.ts";
import { answerGeneral } from "../tasks/general.ts";
import type { FaultKind } from "../teachers/builtin/faults.ts";
import { UserError } from "../util/errors.ts";
import { checkLinearEquationAnswer } from "../verify/linear.ts";
import { filter } from "./filter.ts";

/** The fields of kept/rejected/hard-prompt rows these tests read. */
interface Row {
  prompt_id: string;
  sample_index: number;
  prompt: string;
  completion: string;
  answer: string | null;
  source: string;
  teacher_meta: { injected: FaultKind[] };
  checks: Record<string, { pass: boolean | null; reason?: string }>;
  reasons: string[];
  rejected_at?: string;
  candidates?: number;
}
const read = (file: string): Row[] =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
const key = (r: Row) => `${r.prompt_id}#${r.sample_index}`;

/** The check that must reject each fault the built-in teacher injects. */
const checkFor: Record<FaultKind, string> = {
  "arithmetic-slip": "correctness",
  "broken-markers": "template",
  "language-mix": "language",
  "long-paragraph": "paragraphs",
  repetition: "repetition",
  truncation: "truncation",
};

/**
 * When a completion is also truncated, the cut (at 40–90% of the text) may remove the evidence of another
 * fault: the foreign sentence, most of a loop, the rambling paragraph's length, the wrong answer. Such a
 * row is still rejected (as truncated); the other kind is only required where its evidence survived.
 */
function evidenceSurvives(kind: FaultKind, row: Row): boolean {
  if (!row.teacher_meta.injected.includes("truncation") || kind === "truncation") return true;
  const text: string = row.completion;
  if (kind === "language-mix") return /\p{Script=Han}{2}|\p{Script=Cyrillic}{2}|[æøå]/u.test(text);
  if (kind === "long-paragraph") return text.split("\n").some((l) => l.length > 1000);
  if (kind === "repetition") {
    const counts = new Map<string, number>();
    for (const l of text.split("\n")) counts.set(l, (counts.get(l) ?? 0) + 1);
    return [...counts].some(([l, n]) => l.length >= 8 && n >= 4);
  }
  if (kind === "arithmetic-slip") return row.answer !== null;
  return true;
}

describe("distill filter on built-in candidates at temperature 0.8", () => {
  let dir: string;
  let generations: string;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "filter-"));
    await generate({
      prompts: "builtin:equations",
      teacher: "builtin:equations",
      limit: 200,
      samplesPerPrompt: 4,
      temperature: 0.8,
      out: path.join(dir, "gen"),
      quiet: true,
    });
    generations = path.join(dir, "gen", "generations.jsonl");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("rejects every injected fault kind with the right reason and keeps no wrong answer", async () => {
    const out = path.join(dir, "all");
    const funnel = await filter({ in: generations, out, quiet: true });
    const input = read(generations);
    const kept = read(path.join(out, "kept.jsonl"));
    const rejected = read(path.join(out, "rejected.jsonl"));
    assert.equal(input.length, 800);
    assert.equal(kept.length + rejected.length, 800, "every candidate is kept or rejected, none dropped");
    const rejectedBy = new Map<string, Row>(rejected.map((r) => [key(r), r]));

    const seen: Record<string, number> = {};
    const checkStages = new Set(Object.values(checkFor).concat("length"));
    for (const row of input) {
      const injected: FaultKind[] = row.teacher_meta.injected;
      if (injected.length === 0) {
        // no false positive: a clean trace may only go as a duplicate, never by a check
        const stage = rejectedBy.get(key(row))?.rejected_at;
        assert.ok(!stage || !checkStages.has(stage), `clean ${key(row)} rejected by ${stage}`);
        continue;
      }
      const verdict = rejectedBy.get(key(row));
      assert.ok(verdict, `${key(row)} with ${injected} was kept`);
      assert.equal(verdict.completion, row.completion, "the raw output is kept");
      for (const kind of injected) {
        if (!evidenceSurvives(kind, row)) continue;
        seen[kind] = (seen[kind] ?? 0) + 1;
        const check: Row["checks"][string] = verdict.checks[checkFor[kind]];
        assert.equal(check.pass, false, `${key(row)}: ${kind} not caught by ${checkFor[kind]}`);
        assert.ok(verdict.reasons.includes(check.reason!), "the reason is listed");
      }
    }
    for (const kind of Object.keys(checkFor))
      assert.ok((seen[kind] ?? 0) >= 5, `${kind} seen ${seen[kind]} times`);

    for (const row of kept) {
      assert.deepEqual(row.teacher_meta.injected, []);
      assert.equal(checkLinearEquationAnswer(findEquation(row.prompt)!, row.answer!), true, row.answer!);
    }
    // the funnel adds up: each step removes from the one before, and what remains is what was kept
    assert.equal(funnel.candidates, 800);
    let remaining = 800;
    for (const step of funnel.steps) {
      assert.equal(step.remaining, remaining - step.removed, step.step);
      remaining = step.remaining;
    }
    assert.equal(remaining, kept.length);
    assert.deepEqual(JSON.parse(readFileSync(path.join(out, "funnel.json"), "utf8")), funnel);
    const hard = read(path.join(out, "hard_prompts.jsonl"));
    assert.equal(hard.length, funnel.hard_prompts);
    const keptPrompts = new Set(kept.map((r) => r.prompt_id));
    for (const h of hard) assert.ok(!keptPrompts.has(h.prompt_id) && h.candidates === 4);
  });

  it("is idempotent, and partitions give the same result as one pass in memory", async () => {
    const a = path.join(dir, "a");
    await filter({ in: generations, out: a, quiet: true });
    const first = ["kept.jsonl", "rejected.jsonl", "funnel.json"].map((f) =>
      readFileSync(path.join(a, f), "utf8"),
    );
    await filter({ in: generations, out: a, quiet: true });
    const second = ["kept.jsonl", "rejected.jsonl", "funnel.json"].map((f) =>
      readFileSync(path.join(a, f), "utf8"),
    );
    assert.deepEqual(second, first);
    assert.deepEqual(readdirSync(a).sort(), [
      "funnel.json",
      "hard_prompts.jsonl",
      "kept.jsonl",
      "rejected.jsonl",
    ]);

    const b = path.join(dir, "b");
    const funnel = await filter({ in: generations, out: b, partitionBytes: 16 * 1024, quiet: true });
    const sorted = (file: string) => read(file).map(key).sort();
    assert.deepEqual(sorted(path.join(b, "kept.jsonl")), sorted(path.join(a, "kept.jsonl")));
    assert.deepEqual(funnel, JSON.parse(first[2]));
  });

  it("applies the rejection-sampling policy per prompt", async () => {
    const perPrompt = (out: string) => {
      const counts = new Map<string, number>();
      for (const r of read(path.join(out, "kept.jsonl")))
        counts.set(r.prompt_id, (counts.get(r.prompt_id) ?? 0) + 1);
      return counts;
    };
    const first = path.join(dir, "first");
    await filter({ in: generations, out: first, policy: "first-correct", dedup: "none", quiet: true });
    const firstCounts = perPrompt(first);
    assert.ok([...firstCounts.values()].every((n) => n === 1));
    const all = path.join(dir, "allnodedup");
    await filter({ in: generations, out: all, dedup: "none", quiet: true });
    assert.equal(
      firstCounts.size,
      perPrompt(all).size,
      "first-correct keeps a row for every prompt with a correct one",
    );
    // the first correct is the lowest passing sample_index
    const allRows = read(path.join(all, "kept.jsonl"));
    for (const r of read(path.join(first, "kept.jsonl"))) {
      const lowest = Math.min(
        ...allRows.filter((x) => x.prompt_id === r.prompt_id).map((x) => x.sample_index),
      );
      assert.equal(r.sample_index, lowest);
    }
    const diverse = path.join(dir, "diverse");
    await filter({
      in: generations,
      out: diverse,
      policy: "k-diverse",
      maxPerPrompt: 2,
      dedup: "none",
      quiet: true,
    });
    const counts = [...perPrompt(diverse).values()];
    assert.ok(counts.every((n) => n <= 2) && counts.some((n) => n === 2));
  });

  it("removes every candidate of a held-out prompt and no other", async () => {
    await generate({
      prompts: "builtin:equations?split=test&count=20",
      teacher: "builtin:equations",
      samplesPerPrompt: 4,
      temperature: 0.8,
      out: path.join(dir, "test-gen"),
      quiet: true,
    });
    const mixed = path.join(dir, "mixed.jsonl");
    writeFileSync(
      mixed,
      readFileSync(generations, "utf8") + readFileSync(path.join(dir, "test-gen", "generations.jsonl")),
    );
    const out = path.join(dir, "decontaminated");
    const funnel = await filter({
      in: mixed,
      out,
      decontaminate: ["builtin:equations?split=test&count=400"],
      quiet: true,
    });
    assert.equal(funnel.contaminated_prompts, 20);
    assert.equal(funnel.failures.decontamination, 80);
    assert.ok(
      read(path.join(out, "kept.jsonl")).every(
        (r) => r.prompt_id.startsWith("eq-") && !r.source.includes("test"),
      ),
    );
  });
});

describe("distill filter on built-in general requests", () => {
  it("keeps only answers that are right for the prompt", async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), "filter-general-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    await generate({
      prompts: "builtin:general?count=50",
      teacher: "builtin:general",
      samplesPerPrompt: 4,
      temperature: 0.8,
      out: dir,
      quiet: true,
    });
    await filter({ in: path.join(dir, "generations.jsonl"), out: path.join(dir, "f"), quiet: true });
    const kept = read(path.join(dir, "f", "kept.jsonl"));
    assert.ok(kept.length > 20);
    for (const r of kept) assert.equal(r.answer, answerGeneral(r.prompt)!.answer);
    const slips = read(path.join(dir, "f", "rejected.jsonl")).filter((r) =>
      r.teacher_meta.injected.includes("arithmetic-slip"),
    );
    assert.ok(slips.length > 5 && slips.every((r) => r.checks.correctness.pass === false));
  });
});

describe("distill filter on bad input", () => {
  let dir: string;
  const good = {
    prompt_id: "eq-1",
    sample_index: 0,
    prompt: "Solve for x: 2x = 6",
    source: "builtin:equations",
    completion: "<think>\n2x = 6, so x = 3\n</think>\n<answer>x = 3</answer>",
    finish_reason: "stop",
  };
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "filter-bad-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const rejects = async (lines: string, pattern: RegExp) => {
    const file = path.join(dir, "in.jsonl");
    writeFileSync(file, lines);
    await assert.rejects(filter({ in: file, out: path.join(dir, "out"), quiet: true }), (err: Error) => {
      assert.ok(err instanceof UserError, err.stack);
      assert.match(err.message, pattern);
      return true;
    });
  };

  it("names the file, line and field, and leaves earlier outputs as they were", async () => {
    const file = path.join(dir, "in.jsonl");
    writeFileSync(file, `${JSON.stringify(good)}\n`);
    const out = path.join(dir, "out");
    await filter({ in: file, out, quiet: true });
    const before = readdirSync(out).map((f) => readFileSync(path.join(out, f), "utf8"));
    assert.equal(read(path.join(out, "kept.jsonl")).length, 1);

    await rejects(`${JSON.stringify(good)}\n\n{"prompt_id": "eq-2",\n`, /in\.jsonl:3: not valid JSON/);
    const { completion: _, ...noCompletion } = good;
    await rejects(
      `${JSON.stringify(good)}\n${JSON.stringify(noCompletion)}\n`,
      /in\.jsonl:2, field "completion": missing/,
    );
    await rejects(
      `${JSON.stringify({ ...good, sample_index: "0" })}\n`,
      /in\.jsonl:1, field "sample_index": must be/,
    );
    await rejects("[1, 2]\n", /in\.jsonl:1: expected a JSON object/);
    await rejects("", /in\.jsonl: empty file/);
    await rejects("\n\n", /in\.jsonl: no candidates/);
    await assert.rejects(
      filter({ in: path.join(dir, "nope.jsonl"), out, quiet: true }),
      /nope\.jsonl: file not found/,
    );

    assert.deepEqual(
      readdirSync(out).map((f) => readFileSync(path.join(out, f), "utf8")),
      before,
      "a failed run changes nothing already written",
    );
    assert.ok(!readdirSync(out).some((f) => f.startsWith(".filter-")), "no temporary files left");
    // a torn final line (a killed generate) is reported, not silently read
    writeFileSync(file, `${JSON.stringify(good)}\n`);
    appendFileSync(file, '{"prompt_id": "eq');
    await assert.rejects(filter({ in: file, out, quiet: true }), /in\.jsonl:2: not valid JSON/);
  });
});
