import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { copyWordsStudent, writeCopyWordsTask } from "../../test/support/copyWords.ts";
import { readLines } from "../../test/support/readLines.ts";
import { serve } from "../serve/serve.ts";
import { train } from "./train.ts";

interface Row {
  kind: string;
  loss: number;
  teacher_logprob?: number;
  teacher_calls?: number;
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe("distill train --on-policy", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "distill-onpolicy-"));
  const task = writeCopyWordsTask(dir, 300);
  const prompts = path.join(dir, "prompts.jsonl");
  const teacherDir = path.join(dir, "teacher");
  const weakDir = path.join(dir, "weak");
  const metricsOf = (name: string) => readLines<Row>(path.join(dir, name, "metrics.jsonl"));
  // a teacher that copies words (20 epochs, 8 s) and a student of its tokenizer that barely does (3)
  const ready = (async () => {
    const rows = readLines<{ messages: { content: string }[] }>(task.train);
    const lines = rows.map((r, i) => JSON.stringify({ id: `p${i}`, prompt: r.messages[0]!.content }));
    writeFileSync(prompts, `${lines.join("\n")}\n`);
    const common = {
      data: task.train,
      init: copyWordsStudent,
      context: 128,
      batchTokens: 1024,
      seed: 1,
      quiet: true,
      checkpointEvery: 0,
    };
    await train({ ...common, out: teacherDir, epochs: 20, lr: 3e-3 });
    await train({ ...common, out: weakDir, tokenizer: teacherDir, epochs: 3, lr: 3e-3 });
  })();
  const onPolicy = {
    init: weakDir,
    onPolicy: true,
    teacher: teacherDir,
    prompts: `jsonl:${prompts}`,
    promptsPerStep: 8,
    maxTokens: 32,
    lr: 1e-3,
    context: 128,
    quiet: true,
  };

  it("the student's reverse KL falls and the teacher rates its tokens higher", async () => {
    await ready;
    const s = await train({ ...onPolicy, out: path.join(dir, "op"), maxSteps: 30 });
    const rows = metricsOf("op");
    assert.equal(rows.length, 30);
    assert.ok(rows.every((r) => r.kind === "on-policy" && r.teacher_calls === 8));
    // measured: reverse KL 1.87 → 0.85, the teacher's log-probability of the student's tokens −6.7 → −3.4
    const [first, last] = [rows.slice(0, 5), rows.slice(-5)];
    assert.ok(mean(last.map((r) => r.loss)) < 0.8 * mean(first.map((r) => r.loss)), "reverse KL falls");
    assert.ok(mean(last.map((r) => r.teacher_logprob!)) > mean(first.map((r) => r.teacher_logprob!)) + 0.5);
    assert.equal(s.onPolicy!.teacherCalls, 240);
    assert.equal(
      JSON.parse(readFileSync(path.join(dir, "op", "train.json"), "utf8")).summary.onPolicy.teacherCalls,
      240,
    );
  });

  it("resumes exactly: 4 steps, then 4 more from the checkpoint, equal 8 at once", async () => {
    await ready;
    await train({ ...onPolicy, out: path.join(dir, "straight"), maxSteps: 8 });
    await train({ ...onPolicy, out: path.join(dir, "resumed"), maxSteps: 4 });
    await train({ ...onPolicy, out: path.join(dir, "resumed"), maxSteps: 8, resume: true });
    const losses = (name: string) => metricsOf(name).map((r) => [r.loss, r.teacher_logprob]);
    assert.deepEqual(losses("resumed"), losses("straight"));
  });

  it("scores through distill serve as an openai: teacher, as it would through vLLM", async () => {
    await ready;
    const server = await serve({ model: teacherDir, name: "teacher", port: 0 });
    try {
      await train({
        ...onPolicy,
        out: path.join(dir, "served"),
        teacher: `openai:teacher@${server.url}`,
        maxSteps: 2,
      });
    } finally {
      await server.close();
    }
    const [served, local] = [metricsOf("served"), metricsOf("straight").slice(0, 2)];
    // the student's tokens get the same log-probabilities; alternatives keyed by text may merge two
    for (const [i, r] of served.entries()) {
      assert.ok(Math.abs(r.teacher_logprob! - local[i]!.teacher_logprob!) < 1e-5, `step ${i + 1}`);
      assert.ok(
        Math.abs(r.loss - local[i]!.loss) < 0.02 * local[i]!.loss,
        `step ${i + 1}: ${r.loss} vs ${local[i]!.loss}`,
      );
    }
  });

  it("mixes supervised steps on --data at the share --on-policy-share leaves", async () => {
    await ready;
    await train({
      ...onPolicy,
      out: path.join(dir, "mixed"),
      data: task.train,
      onPolicyShare: 0.5,
      batchTokens: 512,
      maxSteps: 6,
    });
    assert.deepEqual(
      metricsOf("mixed").map((r) => r.kind),
      ["on-policy", "supervised", "on-policy", "supervised", "on-policy", "supervised"],
    );
  });

  it("refuses a teacher that cannot score, a new student, and a run without prompts", async () => {
    await ready;
    const out = path.join(dir, "refused");
    await assert.rejects(
      train({ ...onPolicy, out, teacher: "builtin:equations" }),
      /cannot score the student's tokens/,
    );
    await assert.rejects(
      train({ ...onPolicy, out, init: copyWordsStudent }),
      /starts from a student that already writes/,
    );
    await assert.rejects(train({ ...onPolicy, out, prompts: undefined }), /--on-policy needs --prompts/);
  });
});
