import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { evaluatedModels, headlineFunnel, runLayout, trainedModels } from "./runLayout.ts";

function touch(file: string, text = "{}\n"): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}

describe("run layout", () => {
  it("names every path of a run folder under it", () => {
    const l = runLayout("runs/eq");
    assert.equal(l.generations("equations"), path.join("runs/eq/generate/equations/generations.jsonl"));
    assert.equal(l.kept("general"), path.join("runs/eq/filter/general/kept.jsonl"));
    assert.equal(l.mix(), path.join("runs/eq/mix"));
    assert.equal(l.mix("base"), path.join("runs/eq/mix/base"));
    assert.equal(l.metrics("student"), path.join("runs/eq/models/student/metrics.jsonl"));
    assert.equal(l.evalResults("teacher"), path.join("runs/eq/eval/teacher/results.jsonl"));
    assert.equal(l.report, path.join("runs/eq/report.html"));
  });

  it("finds trained models (with metrics.jsonl), evaluated models, and the reasoning data's funnel", () => {
    const run = mkdtempSync(path.join(tmpdir(), "distill-layout-"));
    const l = runLayout(run);
    assert.deepEqual([trainedModels(run), evaluatedModels(run), headlineFunnel(run)], [[], [], null]);
    touch(l.metrics("student"));
    mkdirSync(l.model("half-copied"), { recursive: true }); // no metrics.jsonl: not a trained model
    touch(l.evalSummary("teacher"));
    touch(l.evalSummary("student"));
    touch(path.join(l.filter("general"), "funnel.json"));
    assert.equal(headlineFunnel(run), path.join(l.filter("general"), "funnel.json"));
    touch(path.join(l.filter("gsm8k"), "funnel.json"));
    assert.deepEqual(trainedModels(run), ["student"]);
    assert.deepEqual(evaluatedModels(run), ["student", "teacher"]);
    assert.equal(headlineFunnel(run), path.join(l.filter("gsm8k"), "funnel.json"));
    touch(path.join(run, "filter", "funnel.json"));
    assert.equal(headlineFunnel(run), path.join(run, "filter", "funnel.json"));
  });
});
