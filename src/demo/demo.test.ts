import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { formatExample, formatTable } from "./command.ts";
import { demo } from "./demo.ts";

/**
 * Every stage of the demo on tiny sizes: the plumbing between stages, the shape of summary.json and
 * the decontamination guarantee. How much the student learns is the benchmark's business (the full
 * and quick demos), not a unit test's.
 */
describe("distill demo (smoke size)", () => {
  it("runs generate → filter → mix → train ×3 → eval ×4 and writes summary.json", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "distill-demo-"));
    const summary = await demo({ out, size: "smoke" });
    const onDisk = JSON.parse(readFileSync(path.join(out, "summary.json"), "utf8"));
    assert.deepEqual(Object.keys(onDisk.models).sort(), [
      "base",
      "distilled",
      "distilled_unfiltered",
      "teacher",
    ]);
    for (const m of Object.values(summary.models)) {
      for (const key of ["accuracy", "format_rate", "mean_tokens", "n", "by_band"]) assert.ok(key in m, key);
      assert.deepEqual(Object.keys(m.by_band).sort(), ["one-step", "two-step"]);
      assert.equal(m.n, 12);
    }
    assert.equal(summary.models.teacher.accuracy, 1);
    assert.equal(summary.models.teacher.format_rate, 1);
    assert.ok(summary.funnel.candidates === 160 && summary.funnel.correctness < 160);
    for (const stage of [
      "generate",
      "filter",
      "mix",
      "train_base",
      "train_distilled",
      "train_distilled_unfiltered",
      "eval",
    ]) {
      assert.ok(summary.seconds[stage] >= 0, stage);
    }
    // no held-out prompt reached any training set
    const heldOut = new Set(
      readFileSync(path.join(out, "eval/teacher/results.jsonl"), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l).prompt),
    );
    for (const set of ["base", "distilled", "distilled_unfiltered"]) {
      const rows = readFileSync(path.join(out, "mix", set, "train.jsonl"), "utf8")
        .split("\n")
        .filter(Boolean);
      assert.ok(rows.length > 0);
      for (const row of rows) assert.ok(!heldOut.has(JSON.parse(row).messages[0].content));
    }
    assert.ok(existsSync(path.join(out, "models/distilled/model.safetensors")));
    assert.ok(existsSync(path.join(out, "report.html")));
    assert.match(formatTable(summary), /teacher\s+100\.0%/);
    assert.match(formatExample(summary), /worked example — Solve for x:/);
  });
});
