import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { type GenerationRecord, generate } from "../generate/generate.ts";
import { loadPrompts } from "../tasks/sources.ts";
import { UserError } from "../util/errors.ts";
import { merge } from "./merge.ts";

const tmp = () => mkdtempSync(path.join(tmpdir(), "distill-merge-"));
const readLines = <T>(file: string): T[] =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);

describe("shards and distill merge", () => {
  const settings = {
    prompts: "builtin:equations?count=60",
    teacher: "builtin:equations",
    samplesPerPrompt: 2,
    temperature: 0.7,
    quiet: true,
  };
  const shardRuns = async (root: string, shards: string[], extra: Record<string, unknown> = {}) => {
    const dirs: string[] = [];
    for (const shard of shards) {
      const out = path.join(root, shard.replace("/", "of"));
      await generate({ ...settings, ...extra, shard, out });
      dirs.push(out);
    }
    return dirs;
  };

  it("--shard i/n splits prompts disjointly by id, and a prompt keeps its shard when the list grows", async () => {
    const root = tmp();
    const dirs = await shardRuns(root, ["1/3", "2/3", "3/3"]);
    const ids = dirs.map(
      (d) => new Set(readLines<GenerationRecord>(path.join(d, "generations.jsonl")).map((r) => r.prompt_id)),
    );
    const all = (await loadPrompts(settings.prompts)).map((p) => p.id);
    assert.equal(
      ids.reduce((sum, s) => sum + s.size, 0),
      60,
      "disjoint",
    );
    assert.deepEqual([...new Set(ids.flatMap((s) => [...s]))].sort(), [...all].sort(), "complete");
    assert.ok(
      ids.every((s) => s.size > 10),
      "each shard a fair part",
    );

    // the same prompts in a longer file: every prompt stays in its shard
    const file = path.join(root, "prompts.jsonl");
    const lines = (n: number) =>
      Array.from({ length: n }, (_, i) =>
        JSON.stringify({ id: `q${i}`, question: `Solve for x: x + ${i} = ${2 * i}` }),
      );
    writeFileSync(file, `${lines(30).join("\n")}\n`);
    const small = await generate({
      prompts: `jsonl:${file}`,
      teacher: "builtin:equations",
      shard: "2/3",
      out: path.join(root, "s"),
      samplesPerPrompt: 1,
      quiet: true,
    });
    writeFileSync(file, `${lines(45).join("\n")}\n`);
    const large = await generate({
      prompts: `jsonl:${file}`,
      teacher: "builtin:equations",
      shard: "2/3",
      out: path.join(root, "l"),
      samplesPerPrompt: 1,
      quiet: true,
    });
    const idsIn = (s: { file: string }) => readLines<GenerationRecord>(s.file).map((r) => r.prompt_id);
    assert.ok(idsIn(small).length > 0);
    assert.ok(idsIn(small).every((id) => idsIn(large).includes(id)));
    assert.ok(idsIn(large).length > idsIn(small).length);
  });

  it("merges complete shards into a folder that resumes as one run, with no gaps", async () => {
    const root = tmp();
    const dirs = await shardRuns(root, ["1/3", "2/3", "3/3"]);
    const out = path.join(root, "merged");
    const summary = await merge({ in: dirs, out });
    assert.equal(summary.candidates, 120);
    assert.equal(summary.expected, 120);
    assert.equal(summary.gaps, 0);
    assert.deepEqual(summary.missingShards, []);
    const records = readLines<GenerationRecord>(path.join(out, "generations.jsonl"));
    assert.equal(new Set(records.map((r) => `${r.prompt_id}#${r.sample_index}`)).size, 120);
    // the merged folder is an unsharded run of the same settings: nothing left to do
    const again = await generate({ ...settings, out });
    assert.equal(again.resumed, 120);
    assert.equal(again.written, 0);
  });

  it("reports a missing shard's prompts as gaps, which a generate run on the merged folder fills", async () => {
    const root = tmp();
    const dirs = await shardRuns(root, ["1/3", "3/3"]);
    const out = path.join(root, "merged");
    const summary = await merge({ in: dirs, out });
    assert.deepEqual(summary.missingShards, ["2/3"]);
    const gaps = readLines<{ prompt_id: string; missing: number[] }>(path.join(out, "gaps.jsonl"));
    assert.equal(summary.gaps, gaps.length);
    assert.equal(summary.candidates + gaps.length * 2, 120);
    assert.ok(gaps.every((g) => g.missing.length === 2));
    const filled = await generate({ ...settings, out });
    assert.equal(filled.written, gaps.length * 2);
    assert.equal(filled.candidates, 120);
  });

  it("refuses shards of other settings, of other splits, given twice, or overlapping", async () => {
    const root = tmp();
    const [a] = await shardRuns(root, ["1/2"]);
    const [hot] = await shardRuns(path.join(root, "hot"), ["2/2"], { temperature: 0.9 });
    const [third] = await shardRuns(root, ["1/3"]);
    const refused = (dirs: string[], pattern: RegExp) =>
      assert.rejects(
        merge({ in: dirs, out: tmp() }),
        (e: unknown) => e instanceof UserError && pattern.test(e.message),
      );
    await refused([a, hot], /other settings .*temperature 0\.7 → 0\.9/);
    await refused([a, third], /shard 1\/3, but .* is 1\/2: shards of different splits/);
    await refused([a, a], /shard 1\/2 given twice/);
    // two unsharded runs of the same prompts overlap
    const x = path.join(root, "x");
    const y = path.join(root, "y");
    await generate({ ...settings, out: x });
    await generate({ ...settings, out: y });
    await refused([x, y], /given twice/);
    await refused([path.join(root, "nothing")], /not a generate run folder/);
  });
});
