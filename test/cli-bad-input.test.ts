import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

/**
 * Every verb of `distill`, given bad input a person could type: each must exit non-zero with one
 * `distill: …` line (or commander's usage error) naming the flag, file or port — never a stack trace —
 * and must leave no file behind that was not there before.
 */
const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
const root = mkdtempSync(path.join(tmpdir(), "distill-bad-input-"));
const file = path.join(root, "a-file"); // a plain file where a folder is wanted
const folder = path.join(root, "a-folder"); // an empty folder where a file is wanted
const notGguf = path.join(root, "model.gguf"); // a file named like a model that is not one
const trained = path.join(root, "trained"); // a folder holding a trained model
const chat = path.join(root, "train.jsonl");

let busy: Server;
let busyPort = 0;
before(async () => {
  writeFileSync(file, "not a folder\n");
  mkdirSync(folder);
  writeFileSync(notGguf, "this is not a GGUF file\n");
  mkdirSync(trained);
  writeFileSync(path.join(trained, "config.json"), "{}\n");
  writeFileSync(path.join(trained, "model.safetensors"), "weights");
  writeFileSync(
    chat,
    `${JSON.stringify({
      messages: [
        { role: "user", content: "1+1?" },
        { role: "assistant", content: "2" },
      ],
    })}\n`,
  );
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
  busyPort = (busy.address() as { port: number }).port;
});
after(() => {
  busy.close();
  rmSync(root, { recursive: true, force: true });
});

function distill(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", cli, ...args], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, DISTILLERY_DEMO_SIZE: "smoke" },
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stderr }));
  });
}

/** A verb, its arguments (built once the fixtures exist) and what its one line must say. */
type Case = [verb: string, args: () => string[], message: RegExp];

const cases: Case[] = [
  [
    "generate",
    () => ["--prompts", "builtin:equations", "--teacher", "builtin:equations", "--out", file],
    /a-file: --out: is a file, not a folder/,
  ],
  [
    "generate",
    () => ["--prompts", "builtin:equations", "--teacher", "builtin:equations", "--limit", "x", "--out", root],
    /--limit/,
  ],
  ["merge", () => ["--in", folder, "--out", file], /a-file: --out: is a file, not a folder/],
  [
    "merge",
    () => ["--in", folder, "--out", path.join(root, "merged")],
    /a-folder: not a generate run folder/,
  ],
  ["verify", () => ["--in", folder, "--out", path.join(root, "v.jsonl")], /a-folder: --in: is a folder/],
  ["verify", () => ["--in", chat, "--out", folder], /a-folder: --out: is a folder, not a file/],
  ["verify", () => ["--in", path.join(root, "none.jsonl"), "--out", path.join(root, "v.jsonl")], /not found/],
  ["verify", () => ["--in", chat, "--out", path.join(root, "v.jsonl"), "--precision", "abc"], /--precision/],
  ["filter", () => ["--in", chat, "--out", file], /a-file: --out: is a file, not a folder/],
  ["filter", () => ["--in", folder, "--out", path.join(root, "f")], /a-folder: is not a file/],
  ["mix", () => ["--source", `r=${chat}`, "--out", file], /a-file: --out: is a file, not a folder/],
  ["mix", () => ["--source", "nonsense", "--out", path.join(root, "m")], /nonsense/],
  [
    "train",
    () => ["--data", chat, "--init", "new:1m", "--out", file],
    /a-file: --out: is a file, not a folder/,
  ],
  [
    "train",
    () => ["--data", chat, "--init", "new:1m", "--out", trained],
    /trained: already holds a trained model \(model\.safetensors\); pass --resume to continue it or --overwrite/,
  ],
  [
    "train",
    () => ["--data", chat, "--init", "new:1m", "--out", path.join(root, "t"), "--epochs", "two"],
    /--epochs/,
  ],
  [
    "train",
    () => [
      "--data",
      chat,
      "--init",
      "new:1m",
      "--out",
      path.join(root, "t"),
      "--checkpoint-activations",
      "30",
    ],
    /--checkpoint-activations.*is 30, but the model has \d+ decoder layers/,
  ],
  [
    "train",
    () => ["--data", chat, "--init", "new:1m", "--out", trained, "--resume", "--overwrite"],
    /--resume and --overwrite contradict each other/,
  ],
  [
    "export",
    () => ["--model", trained, "--format", "gguf", "--out", file],
    /a-file: --out: is a file, not a folder/,
  ],
  ["export", () => ["--model", folder, "--format", "gguf", "--out", path.join(root, "e")], /no config\.json/],
  ["export", () => ["--model", trained, "--format", "onnx", "--out", path.join(root, "e")], /--format/],
  [
    "export",
    () => ["--model", trained, "--format", "safetensors", "--dtype", "q4_0", "--out", path.join(root, "e")],
    /safetensors export writes f32 or bf16 \(q4_0 is for --format gguf\)/,
  ],
  [
    "eval",
    () => ["--model", `gguf:${notGguf}`, "--benchmark", "builtin:equations", "--out", path.join(root, "ev")],
    /model\.gguf: not a GGUF file/,
  ],
  [
    "eval",
    () => ["--model", "builtin:equations", "--benchmark", "builtin:equations", "--out", file],
    /a-file: --out: is a file, not a folder/,
  ],
  ["demo", () => ["--out", file], /a-file: --out: is a file, not a folder/],
  ["demo", () => ["--out", path.join(root, "d"), "--seed", "abc"], /--seed/],
  ["report", () => ["--run", path.join(root, "no-run")], /no-run/],
  ["report", () => ["--run", root, "--out", folder], /a-folder: --out: is a folder, not a file/],
  ["serve", () => ["--model", "builtin:equations", "--port", "abc"], /--port.*an integer from 0 to 65535/],
  ["serve", () => ["--model", "builtin:equations", "--port", "70000"], /--port.*an integer from 0 to 65535/],
  [
    "serve",
    () => ["--model", "builtin:equations", "--port", String(busyPort)],
    /port \d+ on 127\.0\.0\.1 is in use/,
  ],
  ["serve", () => ["--model", "builtin:equations", "--port", "0", "--parallel", "0"], /--parallel/],
];

// the spawns run four at a time: each is a fresh node (about a second of start-up)
describe("distill <verb> with bad input: non-zero exit, one line, no stack trace, nothing left behind", {
  concurrency: 4,
}, () => {
  it("covers every verb", () => {
    const verbs = new Set(cases.map(([verb]) => verb));
    for (const verb of [
      "generate",
      "merge",
      "verify",
      "filter",
      "mix",
      "train",
      "export",
      "eval",
      "demo",
      "report",
      "serve",
    ])
      assert.ok(verbs.has(verb), `no bad-input case for ${verb}`);
  });
  for (const [verb, args, message] of cases) {
    it(`${verb} ${message.source}`, async () => {
      const { status, stderr } = await distill([verb, ...args()]);
      assert.notEqual(status, 0, stderr);
      assert.equal(status, 2, stderr);
      assert.match(stderr, message);
      assert.doesNotMatch(stderr, /^\s+at .+/m, `a stack frame in:\n${stderr}`);
      assert.doesNotMatch(stderr, /node:internal|\.ts:\d+:\d+|^\w*Error\b/m, `a stack trace in:\n${stderr}`);
    });
  }
});

it("the bad runs left no file behind: the fixtures are all there is", () => {
  assert.deepEqual(readdirSync(root).sort(), ["a-file", "a-folder", "model.gguf", "train.jsonl", "trained"]);
  assert.deepEqual(readdirSync(trained).sort(), ["config.json", "model.safetensors"]);
});
