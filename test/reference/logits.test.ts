/**
 * Logits of both TypeScript decoders against transformers' own model, on checkpoints transformers wrote
 * (make_checkpoint.py: the published Qwen2.5-0.5B and Qwen3-0.6B shapes cut to 2 layers, and a Llama with
 * Llama-3 rope_scaling), the same tokens: a chat rendered and tokenized as distill train does.
 * `Decoder` is what distill eval and serve run (KV cache, one row at a time); `TrainableDecoder` is the
 * training engine's forward. Bound: max |Δ| ≤ 1e-4 × max |logit|.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Decoder } from "../../src/model/forward.ts";
import { loadModelFolder } from "../../src/model/hfFolder.ts";
import { TrainableDecoder } from "../../src/model/trainable.ts";
import { loadTokenizer } from "../../src/tokenizer/tokenizer.ts";
import {
  type CheckpointSpec,
  chatBatch,
  hfReference,
  maxDiff,
  readTensor,
  referenceSkip,
  smallQwen3,
  transformersCheckpoint,
} from "./reference.ts";

const tol = 1e-4;
const scratch = mkdtempSync(join(tmpdir(), "distill-ref-logits-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Our two decoders' logits (B*T, V) and transformers' for the chat batch of a checkpoint. */
function logitsOf(dir: string, name: string, unscaledRope = false) {
  const model = loadModelFolder(dir);
  const b = chatBatch(loadTokenizer(dir), 151643);
  const out = join(scratch, `${name}.safetensors`);
  hfReference({ task: "logits", model: dir, tokens: b.rows, out, unscaled_rope: unscaledRope });
  const hf = readTensor(out, "logits");
  const unscaled = unscaledRope ? readTensor(out, "unscaled") : null;
  const V = model.config.vocab_size;
  const decoder = new Decoder(model);
  const inference = new Float32Array(b.batch * b.time * V);
  for (const [r, row] of b.rows.entries())
    inference.set(decoder.forward(row, decoder.newCache(b.time), { allLogits: true }), r * b.time * V);
  const training = new TrainableDecoder(model).logits(b);
  return { hf, unscaled, inference, training };
}

function assertClose(t: { diagnostic(m: string): void }, what: string, ours: Float32Array, hf: Float32Array) {
  const { diff, scale } = maxDiff(ours, hf);
  t.diagnostic(
    `${what}: max |Δ| ${diff.toExponential(2)}, max |logit| ${scale.toFixed(3)}, ratio ${(diff / scale).toExponential(2)}`,
  );
  assert.ok(diff <= tol * scale, `${what}: max |Δ| ${diff} > ${tol} × ${scale}`);
}

const cases: [string, CheckpointSpec][] = [
  ["Qwen2.5-0.5B shape, 2 layers, fp32", { arch: "qwen2", layers: 2 }],
  ["Qwen3-0.6B shape, 2 layers, fp32", { arch: "qwen3", layers: 2 }],
  // bf16 weights on disk, read as float32 by both sides (at width 64: the reading is what is tested)
  ["Qwen3 layout at width 64, 2 layers, bf16 on disk", { ...smallQwen3, dtype: "bfloat16" }],
];
for (const [name, spec] of cases) {
  test(`${name}: inference and training logits match transformers`, { skip: referenceSkip }, (t) => {
    const dir = transformersCheckpoint(spec);
    const { hf, inference, training } = logitsOf(dir, name.replace(/\W+/g, "-"));
    assertClose(t, "inference decoder", inference, hf);
    assertClose(t, "training decoder", training, hf);
  });
}

test("Llama with Llama-3 rope_scaling, 2 layers: both decoders match transformers, and the scaling matters", {
  skip: referenceSkip,
}, (t) => {
  const dir = transformersCheckpoint({ arch: "llama", layers: 2 });
  const { hf, unscaled, inference, training } = logitsOf(dir, "llama", true);
  assertClose(t, "inference decoder", inference, hf);
  assertClose(t, "training decoder", training, hf);
  // The test has power: plain RoPE at the same theta moves transformers' logits by far more than the bound.
  const { diff, scale } = maxDiff(unscaled!, hf);
  t.diagnostic(
    `without rope_scaling transformers moves by ${diff.toExponential(2)} (${(diff / scale).toExponential(2)} of max |logit|)`,
  );
  assert.ok(diff > 5 * tol * scale, `rope_scaling changes the logits by only ${diff}`);
});
