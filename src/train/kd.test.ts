import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { copyWordsStudent, writeCopyWordsTask } from "../../test/support/copyWords.ts";
import { readLines } from "../../test/support/readLines.ts";
import { type GenerationRecord, generate } from "../generate/generate.ts";
import type { LogprobsRecord } from "../generate/logprobsFile.ts";
import { loadTokenizer } from "../tokenizer/tokenizer.ts";
import { tokenizeConversation } from "./data.ts";
import { attachTeacherLogprobs } from "./teacherLogprobs.ts";
import { train } from "./train.ts";

const tmp = () => mkdtempSync(path.join(tmpdir(), "distill-kd-"));
const metricsOf = (dir: string) => readLines<{ loss?: number }>(path.join(dir, "metrics.jsonl"));

describe("distill train --kd topk", () => {
  const dir = tmp();
  const task = writeCopyWordsTask(dir, 300);
  const teacherDir = path.join(dir, "teacher");
  const generated = path.join(dir, "generated");
  const kdRows = path.join(dir, "kd.jsonl");
  const student = {
    init: copyWordsStudent,
    tokenizer: teacherDir,
    context: 128,
    batchTokens: 512,
    epochs: 1,
    quiet: true,
  };
  // a teacher of the student's tokenizer (8 s), its samples with their top-4, and those samples as rows
  const ready = (async () => {
    const common = { context: 128, batchTokens: 1024, seed: 1, quiet: true, checkpointEvery: 0 };
    await train({
      ...common,
      data: task.train,
      init: copyWordsStudent,
      out: teacherDir,
      epochs: 20,
      lr: 3e-3,
    });
    await generate({
      prompts: `jsonl:${task.benchmark}`,
      teacher: teacherDir,
      samplesPerPrompt: 2,
      maxTokens: 40,
      temperature: 0.7,
      logprobs: 4,
      out: generated,
      quiet: true,
    });
    const rows = readLines<GenerationRecord>(path.join(generated, "generations.jsonl")).map((g) =>
      JSON.stringify({
        messages: [
          { role: "user", content: g.prompt },
          { role: "assistant", content: g.completion },
        ],
        prompt_id: g.prompt_id,
      }),
    );
    writeFileSync(kdRows, `${rows.join("\n")}\n`);
  })();

  it("matches every row to its sample and gives the teacher's top-K to its tokens", async () => {
    await ready;
    const out = path.join(dir, "kd");
    const s = await train({ ...student, data: kdRows, out, kd: "topk", teacherLogprobs: [generated] });
    const c = s.teacher!;
    assert.equal(c.k, 4);
    assert.equal(c.rows, c.totalRows);
    // each row's <|im_end|> is untaught (the teacher's stop token is not in its logprobs), and so is a token
    // the teacher split otherwise than the student's tokenizer does (sampled, not canonical, tokens)
    const most = c.totalTokens - c.totalRows;
    assert.ok(c.tokens <= most && c.tokens >= 0.9 * most, JSON.stringify(c));
    assert.ok(metricsOf(out).every((m) => m.loss === undefined || Number.isFinite(m.loss)));
    assert.deepEqual(JSON.parse(readFileSync(path.join(out, "train.json"), "utf8")).summary.teacher, c);
  });

  it("with --kd-alpha 1 it trains exactly as without --kd", async () => {
    await ready;
    await train({ ...student, data: kdRows, out: path.join(dir, "plain") });
    const alpha1 = { kd: "topk" as const, kdAlpha: 1, teacherLogprobs: [generated] };
    await train({ ...student, ...alpha1, data: kdRows, out: path.join(dir, "alpha1") });
    const losses = (d: string) => metricsOf(path.join(dir, d)).map((m) => m.loss);
    assert.deepEqual(losses("alpha1"), losses("plain"));
    const kd = losses("kd");
    assert.equal(kd.length, losses("plain").length);
    assert.notDeepEqual(kd, losses("plain"));
  });

  it("aligns a re-rendered row byte by byte: only the tokens around what changed lose the teacher", async () => {
    await ready;
    const tokenizer = loadTokenizer(teacherDir);
    const [line] = readLines<LogprobsRecord>(path.join(generated, "logprobs.jsonl"));
    const g = readLines<GenerationRecord>(path.join(generated, "generations.jsonl"))[0]!;
    const exact = { role: "assistant", content: g.completion };
    const changed = { role: "assistant", content: `${g.completion.slice(0, 10)}  ${g.completion.slice(10)}` };
    const rows = [exact, changed].map((a) => ({
      messages: [{ role: "user", content: g.prompt }, a],
      prompt_id: g.prompt_id,
    }));
    const examples = rows.map((r) => tokenizeConversation(r.messages, tokenizer));
    const file = path.join(dir, "one.jsonl");
    writeFileSync(file, `${JSON.stringify(line)}\n`);
    await attachTeacherLogprobs([file], rows, examples, tokenizer);
    const taught = examples.map((e) => e.teacher!.has.reduce((a, b) => a + b, 0));
    assert.equal(taught[0], line!.tokens.length);
    assert.ok(taught[1]! < taught[0]! && taught[1]! >= taught[0]! - 4, `${taught}`);
    // the first taught position holds the teacher's first alternatives, mapped to the student's ids
    const e = examples[0]!;
    const first = e.teacher!.has.indexOf(1);
    const expected = line!.top_tokens[0]!.map((t) => tokenizer.encode(t as string)[0]);
    assert.deepEqual([...e.teacher!.ids.subarray(first * 4, first * 4 + 4)], expected);
  });

  it("refuses side files no row matches, and teachers whose tokens the student's vocabulary lacks", async () => {
    await ready;
    const tokenizer = loadTokenizer(teacherDir);
    const g = readLines<GenerationRecord>(path.join(generated, "generations.jsonl"))[0]!;
    const rows = [
      {
        messages: [
          { role: "user", content: g.prompt },
          { role: "assistant", content: g.completion },
        ],
        prompt_id: g.prompt_id,
      },
    ];
    const examples = rows.map((r) => tokenizeConversation(r.messages, tokenizer));
    const file = path.join(dir, "other.jsonl");
    const words = g.completion.match(/\S+\s*/g)!; // whole words: tokens of another vocabulary
    const record = (id: string) => ({
      prompt_id: id,
      sample_index: 0,
      tokens: words,
      logprobs: words.map(() => -0.1),
      top_tokens: words.map((w) => [w]),
      top_logprobs: words.map(() => [-0.1]),
    });
    writeFileSync(file, `${JSON.stringify(record("elsewhere"))}\n`);
    await assert.rejects(
      attachTeacherLogprobs([file], rows, examples, tokenizer),
      /no training row matches a line of/,
    );
    writeFileSync(file, `${JSON.stringify(record(g.prompt_id))}\n`);
    await assert.rejects(
      attachTeacherLogprobs([file], rows, examples, tokenizer),
      /of the teacher's tokens in .* are tokens of the student's vocabulary: --kd topk needs a teacher and student that share a tokenizer/,
    );
  });
});
