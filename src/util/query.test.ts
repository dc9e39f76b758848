import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { loadPrompts } from "../tasks/sources.ts";
import { parseNewModelSpec } from "../train/presets.ts";
import { UserError } from "./errors.ts";
import { parseSpecQuery } from "./query.ts";

const cli = path.join(import.meta.dirname, "..", "cli.ts");
const userError = (pattern: RegExp) => (e: unknown) => e instanceof UserError && pattern.test(e.message);

describe("spec settings after ?", () => {
  it("splits name and settings, refusing unknown and repeated keys with the known ones", () => {
    const { name, params } = parseSpecQuery("x:a?b=1", "a?b=1", ["b", "c"]);
    assert.equal(name, "a");
    assert.equal(params.get("b"), "1");
    assert.equal(parseSpecQuery("x:a", "a", []).name, "a");
    assert.throws(
      () => parseSpecQuery("x:a?d=1", "a?d=1", ["b", "c"]),
      userError(/unknown setting "d" in "x:a\?d=1" \(known settings: b, c\)/),
    );
    assert.throws(() => parseSpecQuery("x:a?d=1", "a?d=1", []), userError(/takes none/));
    assert.throws(() => parseSpecQuery("x:a?b=1&b=2", "a?b=1&b=2", ["b"]), userError(/"b" is given twice/));
  });

  it("built-in prompt sources refuse unknown settings and values", async () => {
    await assert.rejects(
      loadPrompts("builtin:equations?cnt=5"),
      userError(/unknown setting "cnt" .*count, seed, difficulty, split, fraction-rate/),
    );
    await assert.rejects(
      loadPrompts("builtin:general?split=test"),
      userError(/unknown setting "split" .*count, seed\)/),
    );
    await assert.rejects(
      loadPrompts("builtin:equations?count="),
      userError(/"count" must be a non-negative integer/),
    );
    await assert.rejects(
      loadPrompts("builtin:equations?fraction-rate=abc"),
      userError(/"fraction-rate" must be a number from 0 to 1/),
    );
    await assert.rejects(
      loadPrompts("builtin:equation"),
      userError(/unknown built-in prompt source "equation" .*\(equations, general\)/),
    );
    assert.equal((await loadPrompts("builtin:equations?count=5&split=test")).length, 5);
    await assert.rejects(
      loadPrompts("gsm8k:tset"),
      userError(/unknown split "tset" in "gsm8k:tset" \(here: test, train; or a path to a .jsonl file\)/),
    );
  });

  it("new:<preset> refuses unknown settings and values", () => {
    assert.throws(
      () => parseNewModelSpec("new:1m?layerz=2"),
      userError(/unknown setting "layerz" .*arch, vocab, context, hidden, layers, heads, kvHeads, ffn/),
    );
    assert.throws(
      () => parseNewModelSpec("new:1m?arch=gpt2"),
      userError(/unknown arch "gpt2" .*\(qwen2, qwen3, llama\)/),
    );
    assert.throws(
      () => parseNewModelSpec("new:1m?layers="),
      userError(/"layers" must be a positive integer/),
    );
    assert.deepEqual(parseNewModelSpec("new:1m?layers=2").overrides, { layers: 2 });
  });

  it("the CLI refuses a misspelt setting in one line, exit 2", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "distill-query-"));
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ["--import", "tsx", cli, ...args], { encoding: "utf8" });
    const gen = run(
      "generate",
      "--prompts",
      "builtin:equations?cnt=5",
      "--teacher",
      "builtin:equations",
      "--out",
      path.join(dir, "g"),
    );
    assert.equal(gen.status, 2, gen.stderr);
    assert.match(
      gen.stderr.trim(),
      /^distill: unknown setting "cnt" in "builtin:equations\?cnt=5" \(known settings: [^\n]+\)$/,
    );
  });
});
