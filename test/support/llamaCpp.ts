/**
 * llama.cpp (node-llama-cpp, CPU) as a reference: its next-token distribution after every token of a
 * sequence, the thing GGUF parity and quantization are judged by.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before } from "node:test";
import { getLlama, type Llama, LlamaLogLevel, type Token } from "node-llama-cpp";

/**
 * llama.cpp's next-token log-probabilities after each of `tokens`, (T, V), and its greedy continuation
 * (24 tokens) of the first 16. F32 KV cache and no flash attention: both default to F16 arithmetic on
 * CPU, which alone moves log-probabilities by ~5e-3.
 */
export async function llamaLogProbs(llama: Llama, path: string, tokens: number[], V: number) {
  const model = await llama.loadModel({ modelPath: path });
  const ctx = await model.createContext({
    contextSize: 256,
    threads: 1,
    flashAttention: false,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
  });
  const seq = ctx.getSequence();
  const res = await seq.controlledEvaluate(
    tokens.map((t) => [t as Token, { generateNext: { probabilities: true } }] as const),
  );
  const logProbs = res.map((r) => {
    const probs = r?.next.probabilities;
    assert.ok(probs && probs.size === V, "llama.cpp returned the whole distribution");
    return Float64Array.from({ length: V }, (_, i) => Math.log(probs.get(i as Token) ?? 0));
  });
  await seq.clearHistory();
  const greedy: number[] = [];
  for await (const t of seq.evaluate(tokens.slice(0, 16) as Token[], { temperature: 0 })) {
    greedy.push(t);
    if (greedy.length === 24) break;
  }
  await model.dispose();
  return { logProbs, greedy };
}

/** Mean over positions of KL(p ‖ q) in nats, from log-probabilities (T, V) of the same tokens. */
export function meanKl(p: Float64Array[], q: Float64Array[]): number {
  let sum = 0;
  p.forEach((lp, t) => {
    const lq = q[t];
    for (let i = 0; i < lp.length; i++) if (lp[i] > -Infinity) sum += Math.exp(lp[i]) * (lp[i] - lq[i]);
  });
  return sum / p.length;
}

/**
 * llama.cpp (CPU, the prebuilt binaries, errors only) for one test file: loaded before its tests and
 * disposed after them, together with the file's temporary folder. Call the result inside a test.
 */
export function llamaForTests(tempRoot: string): () => Llama {
  let llama: Llama | undefined;
  before(async () => {
    llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  });
  after(async () => {
    await llama?.dispose();
    rmSync(tempRoot, { recursive: true, force: true });
  });
  return () => {
    if (!llama) throw new Error("llama.cpp loads in before(): call this inside a test");
    return llama;
  };
}
