import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { readLines } from "../../test/support/readLines.ts";
import { startReplayServer } from "../../test/support/replayServer.ts";
import { UserError } from "../util/errors.ts";
import { type EvaluatedRecord, evaluate, NothingScored } from "./evaluate.ts";

const repo = path.resolve(import.meta.dirname, "../..");
const tmp = () => mkdtempSync(path.join(tmpdir(), "distill-eval-"));

function runCli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(repo, "src/cli.ts"), ...args], {
    cwd: repo,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  return new Promise((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr })));
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Equations in a JSONL file whose fields are named otherwise than any default (`q`, `a`, `key`). */
function writeBenchmark(dir: string, withGold = true): string {
  const file = path.join(dir, "bench.jsonl");
  const items = [
    { key: "eq-a", q: "Solve for x: 3x + 5 = 20.", a: "5" },
    { key: "eq-b", q: "Solve for x: x/4 - 2 = 3.", a: "20" },
    { key: "eq-c", q: "Solve for x: 2x = -8.", a: "-4" },
  ];
  const line = ({ a, ...rest }: (typeof items)[number]) => JSON.stringify(withGold ? { ...rest, a } : rest);
  writeFileSync(file, `${items.map(line).join("\n")}\n`);
  return file;
}

describe("eval", () => {
  it("on a dead endpoint exits 3 saying why, and writes no score", async () => {
    const url = `http://127.0.0.1:${await closedPort()}/v1`;
    const out = path.join(tmp(), "eval");
    const run = await runCli([
      "eval",
      "--model",
      `openai:x@${url}`,
      "--benchmark",
      "builtin:equations?split=test&count=3",
      "--out",
      out,
    ]);
    assert.equal(run.status, 3, run.stderr);
    assert.ok(run.stderr.includes(`distill: cannot reach ${url}: ECONNREFUSED`), run.stderr);
    assert.match(run.stderr, /nothing was scored/);
    assert.doesNotMatch(run.stdout, /accuracy/);
    assert.equal(existsSync(path.join(out, "summary.json")), false);
  });

  it("when every request fails, refuses to score 0% and gives the causes", async () => {
    const server = await startReplayServer(() => ({
      status: 400,
      body: { error: { message: "bad model" } },
    }));
    try {
      const out = tmp();
      await assert.rejects(
        evaluate({
          model: `openai:x@${server.baseURL}`,
          benchmark: "builtin:equations?split=test&count=3",
          out,
          quiet: true,
        }),
        (err: Error) =>
          err instanceof NothingScored &&
          /all 3 requests failed \(HTTP 400 ×3\); see .*failed\.jsonl/.test(err.message),
      );
      assert.equal(existsSync(path.join(out, "summary.json")), false);
    } finally {
      await server.close();
    }
  });

  it("when some samples fail, scores the rest but says so and exits 1", async () => {
    const content = "<think>\nSubtract 5, divide by 3.\n</think>\n<answer>x = 5</answer>";
    const body = {
      id: "chatcmpl-1",
      object: "chat.completion",
      created: 0,
      model: "x",
      choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
      usage: { prompt_tokens: 20, completion_tokens: 12, total_tokens: 32 },
    };
    // every other request is refused outright (not retried): two of the three items fail
    const server = await startReplayServer((r) =>
      r.index % 2 === 0 ? { status: 400, body: { error: { message: "no" } } } : { body },
    );
    try {
      const dir = tmp();
      const out = path.join(dir, "eval");
      const bench = writeBenchmark(dir);
      const run = await runCli([
        "eval",
        "--model",
        `openai:x@${server.baseURL}`,
        "--benchmark",
        `jsonl:${bench}`,
        "--prompt-field",
        "q",
        "--answer-field",
        "a",
        "--concurrency",
        "1",
        "--out",
        out,
      ]);
      assert.equal(run.status, 1, run.stderr);
      assert.match(run.stdout, /n=1\n/);
      assert.ok(
        run.stderr.includes(`eval: 2 samples could not be generated (${path.join(out, "failed.jsonl")})`),
        run.stderr,
      );
      const summary = JSON.parse(readFileSync(path.join(out, "summary.json"), "utf8"));
      assert.equal(summary.missing, 2);
    } finally {
      await server.close();
    }
  });

  it("reads a jsonl benchmark through --prompt-field/--answer-field/--id-field and says where results went", async () => {
    const dir = tmp();
    const bench = writeBenchmark(dir);
    const out = path.join(dir, "eval");
    const run = await runCli([
      "eval",
      "--model",
      "builtin:equations",
      "--benchmark",
      `jsonl:${bench}`,
      "--prompt-field",
      "q",
      "--answer-field",
      "a",
      "--id-field",
      "key",
      "--out",
      out,
    ]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /accuracy 100\.0% .* n=3/);
    assert.equal(
      run.stdout.trim().split("\n").at(-1),
      `results in ${path.join(out, "results.jsonl")} and summary.json`,
    );
    const results = readLines<EvaluatedRecord>(path.join(out, "results.jsonl"));
    assert.deepEqual(
      results.map((r) => [r.prompt_id, r.gold, r.correct]),
      [
        ["eq-a", "5", true],
        ["eq-b", "20", true],
        ["eq-c", "-4", true],
      ],
    );
  });

  it("refuses a benchmark without gold answers before generating anything", async () => {
    const dir = tmp();
    const bench = writeBenchmark(dir, false);
    const out = path.join(dir, "eval");
    const run = await runCli([
      "eval",
      "--model",
      "builtin:equations",
      "--benchmark",
      `jsonl:${bench}`,
      "--prompt-field",
      "q",
      "--out",
      out,
    ]);
    assert.equal(run.status, 2);
    assert.match(
      run.stderr,
      /^distill: benchmark "jsonl:.*bench\.jsonl" has no gold answer for 3 of its 3 items \(the first: bench-1\).*--answer-field/,
    );
    assert.equal(existsSync(out), false, "nothing written");
  });

  it("with other settings in the same folder, offers only what eval can do", async () => {
    const out = tmp();
    const options = {
      model: "builtin:equations",
      benchmark: "builtin:equations?split=test&count=2",
      out,
      quiet: true,
    };
    await evaluate(options);
    await assert.rejects(
      evaluate({ ...options, temperature: 0.5 }),
      (err: Error) =>
        err instanceof UserError &&
        /use another --out/.test(err.message) &&
        !/--new-params/.test(err.message),
    );
  });

  it("never counts a sample with no answer as correct: a cut-off completion's last number is not an answer", async () => {
    const dir = tmp();
    const bench = writeBenchmark(dir);
    const out = path.join(dir, "eval");
    const options = {
      model: "builtin:equations",
      benchmark: `jsonl:${bench}`,
      promptField: "q",
      answerField: "a",
    };
    const s = await evaluate({ ...options, idField: "key", out, maxTokens: 12, quiet: true });
    const results = readLines<EvaluatedRecord>(path.join(out, "results.jsonl"));
    assert.equal(results.length, 3);
    for (const r of results) {
      assert.equal(r.finish_reason, "length");
      assert.equal(r.graded_answer, null);
      assert.equal(r.correct, false);
      assert.equal(r.grade_reason, "wrong answer: no answer given");
    }
    assert.equal(s.accuracy, 0);
    assert.ok(readFileSync(path.join(out, "summary.json"), "utf8").includes('"accuracy": 0'));
  });
});
