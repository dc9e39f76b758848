import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { copyWordsStudent, writeCopyWordsTask } from "../../test/support/copyWords.ts";
import { evaluate } from "../evaluate/evaluate.ts";
import { train } from "./train.ts";

/**
 * Does training teach? A tiny student learns a template task — copy a made-up word into the reasoning
 * and the answer — from 1,000 samples, and answers words it never saw. Before training it gets none
 * right (it does not even know the template); after ~30 seconds of CPU it gets most of them.
 */
describe("a trained student beats its untrained self", () => {
  it("copies held-out words through the template", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "distill-learn-"));
    const { train: data, benchmark } = writeCopyWordsTask(dir);
    const common = {
      data,
      context: 128,
      batchTokens: 1024,
      seed: 1,
      quiet: true,
      checkpointEvery: 0,
    };
    const init = copyWordsStudent;
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
