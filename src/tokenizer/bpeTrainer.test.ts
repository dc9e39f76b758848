import assert from "node:assert/strict";
import { test } from "node:test";
import { trainBpeTokenizer } from "./bpeTrainer.ts";
import { TextTokenizer } from "./tokenizer.ts";

const syllables = ["ka", "lo", "mi", "tre", "son", "va", "ped", "ur", "gli", "zam", "bor", "qui", "nex"];

/** A small corpus in the shape of the demo's data: equations solved step by step. */
function corpus(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = (i % 9) + 2;
    const x = (i * 7) % 23;
    const b = (i * 13) % 50;
    out.push(
      `<|im_start|>user\nSolve for x: ${a}x + ${b} = ${a * x + b}<|im_end|>\n<|im_start|>assistant\n` +
        `<think>\nSubtract ${b} from both sides: ${a}x = ${a * x}. Divide both sides by ${a}: x = ${x}.\n</think>\n` +
        `<answer>x = ${x}</answer><|im_end|>\n`,
    );
    // Pseudo-words give the corpus enough distinct pairs to fill a 512-token vocabulary.
    out.push(
      Array.from({ length: 8 }, (_, j) => syllables[(i * 3 + j) % 11] + syllables[(i + j * j) % 13]).join(
        " ",
      ),
    );
  }
  return out;
}

const trained = trainBpeTokenizer(corpus(300), { vocabSize: 512 });
const tok = new TextTokenizer(trained.tokenizerJson, trained.tokenizerConfig);

test("the trained tokenizer has the requested size and the special tokens at the end", () => {
  assert.equal(trained.vocabSize, 512);
  assert.equal(tok.vocabSize, 512);
  assert.equal(tok.tokenToId("<|endoftext|>"), 505);
  assert.equal(tok.tokenToId("<|im_start|>"), 506);
  assert.equal(tok.tokenToId("<|im_end|>"), 507);
  assert.equal(tok.tokenToId("<think>"), 508);
  assert.equal(tok.tokenToId("</answer>"), 511);
  assert.equal(tok.eosTokenId, 507);
  assert.deepEqual(tok.specialTokenIds.sort(), [505, 506, 507]);
});

test("it encodes with @huggingface/tokenizers: round trip, whole words merged, numbers digit by digit", () => {
  const text = "<|im_start|>user\nSolve for x: 12x + 345 = 9876<|im_end|>\nÜber ✓ tabs\tand  spaces";
  assert.equal(tok.decode(tok.encode(text)), text);
  const ids = tok.encode(" both sides 2024");
  const pieces = ids.map((id) => tok.decode([id]));
  assert.deepEqual(pieces, [" both", " sides", " ", "2", "0", "2", "4"]);
  assert.deepEqual(tok.encode("<think>"), [508]);
  assert.equal(tok.decode(tok.encode("<|im_end|>x"), { skipSpecialTokens: true }), "x");
  assert.equal(tok.decode([]), ""); // an answer of no tokens
  // Markers stay visible when special tokens are skipped (they are not "special", like Qwen's <think>).
  assert.equal(tok.decode(tok.encode("<think>y</think>"), { skipSpecialTokens: true }), "<think>y</think>");
});

test("training is deterministic and the chat template is ChatML", () => {
  const again = trainBpeTokenizer(corpus(300), { vocabSize: 512 });
  assert.deepEqual(again.tokenizerJson, trained.tokenizerJson);
  assert.equal(
    tok.applyChatTemplate([{ role: "user", content: "2+2?" }], { addGenerationPrompt: true }),
    "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n",
  );
  // A corpus too small for the target stops early instead of inventing merges.
  const small = trainBpeTokenizer(["ab ab ab"], { vocabSize: 1024 });
  assert.ok(small.vocabSize < 300);
});
