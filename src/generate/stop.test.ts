import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { mixedFaultRates as faultRates, startFaultServer } from "../../test/support/faultServer.ts";
import { readLines } from "../../test/support/readLines.ts";
import { lineCount, spawnGenerate, waitFor } from "../../test/support/spawnGenerate.ts";
import { seededRandom } from "../util/random.ts";
import { type FailureRecord, type GenerationRecord, generate } from "./generate.ts";

const tmp = () => mkdtempSync(path.join(tmpdir(), "distill-stop-"));
const keysOf = (rows: { prompt_id: string; sample_index: number }[]) =>
  rows.map((r) => `${r.prompt_id}#${r.sample_index}`);

describe("stopping generation", () => {
  it("SIGINT: no new requests, those in flight finish within the grace period and are written, exit 130", async () => {
    const server = await startFaultServer({ latencyMs: 300 });
    try {
      const out = tmp();
      const file = path.join(out, "generations.jsonl");
      const run = spawnGenerate([
        ...["--prompts", "builtin:equations?count=400", "--samples-per-prompt", "2"],
        ...["--teacher", `openai:slow@${server.baseURL}`, "--concurrency", "8", "--grace", "20"],
        ...["--out", out, "--quiet"],
      ]);
      await waitFor(() => lineCount(file) >= 16, run.child);
      const signalled = Date.now();
      run.child.kill("SIGINT");
      const code = await run.exited;
      const waited = Date.now() - signalled;
      assert.equal(code, 130, run.output.stderr);
      assert.ok(waited < 20_000, `exited ${waited} ms after SIGINT, past the 20 s grace`);
      const records = readLines<GenerationRecord>(file);
      // every response the server finished sending is on disk, and nothing else
      const answered = server.answered.map((k) => Number(k.split("|")[0])).sort();
      assert.deepEqual(records.map((r) => r.seed).sort(), answered);
      assert.ok(records.length < 800, "stopped early");
      assert.equal(new Set(keysOf(records)).size, records.length);
      assert.match(run.output.stderr, /stopped by SIGINT with \d+ candidates to go/);
      assert.match(run.output.stderr, /generate: \d+ candidates in /, "the summary was printed");
      const info = JSON.parse(readFileSync(path.join(out, "generate.json"), "utf8"));
      assert.equal(info.summary.stopped, "SIGINT");
      assert.equal(info.summary.written, records.length);
    } finally {
      await server.close();
    }
  });

  it("a second signal exits at once, without waiting for the grace period", async () => {
    const server = await startFaultServer({ latencyMs: 120_000 });
    try {
      const out = tmp();
      const run = spawnGenerate(
        [
          ...["--prompts", "builtin:equations?count=20", "--teacher", `openai:hung@${server.baseURL}`],
          ...["--concurrency", "4", "--grace", "120", "--out", out, "--quiet"],
        ],
        process.env,
        true,
      );
      await waitFor(() => server.requests >= 4, run.child);
      run.child.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 200));
      const signalled = Date.now();
      run.child.kill("SIGTERM");
      assert.equal(await run.exited, 143);
      assert.ok(Date.now() - signalled < 10_000);
    } finally {
      await server.close();
    }
  });

  it("killed with SIGKILL three times at random points and resumed: complete, nothing twice", async () => {
    const servers = await Promise.all([
      startFaultServer({ seed: 3, rates: faultRates, latencyMs: 2, stallMs: 2000, retryAfterSeconds: 0.2 }),
      startFaultServer({ seed: 4, rates: faultRates, latencyMs: 2, stallMs: 2000, retryAfterSeconds: 0.2 }),
    ]);
    const teacher = `openai:fault-test@${servers.map((s) => s.baseURL).join(",")}`;
    const settings = [
      "--prompts",
      "builtin:equations?count=250",
      "--samples-per-prompt",
      "4",
      "--teacher",
      teacher,
    ];
    try {
      const out = tmp();
      const file = path.join(out, "generations.jsonl");
      const random = seededRandom(7);
      for (let round = 0; round < 3; round++) {
        const before = lineCount(file);
        const run = spawnGenerate(
          [
            ...settings,
            ...["--endpoint-concurrency", "16", "--request-timeout", "0.3", "--out", out, "--quiet"],
          ],
          process.env,
          true,
        );
        const target = before + 50 + Math.floor(random() * 150); // somewhere 50–200 candidates further
        await waitFor(() => lineCount(file) >= target, run.child);
        run.child.kill("SIGKILL");
        await run.exited;
      }
      const killedAt = lineCount(file);
      assert.ok(killedAt < 1000, `${killedAt} lines after three kills`);
      const summary = await generate({
        prompts: "builtin:equations?count=250",
        samplesPerPrompt: 4,
        teacher,
        endpointConcurrency: 16,
        retryBaseMs: 2,
        requestTimeout: 0.3,
        out,
        quiet: true,
      });
      const records = readLines<GenerationRecord>(file);
      const failed = readLines<FailureRecord>(path.join(out, "failed.jsonl"));
      assert.equal(new Set(keysOf(records)).size, records.length, "nothing written twice");
      assert.equal(summary.candidates, records.length);
      assert.equal(summary.candidates + summary.failed, 1000, "complete: each candidate written or failed");
      assert.equal(new Set([...keysOf(records), ...keysOf(failed)]).size, 1000);
      assert.ok(summary.resumed >= killedAt - 3, `resumed ${summary.resumed} of ${killedAt}`);
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });

  it("the API key reaches no file the run writes, nor its output, even when errors echo the headers", async () => {
    const key = `sk-test-${Math.random().toString(36).slice(2)}${Date.now()}`;
    const server = await startFaultServer({
      seed: 5,
      echoHeaders: true,
      rates: { "400": 0.2, "500": 0.2, "429": 0.1, reset: 0.05, malformed: 0.05 },
    });
    try {
      const out = tmp();
      const run = spawnGenerate(
        [
          ...["--prompts", "builtin:equations?count=40", "--teacher", `openai:fault-test@${server.baseURL}`],
          ...["--api-key-env", "DISTILL_TEST_SECRET", "--max-attempts", "2", "--out", out],
        ],
        { ...process.env, DISTILL_TEST_SECRET: key },
      );
      assert.equal(await run.exited, 1, run.output.stderr); // some candidates failed
      const failed = readFileSync(path.join(out, "failed.jsonl"), "utf8");
      // the server did echo the header it was sent, so there was a key to leak
      assert.match(failed, /authorization/i);
      assert.match(failed, /\[redacted\]/);
      const files = readdirSync(out, { recursive: true, encoding: "utf8" })
        .map((f) => path.join(out, f))
        .filter((f) => statSync(f).isFile());
      assert.ok(files.length >= 3, files.join(", "));
      for (const f of files) assert.ok(!readFileSync(f, "utf8").includes(key), `the key is in ${f}`);
      assert.ok(!run.output.stdout.includes(key), "the key is in stdout");
      assert.ok(!run.output.stderr.includes(key), "the key is in stderr");
    } finally {
      await server.close();
    }
  });
});
