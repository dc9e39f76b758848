import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";

/**
 * Every ```sh block of README.md, run as printed, in order, in one fresh folder that looks like a
 * clone (package.json, src/, bin/ and node_modules/ linked in), so later blocks consume what earlier
 * ones wrote. A block that needs the outside world (an API key, a GPU host, a download) carries a
 * `<!-- readme-test: skip (why) -->` line right above it; every other block must exit 0. `npm start`
 * runs the demo at its smoke size through $DISTILLERY_DEMO_SIZE.
 */

const root = path.resolve(import.meta.dirname, "..");
const skipMarker = /^<!--\s*readme-test:\s*skip\s*\((.+)\)\s*-->$/;

interface Block {
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
  /** Why the block cannot run here, from its marker; undefined when it runs. */
  skip?: string;
}

/** The ```sh blocks of a Markdown text, in order, each with the skip reason of a marker right above it. */
export function shellBlocks(markdown: string): Block[] {
  const lines = markdown.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(\s*)```sh\s*$/.exec(lines[i]);
    if (!fence) continue;
    const indent = fence[1].length;
    const start = i;
    const code: string[] = [];
    for (i++; i < lines.length && lines[i].trim() !== "```"; i++) code.push(lines[i].slice(indent));
    const above = lines
      .slice(0, start)
      .reverse()
      .find((l) => l.trim() !== "");
    const skip = above ? skipMarker.exec(above.trim())?.[1] : undefined;
    blocks.push({ line: start + 1, code: code.join("\n"), skip });
  }
  return blocks;
}

/** A folder that looks like a fresh clone: the files a user runs from, linked, and nothing made yet. */
function freshClone(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "distill-readme-"));
  for (const name of ["node_modules", "src", "bin", "examples", "tsconfig.json"])
    symlinkSync(path.join(root, name), path.join(dir, name));
  copyFileSync(path.join(root, "package.json"), path.join(dir, "package.json"));
  return dir;
}

/** A loopback port nobody listens on now (asked of the kernel by a throwaway child process). */
function freePort(): number {
  const script =
    "const s = require('node:net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })";
  return Number(spawnSync(process.execPath, ["-e", script], { encoding: "utf8" }).stdout.trim());
}

const readme = readFileSync(path.join(root, "README.md"), "utf8");
const blocks = shellBlocks(readme);

describe("shellBlocks", () => {
  it("finds fenced sh blocks, indented ones too, and the skip marker right above a block", () => {
    const md = [
      "text",
      "```sh",
      "echo one",
      "```",
      "<!-- readme-test: skip (needs a key) -->",
      "",
      "```sh",
      "echo two",
      "```",
      "- item",
      "  ```sh",
      "  echo three \\",
      "    --flag",
      "  ```",
      "```yaml",
      "a: 1",
      "```",
    ].join("\n");
    assert.deepEqual(shellBlocks(md), [
      { line: 2, code: "echo one", skip: undefined },
      { line: 7, code: "echo two", skip: "needs a key" },
      { line: 11, code: "echo three \\\n  --flag", skip: undefined },
    ]);
  });

  it("every skip marker of README.md sits right above a block and says why", () => {
    const markers = readme.split("\n").filter((l) => l.trim().startsWith("<!-- readme-test")).length;
    const skipped = blocks.filter((b) => b.skip);
    assert.equal(skipped.length, markers, "a readme-test marker is not right above a ```sh block");
    for (const b of skipped) assert.ok(b.skip!.trim().length > 5, `README.md:${b.line}: say why`);
    assert.ok(blocks.length - skipped.length >= 8, "most of the README's blocks run");
  });
});

describe("README.md, every command block as printed, in order", () => {
  const cwd = freshClone();
  after(() => {
    rmSync(cwd, { recursive: true, force: true });
  });
  const env = {
    ...process.env,
    DISTILLERY_DEMO_SIZE: "smoke",
    // the serve block's port: a free one, so runs side by side do not answer each other
    PORT: String(freePort()),
    // npx finds `distill` in package.json's bin, must never reach a registry, and caches in the clone
    npm_config_offline: "true",
    npm_config_cache: path.join(cwd, ".npm"),
    npm_config_update_notifier: "false",
    npm_config_fund: "false",
  };
  for (const block of blocks) {
    const title = `README.md:${block.line} ${block.code.split("\n")[0]}`;
    if (block.skip) {
      it.skip(`${title} — ${block.skip}`);
      continue;
    }
    it(title, () => {
      // a block that started a server in the background and failed before stopping it leaves nothing behind
      const script = `trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n${block.code}\n`;
      const r = spawnSync("bash", ["-euo", "pipefail", "-c", script], {
        cwd,
        env,
        encoding: "utf8",
        timeout: 10 * 60_000,
      });
      assert.equal(
        r.status,
        0,
        `exit ${r.status ?? r.signal}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-4000)}`,
      );
    });
  }

  it("distill report --run finds the models the stage-by-stage commands trained and evaluated", () => {
    const page = readFileSync(path.join(cwd, "runs/eq/report.html"), "utf8");
    assert.match(page, /models: teacher, student/);
    assert.ok(existsSync(path.join(cwd, "runs/demo/report.html")), "npm start wrote the demo's report");
  });
});
