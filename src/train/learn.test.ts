import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { evaluate } from "../evaluate/evaluate.ts";
import { renderChatSample } from "../template/render.ts";
import { hashSeed, pick, seededRandom } from "../util/random.ts";
import { train } from "./train.ts";

/**
 * Does training teach? A tiny student learns a template task — copy a made-up word into the reasoning
 * and the answer — from 1,000 samples, and answers words it never saw. Before training it gets none
 * right (it does not even know the template); after ~30 seconds of CPU it gets most of them.
 */
const syllables = ["ka", "lo", "mi", "tre", "son", "va", "ped", "ur", "gli", "zam", "bor", "qui"];

function words(count: number, seed: number, avoid = new Set<string>()): string[] {
  const random = seededRandom(hashSeed("copy-words", seed));
  const out = new Set<string>();
  while (out.size < count) {
    const w = `${pick(random, syllables)}${pick(random, syllables)}${pick(random, syllables)}`;
    if (!avoid.has(w)) out.add(w);
  }
  return [...out];
}

describe("a trained student beats its untrained self", () => {
  it("copies held-out words through the template", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "distill-learn-"));
    const trainWords = words(1000, 1);
    const testWords = words(40, 2, new Set(trainWords));
    const prompt = (w: string) => `Repeat the word ${w}`;
    const rows = trainWords.map((w) =>
      JSON.stringify({
        messages: renderChatSample({ prompt: prompt(w), reasoning: `The word is ${w}.`, answer: w }),
      }),
    );
    writeFileSync(path.join(dir, "train.jsonl"), `${rows.join("\n")}\n`);
    const benchmark = path.join(dir, "test.jsonl");
    writeFileSync(
      benchmark,
      `${testWords.map((w) => JSON.stringify({ prompt: prompt(w), answer: w })).join("\n")}\n`,
    );

    const common = {
      data: path.join(dir, "train.jsonl"),
      context: 128,
      batchTokens: 1024,
      seed: 1,
      quiet: true,
      checkpointEvery: 0,
    };
    const init = "new:1m?vocab=400&hidden=64&layers=2&heads=4&kvHeads=2&ffn=192&context=128";
    await train({ ...common, init, out: path.join(dir, "untrained"), epochs: 1, maxSteps: 1, lr: 1e-9 });
    await train({ ...common, init, out: path.join(dir, "trained"), epochs: 25, lr: 3e-3 });

    const score = (model: string) =>
      evaluate({
        model: path.join(dir, model),
        benchmark: `jsonl:${benchmark}`,
        out: path.join(dir, `eval-${model}`),
        maxTokens: 32,
        quiet: true,
      });
    const before = await score("untrained");
    const after = await score("trained");
    // measured on 2 cores: before 0%, after 90% of 40 held-out words (asserted: ≥ 60%)
    assert.equal(before.accuracy, 0);
    assert.ok(after.accuracy >= 0.6, `held-out accuracy after training ${after.accuracy}`);
    assert.ok(after.format_rate >= 0.9, `format rate ${after.format_rate}`);
  });
});
