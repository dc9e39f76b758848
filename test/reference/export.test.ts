/**
 * A student trained by `distill train` (from a checkpoint transformers wrote: Qwen3's layout and real
 * tokenizer, shrunk to width 64 and 2 layers) and exported by `distill export --format safetensors` is
 * a folder transformers loads as is: its logits there equal the inference decoder's (max |Δ| ≤ 1e-4 ×
 * max |logit|), and transformers' greedy `generate` writes the tokens `distill eval` writes.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Decoder } from "../../src/model/forward.ts";
import { generate } from "../../src/model/generate.ts";
import { loadModelFolder } from "../../src/model/hfFolder.ts";
import { loadStopTokens } from "../../src/model/stopTokens.ts";
import { loadTokenizer } from "../../src/tokenizer/tokenizer.ts";
import {
  chatBatch,
  chats,
  hfReference,
  maxDiff,
  readTensor,
  referenceSkip,
  smallQwen3,
  transformersCheckpoint,
} from "./reference.ts";

const cli = fileURLToPath(new URL("../../src/cli.ts", import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), "distill-ref-export-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function distill(...args: string[]): void {
  const r = spawnSync(process.execPath, ["--import", "tsx", cli, ...args], { encoding: "utf8" });
  assert.equal(r.status, 0, `distill ${args.join(" ")}:\n${r.stderr.slice(-3000)}`);
}

test("distill train → export --format safetensors → transformers: same logits, same greedy tokens as distill eval", {
  skip: referenceSkip,
}, (t) => {
  const student = transformersCheckpoint(smallQwen3);
  const data = join(scratch, "train.jsonl");
  writeFileSync(data, chats.map((messages) => `${JSON.stringify({ messages })}\n`).join(""));
  const trained = join(scratch, "student");
  distill(
    ...["train", "--data", data, "--init", student, "--out", trained, "--epochs", "4"],
    ...["--lr", "3e-3", "--context", "128", "--batch-tokens", "256", "--quiet"],
  );
  const hf = join(scratch, "hf");
  distill("export", "--model", trained, "--format", "safetensors", "--out", hf);

  // logits: transformers on the exported folder vs the inference decoder on the same folder
  const model = loadModelFolder(hf);
  const tokenizer = loadTokenizer(hf);
  const b = chatBatch(tokenizer, 151643);
  const out = join(scratch, "logits.safetensors");
  hfReference({ task: "logits", model: hf, tokens: b.rows, out });
  const ref = readTensor(out, "logits");
  const decoder = new Decoder(model);
  const V = model.config.vocab_size;
  const ours = new Float32Array(b.batch * b.time * V);
  for (const [r, row] of b.rows.entries())
    ours.set(decoder.forward(row, decoder.newCache(b.time), { allLogits: true }), r * b.time * V);
  const { diff, scale } = maxDiff(ours, ref);
  t.diagnostic(`exported student: max |Δlogit| ${diff.toExponential(2)} of max |logit| ${scale.toFixed(3)}`);
  assert.ok(diff <= 1e-4 * scale, `max |Δ| ${diff} > 1e-4 × ${scale}`);

  // greedy: distill eval's completion vs transformers' generate from the same prompt ids
  const evalOut = join(scratch, "eval");
  const maxTokens = 12;
  distill(
    ...["eval", "--model", hf, "--benchmark", "builtin:equations?count=1&split=test"],
    ...["--max-tokens", String(maxTokens), "--out", evalOut, "--quiet"],
  );
  const record = JSON.parse(readFileSync(join(evalOut, "results.jsonl"), "utf8").split("\n")[0]!) as {
    prompt: string;
    completion: string;
  };
  const stop = loadStopTokens(hf, model.config, tokenizer);
  const prompt = tokenizer.encode(
    tokenizer.applyChatTemplate([{ role: "user", content: record.prompt }], { addGenerationPrompt: true }),
  );
  const { tokens } = hfReference<{ tokens: number[] }>({
    task: "generate",
    model: hf,
    prompt,
    max_new_tokens: maxTokens,
    stop,
  });
  const library = generate(decoder, prompt, { maxTokens, temperature: 0, stopTokens: stop }).tokens;
  t.diagnostic(`transformers generate: ${JSON.stringify(tokens)}`);
  assert.deepEqual(library, tokens);
  assert.equal(record.completion, tokenizer.decode(tokens.filter((id) => !stop.includes(id))));
});
