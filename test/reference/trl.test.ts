/**
 * The GPU path, run on a CPU: `distill export --format trl` of a checkpoint transformers wrote (Qwen3
 * layout with the real tokenizer and its template, shrunk to width 64 and 2 layers so TRL's steps take
 * seconds), then the exported sft.py under TRL 1.13 + accelerate with the documented smoke-run flags
 * (`--use_cpu true --bf16 false --model_dtype float32`). The loss falls, TRL trains exactly the tokens
 * distill train trains on the same rows, and `distill eval` loads what TRL saved.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { exportModel } from "../../src/export/export.ts";
import { loadTokenizer } from "../../src/tokenizer/tokenizer.ts";
import { loadExamples } from "../../src/train/data.ts";
import { packExamples } from "../../src/train/pack.ts";
import { referenceSkip, runScript, smallQwen3, transformersCheckpoint } from "./reference.ts";

const cli = fileURLToPath(new URL("../../src/cli.ts", import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), "distill-ref-trl-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

const rows = Array.from({ length: 12 }, (_, i) => ({
  messages: [
    ...(i % 3 === 0 ? [{ role: "system", content: "You are a careful solver." }] : []),
    { role: "user", content: `Solve for x: 3x + ${i} = ${9 + i}` },
    {
      role: "assistant",
      content: `<think>\nSubtract ${i}: 3x = 9. Divide by 3.\n</think>\n<answer>x = 3</answer>`,
    },
  ],
}));

test("TRL 1.13 runs the exported sft.py on a CPU: the loss falls, distill train's tokens carry the loss, distill eval loads the result", {
  skip: referenceSkip,
}, async (t) => {
  const student = transformersCheckpoint(smallQwen3);
  const data = join(scratch, "mix", "train.jsonl");
  mkdirSync(join(scratch, "mix"), { recursive: true });
  writeFileSync(data, rows.map((r) => `${JSON.stringify(r)}\n`).join(""));
  const out = join(scratch, "trl");
  const exported = await exportModel({ model: student, format: "trl", data, out });
  assert.ok(exported.format === "trl");
  if (exported.format !== "trl") return;

  // distill train's count on the same rows: its tokenization, packed as it packs (a target's weight is
  // the assistant mask at the next token).
  const { examples } = await loadExamples(data, loadTokenizer(student));
  const packed = packExamples(
    examples,
    examples.map((_, i) => i),
    512,
    151643,
  );
  const distillTrained = packed.weights.reduce((a, w) => a + w, 0);
  assert.equal(exported.trl.train.trainedTokens, distillTrained);

  const started = Date.now();
  const steps = 6;
  const { stderr } = runScript(
    join(out, "sft.py"),
    [
      ...["--config", join(out, "recipe.yaml"), "--use_cpu", "true", "--bf16", "false"],
      ...["--model_dtype", "float32", "--max_steps", String(steps), "--logging_steps", "1"],
      // a few steps that visibly move the loss: a large lr at once, four rows a step
      ...["--learning_rate", "3e-3", "--warmup", "0", "--per_device_train_batch_size", "4"],
      ...["--gradient_accumulation_steps", "1", "--save_strategy", "no"],
    ],
    { cwd: scratch },
  );
  const seconds = (Date.now() - started) / 1000;
  const counted = stderr.match(/train: (\d+) rows, (\d+) tokens, (\d+) carry loss/);
  assert.ok(counted, `sft.py did not report its loss tokens:\n${stderr.slice(-2000)}`);
  assert.equal(Number(counted[1]), rows.length);
  assert.equal(Number(counted[3]), distillTrained, "TRL and distill train train different tokens");

  const state = JSON.parse(readFileSync(join(out, "output", "trainer_state.json"), "utf8")) as {
    log_history: { loss?: number; step: number }[];
  };
  const losses = state.log_history.filter((h) => h.loss !== undefined).map((h) => h.loss!);
  t.diagnostic(
    `TRL: ${steps} steps in ${seconds.toFixed(0)} s, losses ${losses.map((l) => l.toFixed(3)).join(" ")}`,
  );
  t.diagnostic(`${distillTrained} tokens carry loss in both`);
  assert.equal(losses.length, steps);
  assert.ok(losses.at(-1)! < losses[0]! - 0.5, `the loss does not fall: ${losses.join(" ")}`);

  const evalOut = join(scratch, "eval");
  const ev = spawnSync(
    process.execPath,
    [
      ...["--import", "tsx", cli, "eval", "--model", join(out, "output")],
      ...["--benchmark", "builtin:equations?count=2&split=test", "--max-tokens", "4", "--out", evalOut],
    ],
    { encoding: "utf8" },
  );
  assert.equal(ev.status, 0, ev.stderr);
  assert.ok(existsSync(join(evalOut, "summary.json")));
});
