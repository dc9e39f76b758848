/**
 * LoRA against PEFT: the adapter folder `distill train --lora` writes, loaded by
 * `peft.PeftModel.from_pretrained` onto transformers' model of the base, gives the logits that the
 * project's decoders give for the same adapter — merged (what eval and serve run, and what
 * `export --merge-lora` writes) and unmerged (the training forward). Bound: max |Δ| ≤ 1e-4 × max |logit|.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Decoder } from "../../src/model/forward.ts";
import { loadModelFolder } from "../../src/model/hfFolder.ts";
import { loadModelOrAdapter, readAdapterFolder, writeMergedFolder } from "../../src/model/loraFolder.ts";
import { TrainableDecoder } from "../../src/model/trainable.ts";
import { loadTokenizer } from "../../src/tokenizer/tokenizer.ts";
import { adaptersFromFolder } from "../../src/train/lora.ts";
import { train } from "../../src/train/train.ts";
import {
  chatBatch,
  chats,
  hfReference,
  maxDiff,
  readTensor,
  referencePython,
  referenceSkip,
  runPython,
  transformersCheckpoint,
} from "./reference.ts";

const tol = 1e-4;
/** The reference tools' skip reason, or PEFT's own absence (the same rule: under CI it fails instead). */
const skip = referenceSkip || peftMissing();

function peftMissing(): string | false {
  const r = spawnSync(referencePython(), ["-c", "import peft"], { encoding: "utf8" });
  return r.status === 0 || process.env.CI
    ? false
    : `the reference Python cannot import peft (.ci/run installs it)`;
}
const scratch = mkdtempSync(join(tmpdir(), "distill-ref-lora-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

test("PEFT loads distill train --lora's adapter onto transformers with the same logits", {
  skip,
}, async (t) => {
  // Qwen2 (q/k/v biases) at a small width, written by transformers
  const base = transformersCheckpoint({
    arch: "qwen2",
    layers: 2,
    set: { hidden_size: 64, intermediate_size: 128, num_attention_heads: 4, num_key_value_heads: 2 },
  });
  const data = join(scratch, "train.jsonl");
  writeFileSync(data, chats.map((messages) => JSON.stringify({ messages })).join("\n"));
  const adapter = join(scratch, "adapter");
  await train({
    data,
    init: base,
    out: adapter,
    lora: "r=4,alpha=8,dropout=0.1",
    lr: 5e-2,
    warmup: 0,
    epochs: 4,
    context: 64,
    batchTokens: 128,
    quiet: true,
  });
  const b = chatBatch(loadTokenizer(base), 151643);
  const out = join(scratch, "peft.safetensors");
  const report = JSON.parse(
    runPython("peft_lora.py", [], JSON.stringify({ base, adapter, tokens: b.rows, out })),
  ) as { adapted_modules: number; zero_lora_B: string[] };
  assert.equal(report.adapted_modules, 2 * 7, "PEFT put an adapter on every linear layer of both layers");
  assert.deepEqual(report.zero_lora_B, [], "PEFT read every trained lora_B from the file");
  const peft = readTensor(out, "logits");
  const moved = maxDiff(readTensor(out, "base"), peft);
  assert.ok(moved.diff > 100 * tol * moved.scale, `the adapter moves PEFT's logits (${moved.diff})`);

  const check = (what: string, ours: Float32Array) => {
    const { diff, scale } = maxDiff(ours, peft);
    t.diagnostic(`${what}: max |Δ| ${diff.toExponential(2)}, max |logit| ${scale.toFixed(3)}`);
    assert.ok(diff <= tol * scale, `${what}: max |Δ| ${diff} > ${tol} × ${scale}`);
  };
  const merged = new Decoder(loadModelOrAdapter(adapter).model);
  const V = merged.model.config.vocab_size;
  const inference = new Float32Array(b.batch * b.time * V);
  for (const [r, row] of b.rows.entries())
    inference.set(merged.forward(row, merged.newCache(b.time), { allLogits: true }), r * b.time * V);
  check("merged, inference decoder", inference);
  const baseModel = loadModelFolder(base);
  const adapters = adaptersFromFolder(readAdapterFolder(adapter), baseModel, 0);
  check("unmerged, training decoder", new TrainableDecoder(baseModel, adapters).logits(b));

  // export --merge-lora's folder, loaded by transformers as a plain model
  const exported = writeMergedFolder(adapter, join(scratch, "merged"));
  const plainOut = join(scratch, "merged.safetensors");
  hfReference({ task: "logits", model: exported, tokens: b.rows, out: plainOut });
  check("merged folder in transformers", readTensor(plainOut, "logits"));
});
