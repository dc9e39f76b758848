import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadPrompts } from "../tasks/sources.ts";
import { buildDecontaminationIndex, canonicalEquation } from "./decontaminate.ts";
import { Deduplicator } from "./dedup.ts";
import { bandRows, estimateJaccard, minhashSignature, shingleHashes } from "./minhash.ts";
import { jaccard, selectCandidates } from "./policy.ts";
import { NumberTable } from "./table.ts";
import { hash53 } from "./text.ts";

const sentence = (i: number) => `step ${i} moves the term number ${i * 7} across and keeps both sides equal`;
const base = Array.from({ length: 40 }, (_, i) => sentence(i)).join(". ");

describe("MinHash", () => {
  it("estimates Jaccard similarity of word shingles", () => {
    const options = { numPerm: 256, shingle: 3 };
    // change every 4th sentence: true Jaccard of the shingle sets, then the estimate
    const edited = base
      .split(". ")
      .map((s, i) => (i % 4 === 0 ? `${s} slightly differently` : s))
      .join(". ");
    const a = new Set(shingleHashes(base, 3));
    const b = new Set(shingleHashes(edited, 3));
    const both = [...a].filter((x) => b.has(x)).length;
    const truth = both / (a.size + b.size - both);
    const estimate = estimateJaccard(minhashSignature(base, options), minhashSignature(edited, options));
    assert.ok(truth > 0.6 && truth < 0.95, `truth ${truth}`);
    assert.ok(Math.abs(estimate - truth) < 0.08, `estimate ${estimate} vs ${truth}`);
    assert.equal(estimateJaccard(minhashSignature(base, options), minhashSignature(base, options)), 1);
  });

  it("chooses bands whose S-curve sits near the threshold", () => {
    for (const t of [0.5, 0.7, 0.8, 0.9]) {
      const r = bandRows(64, t);
      const b = Math.floor(64 / r);
      assert.ok(Math.abs((1 / b) ** (1 / r) - t) < 0.12, `threshold ${t}: ${b} bands × ${r}`);
    }
  });
});

describe("NumberTable", () => {
  it("maps 53-bit keys to values through growth, 0 included", () => {
    const table = new NumberTable(4);
    const reference = new Map<number, number>();
    for (let i = 0; i < 5000; i++) {
      const key = i === 0 ? 0 : hash53(`key ${i % 3000}`);
      table.set(key, i);
      reference.set(key, i);
    }
    assert.equal(table.size, reference.size);
    for (const [key, value] of reference) assert.equal(table.get(key), value);
    assert.equal(table.get(hash53("absent")), undefined);
    assert.equal(table.has(0), true);
  });
});

describe("Deduplicator", () => {
  const options = { threshold: 0.8, numPerm: 64, shingle: 3, minWords: 8 };

  it("finds exact duplicates after normalisation, from other owners only", () => {
    const d = new Deduplicator(options);
    assert.equal(d.check("Solve for x: 3x + 5 = 20", "a"), null);
    assert.equal(d.check("Solve for x: 3x + 5 = 20", "a"), null); // the same prompt's own candidates
    assert.deepEqual(d.check("solve FOR x:  3x + 5 = 20.", "b"), { kind: "exact" });
    // operators and signs are part of the problem
    assert.equal(d.check("Solve for x: 3x - 5 = 20", "c"), null);
  });

  it("finds near-duplicates above the threshold and not below; short texts only exactly", () => {
    const d = new Deduplicator(options);
    assert.equal(d.check(base, "a"), null);
    const oneSentenceChanged = base.replace(sentence(3), "an entirely new remark about the weather");
    assert.deepEqual(d.check(oneSentenceChanged, "b"), { kind: "near" });
    const half = Array.from({ length: 40 }, (_, i) =>
      i % 2 ? sentence(i) : `other words ${i} here now`,
    ).join(". ");
    assert.equal(d.check(half, "c"), null);
    // templated short prompts differ in their numbers only: different problems
    assert.equal(d.check("Solve for x: 3x + 5 = 21", "d"), null);
    assert.equal(d.check("Solve for x: 3x + 5 = 22", "e"), null);
    const exactOnly = new Deduplicator({ ...options, threshold: 1 });
    assert.equal(exactOnly.check(base, "a"), null);
    assert.equal(exactOnly.check(oneSentenceChanged, "b"), null);
  });
});

describe("rejection-sampling policies", () => {
  const candidates = [
    { sampleIndex: 3, text: "alpha beta gamma delta epsilon" },
    { sampleIndex: 1, text: "a much longer response that goes on and on about the same thing" },
    { sampleIndex: 2, text: "short one" },
    { sampleIndex: 0, text: "a much longer response that goes on and on about the same thing again" },
  ];
  it("all-correct, capped", () => {
    assert.deepEqual(selectCandidates(candidates, "all-correct"), [3, 1, 2, 0]);
    assert.deepEqual(selectCandidates(candidates, "all-correct", 2), [3, 1]);
  });
  it("first-correct and shortest-correct", () => {
    assert.deepEqual(selectCandidates(candidates, "first-correct"), [3]);
    assert.deepEqual(selectCandidates(candidates, "shortest-correct"), [2]);
  });
  it("k-diverse picks the most dissimilar, not the near-copy", () => {
    const picked = selectCandidates(candidates, "k-diverse", 2);
    assert.equal(picked.length, 2);
    assert.ok(picked.includes(3)); // the first (sample 0) is always in
    assert.ok(!picked.includes(1), "sample 1 nearly copies sample 0");
    assert.deepEqual(selectCandidates(candidates, "k-diverse", 10).length, 4);
    assert.deepEqual(selectCandidates([], "k-diverse", 2), []);
    assert.equal(jaccard(new Set(["a"]), new Set(["a"])), 1);
  });
});

describe("decontamination", () => {
  it("proves the built-in train and test splits disjoint and finds every test item", async () => {
    const index = await buildDecontaminationIndex(["builtin:equations?split=test&count=400"]);
    const train = await loadPrompts("builtin:equations?split=train&count=3000");
    assert.deepEqual(
      train.filter((p) => index.match(p.prompt)),
      [],
    );
    const test = await loadPrompts("builtin:equations?split=test&count=400");
    for (const p of test) assert.ok(index.match(p.prompt), p.prompt);
    // a held-out equation reworded around is still caught by its canonical form
    const [eq] = test.map((p) => p.prompt.replace("Solve for x: ", ""));
    const hit = index.match(`Find the value of x such that ${eq.replace(/ /g, "")}.`);
    assert.match(hit?.how ?? "", /same equation/);
    assert.equal(canonicalEquation("3 * x + 5 = 20"), "3x+5=20");
  });

  it("13-grams for long items, the whole item for short ones, operators kept", async (t) => {
    const file = `${process.env.TMPDIR ?? "/tmp"}/decontam-${process.pid}.jsonl`;
    const { writeFileSync, rmSync } = await import("node:fs");
    writeFileSync(
      file,
      [
        {
          question:
            "Janet has 16 ducks that lay eggs every single morning and she sells the rest at the market",
        },
        { question: "Compute 3 - 4 * 5" },
      ]
        .map((r) => JSON.stringify(r))
        .join("\n"),
    );
    t.after(() => rmSync(file, { force: true }));
    const index = await buildDecontaminationIndex([`jsonl:${file}`], 13);
    const long = index.match(
      "Story: janet has 16 ducks that lay eggs every single morning and she sells them.",
    );
    assert.match(long?.how ?? "", /13-gram/);
    assert.equal(index.match("Janet has 16 ducks that lay eggs every single morning."), null); // 12 tokens shared
    assert.match(index.match("First, compute 3 - 4 * 5 exactly.")?.how ?? "", /whole item/);
    assert.equal(index.match("First, compute 3 + 4 * 5 exactly."), null);
  });
});
