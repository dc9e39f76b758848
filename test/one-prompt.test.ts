/**
 * One student, three ways of reaching it, one score: a small trained student evaluated from its model
 * folder, through `distill serve` (as `openai:…@127.0.0.1`) and as an exported F32 GGUF in llama.cpp,
 * on the same 200 held-out items. Each is sent the prompt the student was trained on (the bare
 * problem), so accuracy and format agree within a point and folder and serve write the same greedy
 * completions.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { type EvaluatedRecord, evaluate } from "../src/evaluate/evaluate.ts";
import { exportModel } from "../src/export/export.ts";
import { readPromptRecord } from "../src/model/promptRecord.ts";
import { serve } from "../src/serve/serve.ts";
import { train } from "../src/train/train.ts";
import { copyWordsStudent, writeCopyWordsTask } from "./support/copyWords.ts";

const root = mkdtempSync(path.join(tmpdir(), "distill-one-prompt-"));
after(() => process.env.KEEP_TMP || rmSync(root, { recursive: true, force: true }));

test("a trained student scores the same from its folder, through distill serve and as GGUF", async () => {
  const { train: data, benchmark } = writeCopyWordsTask(root, 1000, 200);
  const student = path.join(root, "student");
  await train({
    data,
    init: copyWordsStudent,
    out: student,
    epochs: 25,
    lr: 3e-3,
    context: 128,
    batchTokens: 1024,
    seed: 1,
    quiet: true,
    checkpointEvery: 0,
  });
  assert.deepEqual(readPromptRecord(student), { instruction: "none" }, "trained on bare problems");
  await exportModel({ model: student, format: "gguf", dtype: "f32", out: path.join(root, "gguf") });
  const running = await serve({ model: student, name: "student", port: 0 });
  try {
    const score = (model: string, out: string) =>
      evaluate({
        model,
        benchmark: `jsonl:${benchmark}`,
        out: path.join(root, out),
        maxTokens: 32,
        concurrency: 8,
        quiet: true,
      });
    const folder = await score(student, "eval-folder");
    const served = await score(`openai:student@${running.url}`, "eval-serve");
    const gguf = await score(`gguf:${path.join(root, "gguf", "model.gguf")}`, "eval-gguf");
    const completions = (out: string) =>
      new Map(
        readFileSync(path.join(root, out, "results.jsonl"), "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as EvaluatedRecord)
          .map((r) => [r.prompt_id, r.completion]),
      );
    const same = (a: string, b: string) => {
      const [x, y] = [completions(a), completions(b)];
      return [...x].filter(([id, c]) => y.get(id) === c).length / x.size;
    };
    const figures = {
      accuracy: [folder.accuracy, served.accuracy, gguf.accuracy],
      format: [folder.format_rate, served.format_rate, gguf.format_rate],
      identical_folder_serve: same("eval-folder", "eval-serve"),
      identical_folder_gguf: same("eval-folder", "eval-gguf"),
      seconds: [folder.seconds, served.seconds, gguf.seconds],
    };
    console.log(`folder / serve / GGUF F32 on 200 held-out items: ${JSON.stringify(figures)}`);
    for (const s of [folder, served, gguf]) {
      assert.equal(s.n, 200);
      assert.equal(s.instruction, "none", `${s.model}: prompted as trained`);
    }
    assert.ok(folder.accuracy >= 0.6, "the student has learned the task");
    for (const s of [served, gguf]) {
      assert.ok(Math.abs(s.accuracy - folder.accuracy) <= 0.01 + 1e-9, JSON.stringify(figures));
      assert.ok(Math.abs(s.format_rate - folder.format_rate) <= 0.01 + 1e-9, JSON.stringify(figures));
    }
    assert.ok(figures.identical_folder_serve >= 0.95, JSON.stringify(figures));
  } finally {
    await running.close();
  }
});
