import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, it } from "node:test";
import { fileURLToPath } from "node:url";
import { generate } from "../src/generate/generate.ts";
import { inShard } from "../src/generate/identity.ts";
import { merge } from "../src/merge/merge.ts";
import { lockName, readLock } from "../src/util/lock.ts";

/**
 * The repros of "nothing lost": two `distill generate` on one folder (the second is refused while the
 * first runs, and takes the folder over once the first is gone: every candidate once), `train` into a
 * trained model (refused without --resume/--overwrite), a failed `verify` (the earlier results stay)
 * and a merge refused part-way (nothing half-merged stays).
 */
const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
const tmp = () => mkdtempSync(path.join(tmpdir(), "distill-one-process-"));
const lines = (file: string) => readFileSync(file, "utf8").split("\n").filter(Boolean);

function start(args: string[]): {
  child: ChildProcess;
  done: Promise<{ status: number | null; stderr: string }>;
} {
  const child = spawn(process.execPath, ["--import", "tsx", cli, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const done = new Promise<{ status: number | null; stderr: string }>((resolve) =>
    child.on("close", (status, signal) => resolve({ status: status ?? (signal ? -1 : null), stderr })),
  );
  return { child, done };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 50) {
    if (waited > 120_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** An OpenAI-compatible teacher on loopback that holds every request while `hold` is set. */
function startTeacher() {
  const held: ServerResponse[] = [];
  const state = { hold: true, requests: 0 };
  const reply = (res: ServerResponse) =>
    res.writeHead(200, { "content-type": "application/json" }).end(
      JSON.stringify({
        id: "chatcmpl-1",
        object: "chat.completion",
        created: 0,
        model: "held",
        choices: [
          {
            index: 0,
            message: { role: "assistant", content: "<think>\nx = 2.\n</think>\n<answer>x = 2</answer>" },
            finish_reason: "stop",
          },
        ],
        usage: { prompt_tokens: 20, completion_tokens: 10, total_tokens: 30 },
      }),
    );
  const server = createServer((req, res) => {
    req.resume().on("end", () => {
      state.requests++;
      if (state.hold) held.push(res);
      else reply(res);
    });
  });
  return {
    state,
    listen: () =>
      new Promise<string>((resolve) =>
        server.listen(0, "127.0.0.1", () =>
          resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`),
        ),
      ),
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

const teacher = startTeacher();
after(() => teacher.close());

it("two distill generate on one --out: the second is refused naming the first; once it is gone, every candidate once", async () => {
  const url = await teacher.listen();
  const out = path.join(tmp(), "run");
  const args = [
    "generate",
    "--prompts",
    "builtin:equations?count=5",
    "--teacher",
    `openai:held@${url}`,
    "--samples-per-prompt",
    "2",
    "--concurrency",
    "4",
    "--quiet",
    "--out",
    out,
  ];
  const first = start(args);
  const lockFile = path.join(out, lockName);
  await until(() => teacher.state.requests > 0 && existsSync(lockFile), "the first run's requests");
  const holder = readLock(lockFile);
  assert.equal(holder?.pid, first.child.pid);
  assert.equal(holder?.command, "distill generate");

  const second = await start(args).done;
  assert.equal(second.status, 2, second.stderr);
  assert.equal(
    second.stderr,
    `distill: ${out}: is in use by distill generate (pid ${first.child.pid}, since ${holder?.started}); wait for it to finish or stop it\n`,
  );

  // the first is killed outright: its lock stays behind, naming a process that is gone
  first.child.kill("SIGKILL");
  await first.done;
  assert.equal(readLock(lockFile)?.pid, first.child.pid);
  teacher.state.hold = false;
  const third = await start(args).done;
  assert.equal(third.status, 0, third.stderr);
  const records = lines(path.join(out, "generations.jsonl")).map((l) => JSON.parse(l));
  const keys = records.map((r) => `${r.prompt_id}#${r.sample_index}`);
  assert.equal(keys.length, 10);
  assert.equal(new Set(keys).size, 10);
  assert.equal(existsSync(lockFile), false);
});

it("distill train into a folder holding a trained model: refused, the model untouched; --overwrite replaces it", async () => {
  const dir = tmp();
  const data = path.join(dir, "train.jsonl");
  const rows = Array.from({ length: 8 }, (_, i) => ({
    messages: [
      { role: "user", content: `${i} + 1 = ?` },
      { role: "assistant", content: `<think>\n${i} + 1 = ${i + 1}\n</think>\n<answer>${i + 1}</answer>` },
    ],
  }));
  writeFileSync(data, rows.map((r) => `${JSON.stringify(r)}\n`).join(""));
  const model = path.join(dir, "student");
  mkdirSync(model);
  writeFileSync(path.join(model, "config.json"), '{"earlier": true}\n');
  writeFileSync(path.join(model, "model.safetensors"), "earlier weights");
  const args = [
    "train",
    "--data",
    data,
    "--init",
    "new:1m?vocab=300",
    "--out",
    model,
    "--max-steps",
    "1",
    "--quiet",
  ];
  const refused = await start(args).done;
  assert.equal(refused.status, 2);
  assert.match(
    refused.stderr,
    /student: already holds a trained model \(model\.safetensors\); pass --resume/,
  );
  assert.equal(readFileSync(path.join(model, "model.safetensors"), "utf8"), "earlier weights");
  assert.deepEqual(readdirSync(model).sort(), ["config.json", "model.safetensors"]);

  const replaced = await start([...args, "--overwrite"]).done;
  assert.equal(replaced.status, 0, replaced.stderr);
  assert.notEqual(readFileSync(path.join(model, "model.safetensors"), "utf8"), "earlier weights");
  assert.equal(JSON.parse(readFileSync(path.join(model, "config.json"), "utf8")).earlier, undefined);
});

it("distill verify that fails on a bad line keeps the earlier results file byte for byte", async () => {
  const dir = tmp();
  const input = path.join(dir, "cases.jsonl");
  const results = path.join(dir, "results.jsonl");
  writeFileSync(input, `${JSON.stringify({ gold: "1/2", pred: "0.5" })}\n`);
  assert.equal((await start(["verify", "--in", input, "--out", results]).done).status, 0);
  const earlier = readFileSync(results, "utf8");
  assert.ok(earlier.length > 42);
  appendFileSync(input, '{"gold": "3"}\n');
  const failed = await start(["verify", "--in", input, "--out", results]).done;
  assert.equal(failed.status, 2);
  assert.equal(failed.stderr, `distill: ${input}:2, field "pred": missing\n`);
  assert.equal(readFileSync(results, "utf8"), earlier);
  assert.deepEqual(readdirSync(dir).sort(), ["cases.jsonl", "results.jsonl"]);
});

it("a merge refused part-way leaves nothing half-merged, and the same folder merges once the shard is fixed", async () => {
  const root = tmp();
  const settings = {
    prompts: "builtin:equations?count=12",
    teacher: "builtin:equations",
    samplesPerPrompt: 1,
    quiet: true,
  };
  const [a, b] = ["1/2", "2/2"].map((shard) => path.join(root, shard.replace("/", "of")));
  await generate({ ...settings, shard: "1/2", out: a });
  await generate({ ...settings, shard: "2/2", out: b });
  // a record of shard 2 slipped into shard 1's file (copied by hand, say)
  const bFile = path.join(b, "generations.jsonl");
  const stray = lines(bFile).find((l) => !inShard(JSON.parse(l).prompt_id, "1/2"));
  assert.ok(stray);
  const aFile = path.join(a, "generations.jsonl");
  const clean = readFileSync(aFile, "utf8");
  appendFileSync(aFile, `${stray}\n`);
  const out = path.join(root, "merged");
  await assert.rejects(merge({ in: [a, b], out }), /does not belong to shard 1\/2/);
  assert.deepEqual(existsSync(out) ? readdirSync(out) : [], []);
  writeFileSync(aFile, clean);
  const merged = await merge({ in: [a, b], out });
  assert.equal(merged.candidates, 12);
  assert.equal(lines(path.join(out, "generations.jsonl")).length, 12);
});
