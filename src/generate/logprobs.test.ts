import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { startLogprobsServer } from "../../test/support/logprobsServer.ts";
import { readLines } from "../../test/support/readLines.ts";
import { lineCount, spawnGenerate, waitFor } from "../../test/support/spawnGenerate.ts";
import { merge } from "../merge/merge.ts";
import { seededRandom } from "../util/random.ts";
import { type GenerationRecord, generate } from "./generate.ts";
import { alignLogprobsFile, type LogprobsRecord, type TokenRef } from "./logprobsFile.ts";
import { candidateKey } from "./plan.ts";

const tmp = () => mkdtempSync(path.join(tmpdir(), "distill-logprobs-"));
const keyOf = (r: { prompt_id: string; sample_index: number }) => candidateKey(r.prompt_id, r.sample_index);
const bytesOf = (t: TokenRef): number[] =>
  typeof t === "string" ? [...Buffer.from(t)] : "bytes" in t ? t.bytes : assert.fail("an id, not text");

/** Every generation has exactly one side line, in the same order, whose tokens spell its completion. */
function assertAligned(out: string, k: number): { generations: GenerationRecord[]; side: LogprobsRecord[] } {
  const generations = readLines<GenerationRecord>(path.join(out, "generations.jsonl"));
  const side = readLines<LogprobsRecord>(path.join(out, "logprobs.jsonl"));
  assert.deepEqual(side.map(keyOf), generations.map(keyOf), "one side line per generation, in order");
  for (const [i, g] of generations.entries()) {
    const s = side[i];
    assert.equal(Buffer.from(s.tokens.flatMap(bytesOf)).toString("utf8"), g.completion);
    assert.equal(s.logprobs.length, s.tokens.length);
    assert.ok(s.top_tokens.every((top) => top.length === k));
    assert.ok(s.top_logprobs.every((top, t) => top[0] === s.logprobs[t] && top.every((lp) => lp! <= 0)));
  }
  return { generations, side };
}

describe("distill generate --logprobs", () => {
  for (const stream of [false, true]) {
    it(`records the top-K side file from a vLLM-shaped endpoint${stream ? ", streamed" : ""}`, async () => {
      const server = await startLogprobsServer();
      try {
        const out = tmp();
        const summary = await generate({
          prompts: "builtin:equations?count=6",
          teacher: `openai:m@${server.baseURL}`,
          samplesPerPrompt: 2,
          logprobs: 5,
          stream,
          out,
          quiet: true,
        });
        assert.equal(summary.logprobsFile, path.join(out, "logprobs.jsonl"));
        assert.ok(server.bodies.every((b) => b.logprobs === true && b.top_logprobs === 5));
        const { side } = assertAligned(out, 5);
        assert.equal(side.length, 12);
        // the split "é": two byte tokens, kept as their bytes
        assert.ok(side[0].tokens.some((t) => typeof t === "object" && "bytes" in t && t.bytes[0] === 0xc3));
      } finally {
        await server.close();
      }
    });
  }

  it("keeps vLLM's token_id:N tokens as ids", async () => {
    const server = await startLogprobsServer({ tokenIds: true });
    try {
      const out = tmp();
      await generate({
        prompts: "builtin:equations?count=2",
        teacher: `openai:m@${server.baseURL}`,
        samplesPerPrompt: 1,
        logprobs: 3,
        out,
        quiet: true,
      });
      const [first] = readLines<LogprobsRecord>(path.join(out, "logprobs.jsonl"));
      assert.deepEqual(first.tokens.slice(0, 2), [{ id: 1000 }, { id: 1001 }]);
      assert.deepEqual(first.top_tokens[0], [{ id: 1000 }, { id: 1 }, { id: 2 }]);
    } finally {
      await server.close();
    }
  });

  it("an endpoint that returns no logprobs ends the run with one message and writes no candidate", async () => {
    const server = await startLogprobsServer({ withoutLogprobs: true });
    try {
      const out = tmp();
      await assert.rejects(
        generate({
          prompts: "builtin:equations?count=20",
          teacher: `openai:m@${server.baseURL}`,
          logprobs: 5,
          out,
          quiet: true,
        }),
        /--logprobs: the teacher openai:m@\S+ does not return log-probabilities \(its answers carry none\)/,
      );
      assert.equal(lineCount(path.join(out, "generations.jsonl")), 0);
      assert.ok(server.bodies.length <= 8, `${server.bodies.length} requests: the run stopped at the first`);
    } finally {
      await server.close();
    }
  });

  it("a teacher that gives none is refused before anything is written", async () => {
    const out = path.join(tmp(), "run");
    await assert.rejects(
      generate({
        prompts: "builtin:equations?count=2",
        teacher: "builtin:equations",
        logprobs: 5,
        out,
        quiet: true,
      }),
      /--logprobs: the teacher builtin:equations gives no log-probabilities/,
    );
    assert.equal(existsSync(out), false);
  });

  it("resuming drops side lines a kill left without their generation, a second line of a key, a torn tail", async () => {
    const dir = tmp();
    const file = path.join(dir, "logprobs.jsonl");
    const line = (id: string, i: number) =>
      JSON.stringify({
        prompt_id: id,
        sample_index: i,
        tokens: ["a"],
        logprobs: [-0.1],
        top_tokens: [[]],
        top_logprobs: [[]],
      });
    writeFileSync(
      file,
      `${[line("p1", 0), line("p2", 0), line("p1", 0), line("p3", 0)].join("\n")}\n{"prompt_id":"p4`,
    );
    const generated = new Set([candidateKey("p1", 0), candidateKey("p2", 0), candidateKey("p5", 0)]);
    assert.deepEqual(await alignLogprobsFile(file, generated), { dropped: 2, missing: 1 });
    assert.equal(readFileSync(file, "utf8"), `${line("p1", 0)}\n${line("p2", 0)}\n`);
    assert.deepEqual(await alignLogprobsFile(file, generated), { dropped: 0, missing: 1 });
  });

  it("killed with SIGKILL three times and resumed: the side file stays aligned with generations.jsonl", async () => {
    const server = await startLogprobsServer({ latencyMs: 3 });
    const args = [
      ...["--prompts", "builtin:equations?count=150", "--samples-per-prompt", "2", "--logprobs", "5"],
      ...["--teacher", `openai:m@${server.baseURL}`, "--concurrency", "16"],
    ];
    try {
      const out = tmp();
      const file = path.join(out, "generations.jsonl");
      const random = seededRandom(11);
      for (let round = 0; round < 3; round++) {
        const run = spawnGenerate([...args, "--out", out, "--quiet"], process.env, true);
        const target = lineCount(file) + 20 + Math.floor(random() * 60);
        await waitFor(() => lineCount(file) >= target, run.child);
        run.child.kill("SIGKILL");
        await run.exited;
      }
      assert.ok(lineCount(file) < 300);
      const resumed = spawnGenerate([...args, "--out", out, "--quiet"], process.env, true);
      assert.equal(await resumed.exited, 0, resumed.output.stderr);
      const { generations } = assertAligned(out, 5);
      assert.equal(new Set(generations.map(keyOf)).size, 300);
    } finally {
      await server.close();
    }
  });

  it("resuming with another --logprobs is a changed setting", async () => {
    const server = await startLogprobsServer();
    try {
      const out = tmp();
      const options = {
        prompts: "builtin:equations?count=2",
        teacher: `openai:m@${server.baseURL}`,
        out,
        quiet: true,
      };
      await generate({ ...options, logprobs: 5 });
      await assert.rejects(generate({ ...options, logprobs: 20 }), /logprobs 5 → 20/);
      await assert.rejects(generate(options), /logprobs 5 → \(none\)/);
    } finally {
      await server.close();
    }
  });

  it("distill merge joins the shards' side files, leaving out lines a killed shard did not write", async () => {
    const server = await startLogprobsServer();
    try {
      const root = tmp();
      const teacher = `openai:m@${server.baseURL}`;
      const dirs = ["1/2", "2/2"].map((shard) => path.join(root, shard.replace("/", "of")));
      for (const [i, out] of dirs.entries())
        await generate({
          prompts: "builtin:equations?count=10",
          teacher,
          logprobs: 2,
          shard: `${i + 1}/2`,
          out,
          quiet: true,
        });
      // as a kill leaves it: a side line whose generation never reached the disk
      const orphan = {
        prompt_id: "not-written",
        sample_index: 0,
        tokens: [],
        logprobs: [],
        top_tokens: [],
        top_logprobs: [],
      };
      writeFileSync(path.join(dirs[0], "logprobs.jsonl"), `${JSON.stringify(orphan)}\n`, { flag: "a" });
      const out = path.join(root, "merged");
      const summary = await merge({ in: dirs, out });
      const generations = readLines<GenerationRecord>(path.join(out, "generations.jsonl"));
      const side = readLines<LogprobsRecord>(path.join(out, "logprobs.jsonl"));
      assert.equal(summary.candidates, 40);
      assert.deepEqual(new Set(side.map(keyOf)), new Set(generations.map(keyOf)));
      assert.equal(side.length, 40);
    } finally {
      await server.close();
    }
  });
});
