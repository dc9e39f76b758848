import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { writeTinyGgufModel } from "../../test/support/tinyGguf.ts";
import { loadTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import { modelDims } from "./config.ts";
import { Decoder } from "./forward.ts";
import { loadModelFolder, saveModelFolder } from "./hfFolder.ts";
import { readSafetensors, writeSafetensors } from "./safetensors.ts";
import { loadStopTokens } from "./stopTokens.ts";
import { TrainableDecoder } from "./trainable.ts";

/**
 * A tiny Qwen3 checkpoint exactly as transformers 5.18 saved it (test/fixtures/transformers5/
 * make_fixtures.py): bfloat16, three shards and an index, tied embeddings with no lm_head in the files,
 * θ = 1,000,000 in `rope_parameters`, generation_config.json with eos [95, 96], and the logits
 * transformers computed for `tokens`.
 */
const checkpoint = fileURLToPath(
  new URL("../../test/fixtures/transformers5/qwen3-tied-bf16-sharded/", import.meta.url),
);
const expected = JSON.parse(readFileSync(join(checkpoint, "expected.json"), "utf8")) as {
  tokens: number[];
  logits: number[][];
};
const root = mkdtempSync(join(tmpdir(), "distill-hffolder-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** Max |Δ| between logits (T·V, row-major) and transformers' (T rows of V). */
function gapToTransformers(logits: Float32Array): number {
  const V = expected.logits[0]!.length;
  let max = 0;
  expected.logits.forEach((row, t) => {
    row.forEach((x, v) => {
      max = Math.max(max, Math.abs(x - logits[t * V + v]!));
    });
  });
  return max;
}

test("a transformers 5 checkpoint (bf16, sharded, tied, rope_parameters) gives transformers' logits in both decoders", () => {
  const model = loadModelFolder(checkpoint);
  assert.equal(modelDims(model.config).rope.theta, 1000000);
  assert.equal(model.params.has("lm_head.weight"), false);
  const inference = new Decoder(model).logits(expected.tokens);
  const T = expected.tokens.length;
  const training = new TrainableDecoder(model).logits({
    batch: 1,
    time: T,
    tokens: Int32Array.from(expected.tokens),
  });
  const gap = gapToTransformers(inference);
  assert.ok(gap < 5e-5, `inference decoder vs transformers: max |Δlogit| ${gap}`);
  assert.ok(
    gapToTransformers(training) < 5e-5,
    `training decoder vs transformers: ${gapToTransformers(training)}`,
  );
  // θ = 10,000 (what an ignored rope_parameters used to mean) is far off: the check above can fail
  const config = { ...model.config, rope_parameters: { rope_type: "default", rope_theta: 10000 } };
  assert.ok(gapToTransformers(new Decoder({ ...model, config }).logits(expected.tokens)) > 100 * gap + 1e-3);
});

test("stop tokens: config.json's eos and generation_config.json's list, then the tokenizer's markers", () => {
  const model = loadModelFolder(checkpoint);
  assert.deepEqual(loadStopTokens(checkpoint, model.config), [95, 96]);

  const tiny = writeTinyGgufModel(join(root, "tiny"), { arch: "qwen2", seed: 2 });
  const tokenizer = loadTokenizer(tiny.dir);
  const imEnd = tokenizer.tokenToId("<|im_end|>")!;
  const endOfText = tokenizer.tokenToId("<|endoftext|>")!;
  writeFileSync(join(tiny.dir, "generation_config.json"), JSON.stringify({ eos_token_id: [7, imEnd] }));
  assert.deepEqual(loadStopTokens(tiny.dir, tiny.model.config, tokenizer), [imEnd, 7, endOfText]);
  writeFileSync(join(tiny.dir, "generation_config.json"), JSON.stringify({ eos_token_id: [7, 1e9] }));
  assert.throws(
    () => loadStopTokens(tiny.dir, tiny.model.config, tokenizer),
    (e: unknown) =>
      e instanceof UserError &&
      /generation_config\.json.*field "eos_token_id".*1000000000 is not a token id/.test(e.message),
  );
});

test("tied checkpoints: lm_head alone in the file serves as the embeddings; untied without lm_head is refused", () => {
  const source = loadModelFolder(checkpoint);
  const dir = join(root, "head-only");
  saveModelFolder(dir, source);
  const file = join(dir, "model.safetensors");
  const tensors = readSafetensors(file).tensors;
  tensors.set("lm_head.weight", tensors.get("model.embed_tokens.weight")!);
  tensors.delete("model.embed_tokens.weight");
  writeSafetensors(file, tensors);
  const headOnly = loadModelFolder(dir);
  assert.deepEqual(
    new Decoder(headOnly).logits(expected.tokens.slice(0, 4)),
    new Decoder(source).logits(expected.tokens.slice(0, 4)),
  );

  const untied = join(root, "untied");
  cpSync(checkpoint, untied, { recursive: true });
  const config = JSON.parse(readFileSync(join(untied, "config.json"), "utf8"));
  writeFileSync(join(untied, "config.json"), JSON.stringify({ ...config, tie_word_embeddings: false }));
  assert.throws(
    () => loadModelFolder(untied),
    (e: unknown) => e instanceof UserError && /missing tensor "lm_head.weight"/.test(e.message),
  );
});

test("a shard index naming a path outside the folder or no file is refused with the tensor named", () => {
  const dir = join(root, "bad-index");
  cpSync(checkpoint, dir, { recursive: true });
  const indexPath = join(dir, "model.safetensors.index.json");
  const index = JSON.parse(readFileSync(indexPath, "utf8"));
  for (const shard of ["../model-00001-of-00003.safetensors", 3]) {
    index.weight_map["model.norm.weight"] = shard;
    writeFileSync(indexPath, JSON.stringify(index));
    assert.throws(
      () => loadModelFolder(dir),
      (e: unknown) =>
        e instanceof UserError && /field "weight_map".*tensor "model.norm.weight" names/.test(e.message),
    );
  }
  rmSync(join(dir, "model-00002-of-00003.safetensors"));
  index.weight_map["model.norm.weight"] = "model-00003-of-00003.safetensors";
  writeFileSync(indexPath, JSON.stringify(index));
  assert.throws(
    () => loadModelFolder(dir),
    (e: unknown) => e instanceof UserError && /model-00002-of-00003\.safetensors/.test(e.message),
  );
});

test("saving a transformers 5 config keeps its `dtype` in step with the weights written", () => {
  const dir = join(root, "resaved");
  saveModelFolder(dir, loadModelFolder(checkpoint));
  const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  assert.deepEqual([config.dtype, config.torch_dtype], ["float32", "float32"]);
  assert.deepEqual(config.rope_parameters, { rope_theta: 1000000, rope_type: "default" });
  assert.equal("rope_theta" in config, false);
});

test("distill export: a config.json with a RoPE type it does not implement is one line naming the field, exit 2", () => {
  const dir = join(root, "yarn");
  cpSync(checkpoint, dir, { recursive: true });
  const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  config.rope_parameters = { rope_type: "yarn", rope_theta: 1000000, factor: 4 };
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  const cli = fileURLToPath(new URL("../cli.ts", import.meta.url));
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", cli, "export", "--model", dir, "--format", "gguf", "--out", join(root, "yarn-out")],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /^distill: .*config\.json.*rope_parameters\.rope_type.*"yarn" is not supported/);
});
