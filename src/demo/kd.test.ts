import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { formatKdTable } from "./command.ts";
import { kdExperiment } from "./kd.ts";

/**
 * `distill demo --kd` on tiny sizes: every step of the experiment and the shape of kd.json. What the
 * students learn is the full size's business (README), not a unit test's.
 */
describe("distill demo --kd (smoke size)", () => {
  it("trains a neural teacher, records its top-K, and trains students by SFT, KD and on-policy", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "distill-kd-demo-"));
    const summary = await kdExperiment({ out, size: "smoke" });
    assert.deepEqual(
      summary.rows.map((r) => r.model),
      ["sft_3k", "kd_3k", "sft_6k", "kd_6k", "on-policy_6k"],
    );
    for (const r of summary.rows) {
      assert.ok(r.tokens > 0 && r.accuracy >= 0 && r.accuracy <= 1, JSON.stringify(r));
      assert.deepEqual(Object.keys(r.byBand).sort(), ["one-step", "two-step"]);
    }
    // the KD students learned from the teacher's distributions, the SFT ones did not
    const trainJson = (m: string) =>
      JSON.parse(readFileSync(path.join(out, "models", m, "train.json"), "utf8"));
    assert.ok(trainJson("kd_3k").summary.teacher.tokens > 0);
    assert.equal(trainJson("sft_3k").summary.teacher, undefined);
    assert.ok(trainJson("on-policy_6k").summary.onPolicy.teacherCalls > 0);
    assert.ok(existsSync(path.join(out, "generate", "samples", "logprobs.jsonl")));
    assert.deepEqual(JSON.parse(readFileSync(path.join(out, "kd.json"), "utf8")).rows, summary.rows);
    const models = Object.keys(JSON.parse(readFileSync(path.join(out, "summary.json"), "utf8")).models);
    assert.deepEqual(models.sort(), ["kd_3k", "kd_6k", "on-policy_6k", "sft_3k", "sft_6k", "teacher"]);
    assert.ok(existsSync(path.join(out, "report.html")));
    assert.match(formatKdTable(summary), /on-policy_6k/);
  });
});
