import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { initParams, TrainableDecoder } from "../model/trainable.ts";
import { equationPrompt, generateEquations } from "../tasks/equations/generate.ts";
import { solveSteps } from "../tasks/equations/steps.ts";
import { renderChatSample } from "../template/render.ts";
import { loadTokenizer } from "../tokenizer/tokenizer.ts";
import { tokenizeConversation } from "./data.ts";
import { batchOf, packExamples } from "./pack.ts";
import { train } from "./train.ts";

/** The tensor entries of a .safetensors header (its __metadata__ left out). */
function safetensorsHeader(file: string): Record<string, { dtype: string }> {
  const bytes = readFileSync(file);
  const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString("utf8"));
  delete header.__metadata__;
  return header;
}

const tmp = () => mkdtempSync(path.join(tmpdir(), "distill-train-"));
const small = "new:1m?vocab=400&hidden=32&layers=1&heads=2&kvHeads=1&ffn=64&context=128";

/** Built-in equations solved step by step, as HF chat rows. */
function writeRows(file: string, count: number, seed = 1): void {
  const rows = generateEquations({ count, seed, bands: ["one-step"] }).map((p) => {
    const s = solveSteps(p.equation);
    return JSON.stringify({
      messages: renderChatSample({
        prompt: equationPrompt(p.equation),
        reasoning: s.lines.join("\n"),
        answer: s.answer,
      }),
    });
  });
  writeFileSync(file, `${rows.join("\n")}\n`);
}

const metricsOf = (dir: string) =>
  readFileSync(path.join(dir, "metrics.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe("distill train", () => {
  const dir = tmp();
  const data = path.join(dir, "train.jsonl");
  writeRows(data, 60);

  it("trains a new student, and a fixed seed reproduces the loss curve exactly", async () => {
    const options = { data, init: small, epochs: 2, context: 128, batchTokens: 256, seed: 3, quiet: true };
    const a = await train({ ...options, out: path.join(dir, "a") });
    const b = await train({ ...options, out: path.join(dir, "b") });
    const curveA = metricsOf(path.join(dir, "a")).map((m) => m.loss ?? m.val_loss);
    assert.ok(a.steps >= 8, `${a.steps} steps`);
    assert.deepEqual(
      metricsOf(path.join(dir, "b")).map((m) => m.loss ?? m.val_loss),
      curveA,
    );
    assert.ok(a.finalLoss < curveA[0] * 0.75, `loss ${curveA[0]} → ${a.finalLoss}`);
    assert.equal(b.finalLoss, a.finalLoss);
    // a different seed is a different run
    const c = await train({ ...options, seed: 4, out: path.join(dir, "c") });
    assert.notEqual(c.finalLoss, a.finalLoss);
  });

  for (const optimizerState of ["float32", "bfloat16"] as const)
    it(`resumes from a checkpoint onto exactly the same curve (AdamW moments in ${optimizerState})`, async () => {
      const options = {
        optimizerState,
        data,
        init: small,
        epochs: 2,
        context: 128,
        batchTokens: 512,
        seed: 5,
        quiet: true,
        checkpointEvery: 3,
      };
      const full = await train({ ...options, out: path.join(dir, `full-${optimizerState}`) });
      const out = path.join(dir, `stopped-${optimizerState}`);
      let steps = 0;
      const partial = await train({ ...options, out }, { shouldStop: () => steps++ >= 5 });
      assert.equal(partial.steps, 5);
      // the checkpoint holds the moments as the run keeps them: bf16 bits are written as they are
      const header = safetensorsHeader(path.join(out, "checkpoint", "optimizer.safetensors"));
      const dtypes = new Set(Object.values(header).map((e) => e.dtype));
      assert.deepEqual([...dtypes], [optimizerState === "bfloat16" ? "BF16" : "F32"]);
      const resumed = await train({ ...options, out, resume: true });
      assert.equal(resumed.steps, full.steps);
      assert.deepEqual(
        metricsOf(out),
        metricsOf(path.join(dir, `full-${optimizerState}`)).map((m, i) => ({
          ...m,
          ...(m.elapsed_s === undefined
            ? {}
            : { elapsed_s: metricsOf(out)[i].elapsed_s, tokens_per_s: metricsOf(out)[i].tokens_per_s }),
        })),
      );
    });

  it("puts loss on the assistant's tokens only: prompt tokens get no gradient", async () => {
    const tokenizer = loadTokenizer(path.join(dir, "a"));
    const messages = [
      { role: "user", content: "Solve for x: 3x = 12" },
      {
        role: "assistant",
        content: "<think>\nDivide both sides by 3: x = 12 / 3 = 4\n</think>\n<answer>x = 4</answer>",
      },
    ];
    const example = tokenizeConversation(messages, tokenizer);
    const trained = example.ids.filter((_, i) => example.mask[i] === 1);
    assert.equal(tokenizer.decode([...trained]), `${messages[1].content}<|im_end|>`);

    // change every target whose weight is 0 (prompt positions): loss and every gradient stay the same
    const model = initParams(JSON.parse(readFileSync(path.join(dir, "a/config.json"), "utf8")), 1);
    const packed = packExamples([example], [0], 128, 0);
    const batch = batchOf(packed, 0, 1);
    const grads = (targets: Int32Array) => {
      const decoder = new TrainableDecoder(structuredClone(model));
      const loss = decoder.lossAndGrad({ ...batch, targets });
      return { loss, grad: [...decoder.params.values()].map((p) => Array.from(p.grad ?? [])) };
    };
    const changed = Int32Array.from(batch.targets, (t, i) => (batch.weights![i] === 0 ? (t + 7) % 300 : t));
    assert.ok(changed.some((t, i) => t !== batch.targets[i]));
    assert.deepEqual(grads(changed), grads(batch.targets));
    // …while changing one assistant target does change them
    const answerAt = batch.weights!.indexOf(1);
    const other = Int32Array.from(batch.targets, (t, i) => (i === answerAt ? (t + 1) % 300 : t));
    assert.notDeepEqual(grads(other).loss, grads(batch.targets).loss);
  });

  it("packs examples without letting them see each other", () => {
    const a = { ids: Int32Array.from([1, 2, 3]), mask: Uint8Array.from([0, 1, 1]) };
    const b = { ids: Int32Array.from([4, 5]), mask: Uint8Array.from([0, 1]) };
    const p = packExamples([a, b], [0, 1, 0], 6, 0);
    assert.equal(p.rows, 2);
    assert.deepEqual([...p.tokens], [1, 2, 3, 4, 5, 0, 1, 2, 3, 0, 0, 0]);
    assert.deepEqual([...p.targets.slice(0, 6)], [2, 3, 0, 5, 0, 0]);
    assert.deepEqual([...p.weights.slice(0, 6)], [1, 1, 0, 1, 0, 0]);
    assert.equal(new Set(p.segments.slice(0, 5)).size, 2);
    assert.notEqual(p.segments[2], p.segments[3]);
  });

  it("names the file and line of a bad row", async () => {
    const bad = path.join(dir, "bad.jsonl");
    writeFileSync(
      bad,
      `${readFileSync(data, "utf8").split("\n")[0]}\n{"messages": [{"role": "user", "content": "hi"}]}\n`,
    );
    await assert.rejects(
      train({ data: bad, init: small, out: path.join(dir, "bad"), quiet: true }),
      /bad\.jsonl:2, field "messages"/,
    );
  });

  it("skips an empty validation.jsonl beside the data (a mix whose validation share rounded to no rows)", async () => {
    const mixed = tmp();
    writeRows(path.join(mixed, "train.jsonl"), 20);
    writeFileSync(path.join(mixed, "validation.jsonl"), "");
    const options = { init: small, context: 128, batchTokens: 256, maxSteps: 1, quiet: true };
    const summary = await train({
      ...options,
      data: path.join(mixed, "train.jsonl"),
      out: path.join(mixed, "m"),
    });
    assert.equal(summary.validationLoss, null);
    // named explicitly, an empty file is still an error
    await assert.rejects(
      train({
        ...options,
        data: path.join(mixed, "train.jsonl"),
        validation: path.join(mixed, "validation.jsonl"),
        out: path.join(mixed, "n"),
      }),
      /validation\.jsonl.*no chat rows/,
    );
  });

  it("trains in a fresh process, and a user's mistake there comes back as the same message", async () => {
    const { trainIsolated } = await import("./isolated.ts");
    const summary = await trainIsolated({
      data,
      init: small,
      context: 128,
      batchTokens: 256,
      maxSteps: 2,
      quiet: true,
      out: path.join(dir, "iso"),
    });
    assert.equal(summary.steps, 2);
    assert.ok(readFileSync(path.join(dir, "iso", "model.safetensors")).length > 0);
    const bad = path.join(dir, "bad-iso.jsonl");
    writeFileSync(bad, '{"messages": []}\n');
    await assert.rejects(
      trainIsolated({ data: bad, init: small, out: path.join(dir, "bad-iso"), quiet: true }),
      (err: Error) => err.name === "UserError" && /bad-iso\.jsonl:1/.test(err.message),
    );
  });
});
