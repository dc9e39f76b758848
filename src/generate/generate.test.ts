import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { startReplayServer } from "../../test/support/replayServer.ts";
import { findEquation } from "../tasks/equations/find.ts";
import { UserError } from "../util/errors.ts";
import { checkLinearEquationAnswer } from "../verify/linear.ts";
import { type GenerationRecord, generate } from "./generate.ts";

const repo = path.resolve(import.meta.dirname, "../..");
const tmp = () => mkdtempSync(path.join(tmpdir(), "distill-gen-"));
const readLines = (file: string) =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe("distill generate", () => {
  it("writes 800 candidates for 200 prompts × 4, all conforming and right at temperature 0", async () => {
    const out = tmp();
    const summary = await generate({
      prompts: "builtin:equations",
      teacher: "builtin:equations",
      out,
      limit: 200,
      samplesPerPrompt: 4,
      temperature: 0,
      quiet: true,
    });
    assert.equal(summary.candidates, 800);
    const records: GenerationRecord[] = readLines(path.join(out, "generations.jsonl"));
    assert.equal(records.length, 800);
    assert.equal(new Set(records.map((r) => `${r.prompt_id}#${r.sample_index}`)).size, 800);
    for (const r of records) {
      assert.equal(r.conforms, true);
      assert.equal(checkLinearEquationAnswer(findEquation(r.prompt)!, r.answer ?? ""), true);
      for (const field of [
        "prompt_id",
        "sample_index",
        "prompt",
        "gold",
        "completion",
        "reasoning",
        "answer",
        "finish_reason",
        "usage",
        "latency_ms",
        "teacher",
        "params",
      ]) {
        assert.ok(field in r, `missing ${field}`);
      }
    }
  });

  it("resumes after SIGKILL with exactly one line per (prompt_id, sample_index)", async () => {
    const out = tmp();
    const file = path.join(out, "generations.jsonl");
    // 20,000 candidates, killed once 7% are on disk: the run lasts seconds, so a test runner starved
    // of CPU by the tests beside it still polls in time
    const total = 20_000;
    const args = [
      "--prompts",
      `builtin:equations?count=${total / 4}`,
      "--teacher",
      "builtin:equations",
      "--samples-per-prompt",
      "4",
      "--temperature",
      "0.8",
      "--out",
      out,
      "--quiet",
    ];
    const child = spawn(process.execPath, [path.join(repo, "bin/distill.js"), "generate", ...args], {
      stdio: "ignore",
    });
    // kill -9 once a good part (but not all) of the candidates is on disk
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        const size = statSync(file, { throwIfNoEntry: false })?.size ?? 0;
        if (size > 1_500_000) {
          clearInterval(timer);
          child.kill("SIGKILL");
          resolve();
        }
      }, 5);
      child.on("exit", () => {
        clearInterval(timer);
        reject(new Error("the run finished before it could be killed"));
      });
    });
    await new Promise((r) => child.once("exit", r));
    const before = readFileSync(file, "utf8").split("\n").filter(Boolean).length;
    assert.ok(before > 0 && before < total, `${before} lines before resume`);
    const summary = await generate({
      prompts: `builtin:equations?count=${total / 4}`,
      teacher: "builtin:equations",
      samplesPerPrompt: 4,
      temperature: 0.8,
      out,
      quiet: true,
    });
    const records: GenerationRecord[] = readLines(file);
    assert.equal(records.length, total);
    assert.equal(new Set(records.map((r) => `${r.prompt_id}#${r.sample_index}`)).size, total);
    assert.ok(summary.resumed >= before - 1, `resumed ${summary.resumed} of ${before}`);
  });

  it("retries retryable errors and records candidates that keep failing", async () => {
    const body = JSON.parse(
      readFileSync(path.join(repo, "test/fixtures/openai-chat-completion.json"), "utf8"),
    );
    const seen = new Map<string, number>();
    const server = await startReplayServer(({ body: req }) => {
      const prompt = JSON.stringify(req.messages) + req.seed;
      const attempt = (seen.get(prompt) ?? 0) + 1;
      seen.set(prompt, attempt);
      if (JSON.stringify(req.messages).includes("2x = 4"))
        return { status: 400, body: { error: { message: "bad" } } };
      if (attempt === 1)
        return { status: 429, headers: { "retry-after-ms": "5" }, body: { error: { message: "slow down" } } };
      if (attempt === 2) return { status: 200, body: "{ torn" };
      return { body };
    });
    try {
      const dir = tmp();
      const prompts = path.join(dir, "prompts.jsonl");
      writeFileSync(
        prompts,
        [
          '{"question": "Solve 3x + 5 = 20", "answer": "5"}',
          '{"question": "Solve 2x = 4", "answer": "2"}',
          "",
        ].join("\n"),
      );
      const out = path.join(dir, "run");
      const summary = await generate({
        prompts: `jsonl:${prompts}`,
        teacher: `openai:test@${server.baseURL}`,
        out,
        samplesPerPrompt: 3,
        retryBaseMs: 1,
        maxAttempts: 4,
        quiet: true,
      });
      assert.equal(summary.written, 3);
      assert.equal(summary.failed, 3);
      const records: GenerationRecord[] = readLines(path.join(out, "generations.jsonl"));
      assert.deepEqual(
        records.map((r) => r.attempts),
        [3, 3, 3],
      );
      assert.ok(records.every((r) => r.conforms && r.answer === "x = 5" && r.gold === "5"));
      const failed = readLines(path.join(out, "failed.jsonl"));
      assert.equal(failed.length, 3);
      assert.ok(failed.every((f) => f.status === 400 && f.retryable === false && f.attempts === 1));
      // 3 candidates × 3 attempts + 3 candidates × 1 attempt: nothing beyond what the records account for
      assert.equal(server.requests.length, 12);
    } finally {
      await server.close();
    }
  });

  it("refuses to resume with other settings, naming what changed", async () => {
    const out = tmp();
    const base = { prompts: "builtin:equations?count=5", teacher: "builtin:equations", out, quiet: true };
    await generate(base);
    await assert.rejects(
      generate({ ...base, temperature: 0.9 }),
      (e: unknown) => e instanceof UserError && /temperature 0.6 → 0.9/.test(e.message),
    );
  });

  it("names the file, line and field of bad input", async () => {
    const dir = tmp();
    const bad = path.join(dir, "bad.jsonl");
    writeFileSync(bad, '{"question": "ok"}\n{"question": \n');
    await assert.rejects(
      generate({ prompts: `jsonl:${bad}`, teacher: "builtin:general", out: dir, quiet: true }),
      /bad\.jsonl:2: not valid JSON/,
    );
    writeFileSync(bad, '{"question": "ok"}\n{"question": ""}\n');
    await assert.rejects(
      generate({ prompts: `jsonl:${bad}`, teacher: "builtin:general", out: dir, quiet: true }),
      /bad\.jsonl:2, field "question": missing or empty prompt/,
    );
    writeFileSync(bad, "");
    await assert.rejects(
      generate({ prompts: `jsonl:${bad}`, teacher: "builtin:general", out: dir, quiet: true }),
      /no prompts in file/,
    );
  });

  it("exits 2 with one clear line for a bad recipe", () => {
    const dir = tmp();
    const recipe = path.join(dir, "recipe.yaml");
    writeFileSync(
      recipe,
      `generate:\n  prompts: builtin:equations\n  teacher: builtin:equations\n  out: ${dir}/run\n  temperature: hot\n`,
    );
    const run = spawnSync(
      process.execPath,
      [path.join(repo, "bin/distill.js"), "generate", "--recipe", recipe],
      { encoding: "utf8" },
    );
    assert.equal(run.status, 2);
    assert.match(run.stderr, /recipe\.yaml:5, field "temperature": /);
    assert.doesNotMatch(run.stderr, /at .*\.ts:\d+/); // no stack trace
  });
});
