import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { getLlama, LlamaLogLevel, type Token } from "node-llama-cpp";
import { writeTinyGgufModel } from "../../test/support/tinyGguf.ts";
import { logSoftmax } from "./forward.ts";
import { exportGgufFromFolder } from "./ggufExport.ts";
import { readGguf } from "./ggufFormat.ts";
import { chatPromptIds, generateChat, generateChatBatch, loadPretrained } from "./pretrained.ts";

const root = mkdtempSync(join(tmpdir(), "distill-pretrained-"));
after(() => rmSync(root, { recursive: true, force: true }));
const tiny = writeTinyGgufModel(join(root, "m"), { arch: "qwen2", seed: 5 });

test("loadPretrained reads the HF folder and chats through its ChatML template", () => {
  const p = loadPretrained(tiny.dir);
  // config.json's eos (the tokenizer's eos, <|im_end|>), then ChatML's end of text
  assert.deepEqual(p.stopTokens, [tiny.model.config.eos_token_id, p.tokenizer.tokenToId("<|endoftext|>")]);
  assert.equal(p.tokenizer.idToToken(p.stopTokens[0]), "<|im_end|>");
  const messages = [{ role: "user", content: "Solve for x: 2x + 3 = 7" }];
  const ids = chatPromptIds(p, messages);
  assert.equal(
    p.tokenizer.decode(ids),
    "<|im_start|>user\nSolve for x: 2x + 3 = 7<|im_end|>\n<|im_start|>assistant\n",
  );
  const r = generateChat(p, messages, { maxTokens: 12 });
  assert.equal(r.promptTokens, ids.length);
  assert.equal(r.text, p.tokenizer.decode(r.finishReason === "stop" ? r.tokens.slice(0, -1) : r.tokens));
  const batch = generateChatBatch(p, [messages, [{ role: "user", content: "Hi" }]], {
    maxTokens: 12,
    batchSize: 2,
  });
  assert.equal(batch[0].text, r.text);
});

test("exporting the folder gives the same GGUF; an F16 export stays close to the F32 model in llama.cpp", async (t) => {
  const again = join(root, "again.gguf");
  exportGgufFromFolder(tiny.dir, again, { name: "tiny-qwen2" });
  assert.ok(readFileSync(again).equals(readFileSync(tiny.ggufPath)));

  const f16Path = join(root, "f16.gguf");
  const size = exportGgufFromFolder(tiny.dir, f16Path, { f16: true });
  assert.ok(size < readFileSync(tiny.ggufPath).length * 0.6);
  assert.equal(readGguf(f16Path).tensors.get("blk.0.attn_q.weight")!.type, 1);
  assert.equal(readGguf(f16Path).tensors.get("blk.0.attn_q.bias")!.type, 0);
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: f16Path });
  const ctx = await model.createContext({ contextSize: 128, threads: 1, flashAttention: false });
  const tokens = Array.from({ length: 32 }, (_, i) => (i * 13 + 5) % 500);
  const res = await ctx
    .getSequence()
    .controlledEvaluate(tokens.map((t) => [t as Token, { generateNext: { probabilities: true } }] as const));
  const p = loadPretrained(tiny.dir);
  const V = tiny.model.config.vocab_size;
  const logits = p.decoder.logits(tokens);
  let max = 0;
  for (let pos = 0; pos < tokens.length; pos++) {
    const ours = logSoftmax(logits.subarray(pos * V, (pos + 1) * V));
    const probs = res[pos]!.next.probabilities!;
    for (let i = 0; i < V; i++) max = Math.max(max, Math.abs(ours[i] - Math.log(probs.get(i as Token)!)));
  }
  t.diagnostic(`F16 GGUF vs F32 TS forward: max |Δ logprob| = ${max.toExponential(2)}`);
  assert.ok(max < 0.05 && max > 1e-5, `F16 max |Δ logprob| ${max}`);
  await model.dispose();
  await llama.dispose();
});
