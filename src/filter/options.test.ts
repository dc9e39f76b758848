import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { eld } from "eld/large";
import { filterLanguages } from "./options.ts";
import { countCandidates } from "./read.ts";

const cli = path.join(import.meta.dirname, "..", "cli.ts");
const run = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", cli, ...args], { encoding: "utf8" });

describe("filter options and progress", () => {
  it("knows exactly the languages the language check's detector knows", () => {
    assert.deepEqual([...filterLanguages].sort(), Object.values(eld.info().Languages).sort());
  });

  it("refuses an unknown --language with the known ones, before writing anything", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "distill-filter-lang-"));
    writeFileSync(path.join(dir, "g.jsonl"), "");
    const out = path.join(dir, "out");
    const r = run("filter", "--in", path.join(dir, "g.jsonl"), "--out", out, "--language", "klingon");
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr.trim(),
      /^distill: unknown language "klingon": an ISO 639-1 code, one of am, .* en, .* zh \(--language\)$/,
    );
    assert.deepEqual(readdirSync(dir), ["g.jsonl"]);
  });

  it("counts candidates (non-blank lines), and its progress shows candidates, not bytes", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "distill-filter-progress-"));
    const file = path.join(dir, "g.jsonl");
    const line = (i: number) =>
      JSON.stringify({
        prompt_id: `p${i}`,
        sample_index: 0,
        prompt: `What is ${i} + 1?`,
        completion: `<think>${i} + 1 = ${i + 1}.</think><answer>${i + 1}</answer>`,
        gold: String(i + 1),
      });
    writeFileSync(file, `${line(1)}\n\n  \r\n${line(2)}\n${line(3)}`);
    assert.equal(await countCandidates(file), 3);
    const r = run("filter", "--in", file, "--out", path.join(dir, "out"));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^filter 3\/3 candidates \(100%\)/m);
  });
});
