import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { gradcheck, uniformArray } from "../../test/support/gradcheck.ts";
import { tinyConfig } from "../../test/support/tinyConfig.ts";
import type { Tape } from "../engine/autograd.ts";
import type { Batch } from "../engine/batch.ts";
import { decoderOptimizer, trainStep } from "../engine/step.ts";
import { Decoder } from "../model/forward.ts";
import { loadModelFolder } from "../model/hfFolder.ts";
import { loadModelOrAdapter, mergeAdapters, readAdapterFolder } from "../model/loraFolder.ts";
import { type Model, randomModel } from "../model/model.ts";
import { loadPretrained } from "../model/pretrained.ts";
import { readSafetensors } from "../model/safetensors.ts";
import { TrainableDecoder } from "../model/trainable.ts";
import { adaptersFromFolder, createAdapters, loraModules, parseLoraSpec } from "./lora.ts";
import { train } from "./train.ts";

const cli = fileURLToPath(new URL("../cli.ts", import.meta.url));
const distill = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", cli, ...args], { encoding: "utf8" });
const tmp = () => mkdtempSync(path.join(tmpdir(), "distill-lora-"));

function batchOf(B: number, T: number, vocab: number, seed: number): Batch {
  const ids = Int32Array.from(uniformArray(B * (T + 1), seed), (u) => Math.floor(((u + 1) / 2) * vocab));
  const tokens = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    tokens.set(ids.subarray(b * (T + 1), b * (T + 1) + T), b * T);
    targets.set(ids.subarray(b * (T + 1) + 1, b * (T + 1) + T + 1), b * T);
  }
  return { batch: B, time: T, tokens, targets };
}

/** Adapters with B filled in (fresh ones have B = 0, which hides mistakes in A's path). */
function liveAdapters(model: Model, spec: string, seed: number) {
  const adapters = createAdapters(model, parseLoraSpec(spec), seed);
  let i = 0;
  for (const { B } of adapters.pairs.values()) B.data.set(uniformArray(B.size, 100 + i++, 0.3));
  return adapters;
}

const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const maxGap = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe("--lora specs", () => {
  it("reads every setting, the targets list up to the next key, and defaults the rest", () => {
    assert.deepEqual(parseLoraSpec("r=8,targets=q_proj,v_proj,dropout=0.1"), {
      r: 8,
      alpha: 16,
      dropout: 0.1,
      targets: ["q_proj", "v_proj"],
    });
    assert.deepEqual(parseLoraSpec(true), { r: 16, alpha: 32, dropout: 0, targets: loraModules });
    assert.deepEqual(parseLoraSpec("alpha=8,targets=all").targets, loraModules);
  });
  it("refuses unknown keys, bad numbers and modules that are not linear layers, naming the flag", () => {
    for (const [spec, message] of [
      ["rank=4", /unknown LoRA setting "rank"/],
      ["r=0", /LoRA r=0 must be a positive integer/],
      ["dropout=1", /LoRA dropout=1 must be in \[0, 1\)/],
      ["targets=q_proj,lm_head", /LoRA target "lm_head" is not one of q_proj/],
      ["r=4,r=8", /given twice/],
      ["16", /"16" is not key=value/],
    ] as const)
      assert.throws(
        () => parseLoraSpec(spec),
        (e: Error) => message.test(e.message) && /field "lora"/.test(e.message),
      );
  });
});

describe("the decoder with adapters", () => {
  const model = randomModel(tinyConfig("qwen2", { vocab_size: 31, num_hidden_layers: 1 }), {
    seed: 5,
    std: 0.3,
  });

  it("starts as the base model exactly (B = 0) and leaves the base weights frozen", () => {
    const batch = batchOf(1, 9, 31, 1);
    const base = new TrainableDecoder(model).logits(batch);
    const adapters = createAdapters(model, parseLoraSpec("r=4"), 0);
    const dec = new TrainableDecoder(model, adapters);
    assert.deepEqual(dec.logits(batch), base);
    assert.equal(adapters.pairs.size, 7);
    const { A } = adapters.pairs.get("model.layers.0.self_attn.q_proj")!;
    const bound = 1 / Math.sqrt(64); // kaiming-uniform(a=√5) over 64 inputs
    assert.ok(maxAbs(A.data) <= bound && maxAbs(A.data) > 0.9 * bound);
  });

  it("finite differences agree with the gradients of every A and B (bias, q/k/v, o, MLP)", () => {
    const dec = new TrainableDecoder(model, liveAdapters(model, "r=2,alpha=3", 2));
    const batch = { ...batchOf(2, 5, 31, 9), weights: new Float32Array([1, 1, 0, 1, 1, 0, 0, 1, 1, 1]) };
    const lora = [...dec.params].filter(([n]) => n.includes(".lora_")).map(([, t]) => t);
    assert.equal(lora.length, 14);
    const r = gradcheck((g: Tape) => dec.forwardLoss(g, batch), lora, { maxPerInput: 6 });
    assert.ok(r.worst <= 1, `${r.detail} (worst ${r.worst.toFixed(2)})`);
  });

  it("a train step gives gradients and optimizer state to A and B only, and changes no base weight", () => {
    const before = new Map([...model.params].map(([n, t]) => [n, t.data.slice()]));
    const dec = new TrainableDecoder(model, liveAdapters(model, "r=4,targets=v_proj,down_proj", 3));
    const opt = decoderOptimizer(dec, { lr: 1e-2 });
    const loss0 = trainStep(dec, opt, [batchOf(2, 8, 31, 4)]).loss;
    for (const [name, t] of dec.params) assert.equal(t.grad !== null, name.includes(".lora_"), name);
    assert.deepEqual([...opt.state.m.keys()].sort(), [
      "model.layers.0.mlp.down_proj.lora_A.weight",
      "model.layers.0.mlp.down_proj.lora_B.weight",
      "model.layers.0.self_attn.v_proj.lora_A.weight",
      "model.layers.0.self_attn.v_proj.lora_B.weight",
    ]);
    for (const [name, data] of before) assert.deepEqual(model.params.get(name)!.data, data, name);
    for (let s = 0; s < 5; s++) trainStep(dec, opt, [batchOf(2, 8, 31, 4)]);
    assert.ok(dec.loss(batchOf(2, 8, 31, 4)) < loss0, "the adapters learn");
  });

  it("merged (W + scale·B·A) gives the inference decoder the adapted decoder's logits", () => {
    const adapters = liveAdapters(model, "r=3,alpha=5", 4);
    const batch = batchOf(1, 12, 31, 5);
    const adapted = new TrainableDecoder(model, adapters).logits(batch);
    const pairs = new Map(
      [...adapters.pairs].map(([m, { A, B }]) => [
        m,
        { A: { shape: [...A.shape], data: A.data }, B: { shape: [...B.shape], data: B.data } },
      ]),
    );
    const merged = mergeAdapters(model, { pairs, scale: 5 / 3, dir: "test" });
    const plain = new Decoder(merged).logits([...batch.tokens]);
    assert.ok(maxGap(plain, adapted) <= 1e-4 * maxAbs(adapted), `gap ${maxGap(plain, adapted)}`);
    assert.ok(maxGap(new Decoder(model).logits([...batch.tokens]), adapted) > 1e-2, "the adapter matters");
  });
});

describe("distill train --lora", () => {
  const dir = tmp();
  const data = path.join(dir, "train.jsonl");
  const rows = Array.from({ length: 40 }, (_, i) => ({
    messages: [
      { role: "user", content: `What is ${i} + ${i % 7}?` },
      { role: "assistant", content: `${i} + ${i % 7} = ${i + (i % 7)}` },
    ],
  }));
  writeFileSync(data, rows.map((r) => JSON.stringify(r)).join("\n"));
  const base = path.join(dir, "base");
  const small = "new:1m?vocab=300&hidden=32&layers=2&heads=2&kvHeads=1&ffn=64&context=64";
  const common = { data, context: 64, batchTokens: 128, quiet: true };

  it("writes a PEFT adapter folder, leaves the base alone, and resumes onto the same curve", async () => {
    await train({ ...common, init: small, epochs: 1, out: base });
    const baseBytes = readFileSync(path.join(base, "model.safetensors"));
    const spec = "r=4,alpha=8,dropout=0.1,targets=q_proj,v_proj,down_proj";
    const run = distill(
      "train",
      "--data",
      data,
      "--init",
      base,
      "--out",
      path.join(dir, "a"),
      "--lora",
      spec,
      "--epochs",
      "2",
      "--context",
      "64",
      "--batch-tokens",
      "128",
      "--lr",
      "1e-2",
      "--seed",
      "3",
      "--quiet",
    );
    assert.equal(run.status, 0, run.stderr);
    const a = path.join(dir, "a");
    assert.ok(readFileSync(path.join(base, "model.safetensors")).equals(baseBytes));
    assert.ok(!existsSync(path.join(a, "model.safetensors")) && existsSync(path.join(a, "tokenizer.json")));
    const config = JSON.parse(readFileSync(path.join(a, "adapter_config.json"), "utf8"));
    assert.deepEqual(
      [config.peft_type, config.r, config.lora_alpha, config.lora_dropout, config.target_modules],
      ["LORA", 4, 8, 0.1, ["q_proj", "v_proj", "down_proj"]],
    );
    assert.equal(config.base_model_name_or_path, path.resolve(base));
    const { tensors } = readSafetensors(path.join(a, "adapter_model.safetensors"));
    assert.equal(tensors.size, 12);
    assert.deepEqual(
      tensors.get("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight")!.shape,
      [4, 32],
    );
    assert.deepEqual(
      tensors.get("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight")!.shape,
      [32, 4],
    );
    assert.ok(maxAbs(tensors.get("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight")!.data) > 0);

    // the same run stopped after 3 steps and resumed lands on the same adapters
    const options = { ...common, init: base, epochs: 2, lr: 1e-2, seed: 3, lora: spec, checkpointEvery: 2 };
    const b = path.join(dir, "b");
    let steps = 0;
    await train({ ...options, out: b }, { shouldStop: () => steps++ >= 3 });
    assert.ok(existsSync(path.join(b, "checkpoint", "adapter_config.json")));
    await train({ ...options, out: b, resume: true });
    const lossesOf = (d: string) =>
      readFileSync(path.join(d, "metrics.jsonl"), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l).loss ?? JSON.parse(l).val_loss);
    assert.deepEqual(lossesOf(b), lossesOf(a));
    assert.deepEqual(
      readSafetensors(path.join(b, "adapter_model.safetensors")).tensors,
      readSafetensors(path.join(a, "adapter_model.safetensors")).tensors,
    );
  });

  it("export --merge-lora writes a plain folder with base + adapter's logits; eval loads the adapter folder", async () => {
    const a = path.join(dir, "a");
    const merged = path.join(dir, "merged");
    const run = distill(
      "export",
      "--model",
      a,
      "--merge-lora",
      "--format",
      "safetensors",
      "--dtype",
      "f32",
      "--out",
      merged,
      "--quiet",
    );
    assert.equal(run.status, 0, run.stderr);
    const ids = [...batchOf(1, 20, 260, 6).tokens];
    const fromExport = new Decoder(loadModelFolder(merged)).logits(ids);
    const baseModel = loadModelFolder(base);
    const adapters = adaptersFromFolder(readAdapterFolder(a), baseModel, 0); // as a resumed run reads them
    const adapted = new TrainableDecoder(baseModel, adapters).logits({
      batch: 1,
      time: 20,
      tokens: Int32Array.from(ids),
    });
    assert.ok(maxGap(fromExport, adapted) <= 1e-4 * maxAbs(adapted), `gap ${maxGap(fromExport, adapted)}`);
    assert.ok(
      maxGap(new Decoder(loadModelFolder(base)).logits(ids), adapted) > 1e-3,
      "training moved the adapter",
    );
    assert.ok(existsSync(path.join(merged, "tokenizer.json")));
    // what eval and serve load for a model folder: the adapter merged onto its base
    assert.deepEqual(new Decoder(loadModelOrAdapter(a).model).logits(ids), fromExport);
    const pretrained = loadPretrained(a);
    assert.deepEqual(pretrained.decoder.logits(ids), fromExport);
    assert.deepEqual(pretrained.stopTokens, loadPretrained(merged).stopTokens);
  });

  it("refuses an adapter folder whose base is gone, a plain export of an adapter, and --lora on new:", () => {
    const a = path.join(dir, "a");
    const plain = distill("export", "--model", a, "--format", "safetensors", "--out", path.join(dir, "x"));
    assert.equal(plain.status, 2);
    assert.match(plain.stderr, /^distill: .*is a LoRA adapter folder: add --merge-lora.*\n$/);
    const fresh = distill("train", "--data", data, "--init", small, "--out", path.join(dir, "n"), "--lora");
    assert.equal(fresh.status, 2);
    assert.match(fresh.stderr, /^distill: .*--lora adapts a pretrained model/);
    renameSync(base, `${base}-moved`);
    try {
      const gone = distill(
        "export",
        "--model",
        a,
        "--merge-lora",
        "--format",
        "safetensors",
        "--out",
        path.join(dir, "y"),
      );
      assert.equal(gone.status, 2);
      assert.match(gone.stderr, /^distill: .*adapter_config.json: base model ".*base" not found/);
      assert.equal(gone.stderr.split("\n").length, 2, gone.stderr);
    } finally {
      renameSync(`${base}-moved`, base);
    }
  });
});
