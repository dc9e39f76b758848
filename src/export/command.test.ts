import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";

const cli = fileURLToPath(new URL("../cli.ts", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "distill-export-cli-"));
after(() => rmSync(root, { recursive: true, force: true }));

function distill(...args: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", cli, ...args], { encoding: "utf8" });
}

test("distill export: bad input exits 2 with one line naming the flag or the folder", () => {
  const format = distill("export", "--model", root, "--format", "onnx", "--out", join(root, "o"));
  assert.equal(format.status, 2);
  assert.equal(format.stderr, "distill: must be gguf, safetensors or trl (--format)\n");
  const folder = distill("export", "--model", root, "--format", "gguf", "--out", join(root, "o"));
  assert.equal(folder.status, 2);
  assert.equal(folder.stderr, `distill: ${root}: no config.json (is this a Hugging Face model folder?)\n`);
});
