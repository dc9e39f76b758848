import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";

const cli = path.join(import.meta.dirname, "cli.ts");

/**
 * `--quiet` on every stage that has it: no progress, nothing but the stage's one final line (export:
 * not even that), on a small real pipeline — generate → filter → mix → train → eval → export.
 */
describe("--quiet", () => {
  it("leaves each stage's final line alone", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "distill-quiet-"));
    const at = (name: string) => path.join(dir, name);
    const stages: [string, string[], number][] = [
      [
        "generate",
        [
          "--prompts",
          "builtin:equations?count=4",
          "--teacher",
          "builtin:equations",
          "--samples-per-prompt",
          "2",
          "--out",
          at("g"),
        ],
        1,
      ],
      ["filter", ["--in", at("g/generations.jsonl"), "--out", at("f")], 1],
      ["mix", ["--source", `r=${at("f/kept.jsonl")}:1.0`, "--out", at("m")], 1],
      [
        "train",
        [
          "--data",
          at("m/train.jsonl"),
          "--init",
          "new:1m?layers=1&vocab=300&context=256",
          "--epochs",
          "1",
          "--out",
          at("t"),
        ],
        1,
      ],
      [
        "eval",
        [
          "--model",
          at("t"),
          "--benchmark",
          "builtin:equations?count=3&split=test",
          "--max-tokens",
          "4",
          "--out",
          at("e"),
        ],
        1,
      ],
      ["export", ["--model", at("t"), "--format", "safetensors", "--out", at("x")], 0],
    ];
    for (const [stage, args, lines] of stages) {
      const run = spawnSync(process.execPath, ["--import", "tsx", cli, stage, ...args, "--quiet"], {
        encoding: "utf8",
      });
      assert.equal(run.status, 0, `${stage}: ${run.stderr}`);
      const printed = `${run.stdout}${run.stderr}`.split("\n").filter((l) => l.trim() !== "");
      assert.equal(printed.length, lines, `${stage} --quiet printed:\n${printed.join("\n")}`);
      if (lines === 1) assert.match(printed[0], new RegExp(`^(${stage}: |${at("t")} on )`), stage);
    }
  });
});
